// Matmul: Y[M,N] = X[M,K] · W[N,K]^T (+ bias[N]), the one reduction order of SPEC §K1.
//
// Reduction order (the whole contract of this op):
//     acc = +0.0f
//     for k = 0, 1, ..., K-1:  acc = fma(X[m,k], W[n,k], acc)      (fp32, one rounding each)
//     Y[m,n] = bias ? acc + bias[n] : acc
// Every output element is one sequential fused-multiply-add chain over k. Nothing in it
// depends on M, on which rows share the call, on the thread count, or on the vector width:
// SIMD lanes hold *different output columns* (never different k of one output), threads own
// different output tiles, and cache blocking over k stores the running fp32 accumulator and
// reloads it unchanged. So the scalar, AVX2 and AVX-512 paths agree bit for bit, and the
// decode shape (M = 1) and the prefill shape (M = 4096) compute every row identically.
//
// Weights are repacked once (PackedMatrix::Pack) into panels of 16 output columns with k
// running down the panel, in their stored dtype (f32, bf16 or f16; widening is exact). That
// layout is what lets lanes be columns while every load stays contiguous.
#ifndef DETINFER_KERNELS_MATMUL_H_
#define DETINFER_KERNELS_MATMUL_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/buffer.h"
#include "core/dtype.h"
#include "core/status.h"
#include "core/tensor.h"
#include "kernels/context.h"

namespace detinfer {

inline constexpr int64_t kMatmulPanelWidth = 16;

class PackedMatrix {
 public:
  PackedMatrix() = default;
  // Packs w [N, K] (f32, bf16 or f16, unit stride in K, any row stride) as stored: the
  // values are not converted, only reordered. Columns past N in the last panel are zero.
  // ctx picks the copy's ISA path and threads; the bytes written are the same whatever they
  // are (a copy has no arithmetic to reorder), they only change the speed.
  static Result<PackedMatrix> Pack(const TensorView& w, const KernelContext& ctx = {});
  // Packs the rows of several weights [N_i, K] (same K and dtype) as one [sum N_i, K] weight,
  // e.g. q/k/v projections as one matmul. Each output column keeps its own arithmetic, so
  // y[:, columns of part i] is bit-identical to a matmul with part i alone.
  static Result<PackedMatrix> PackRows(std::span<const TensorView> parts,
                                       const KernelContext& ctx = {});

  int64_t n() const { return n_; }
  int64_t k() const { return k_; }
  DType dtype() const { return dtype_; }
  int64_t num_panels() const { return (n_ + kMatmulPanelWidth - 1) / kMatmulPanelWidth; }
  const void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  // The stored value of W[n, k], widened to f32 (for tests and debugging).
  float At(int64_t n, int64_t k) const;

 private:
  friend class MatrixPacker;  // kernels/matmul_pack.h: packs many matrices into one block
  // Keeps the block the panels live in alive, shared by the matrices packed together: an
  // AlignedBuffer, or a read-only map of a packed-weight cache file (model/packed_cache.h).
  std::shared_ptr<const void> block_;
  const void* data_ = nullptr;
  size_t bytes_ = 0;
  int64_t n_ = 0, k_ = 0;
  DType dtype_ = DType::kF32;
};

// Several weights with the same K used as one output [sum N_i, K] whose parts may be stored in
// different formats (a K-quant mix keeps wv in Q6_K beside Q4_K wq/wk): consecutive parts of
// one dtype share a PackedMatrix ("run"). Every output column keeps its own arithmetic, so the
// columns are bit-identical to one matmul per part, and to PackRows when there is one run.
struct FusedMatrix {
  std::vector<PackedMatrix> runs;
  int64_t n() const;
};

// y [M, N] f32 = x [M, K] f32 · w^T (+ bias [N] f32 when bias is non-null).
// y must not overlap x or bias. Errors name the operand and both shapes.
Status Matmul(const KernelContext& ctx, const TensorView& x, const PackedMatrix& w,
              const TensorView* bias, const TensorView& y);
// The same over a fused weight: each run writes its columns of y (and reads its bias slice).
Status Matmul(const KernelContext& ctx, const TensorView& x, const FusedMatrix& w,
              const TensorView* bias, const TensorView& y);

namespace kernels {
struct CpuTuning;  // kernels/cpu_tuning.h
// Matmul (over a PackedMatrix) with the CPU-dependent speed choices given (Matmul passes
// ThisCpuTuning()): which bf16 loop the avx512bf16 path runs, and the decode prefetch distances.
// None changes a bit; tests pass each machine's choices to every machine.
Status MatmulTuned(const KernelContext& ctx, const TensorView& x, const PackedMatrix& w,
                   const TensorView* bias, const TensorView& y, const CpuTuning& tuning);

// The split of an [M rows x panels] output into ParallelFor tasks of rows_per_task x
// panels_per_task; tile(m0, m1, p0, p1) computes one. It decides who computes which outputs,
// never how (matmul.h, qmatmul.h).
template <typename Tile>
void ParallelTiles(const KernelContext& ctx, int64_t m, int64_t panels, int64_t rows_per_task,
                   int64_t panels_per_task, const Tile& tile) {
  const int64_t row_tasks = (m + rows_per_task - 1) / rows_per_task;
  const int64_t panel_tasks = (panels + panels_per_task - 1) / panels_per_task;
  ctx.ParallelFor(row_tasks * panel_tasks, [&](int64_t t) {
    const int64_t rt = t / panel_tasks, pt = t % panel_tasks;
    const int64_t m0 = rt * rows_per_task, m1 = m0 + rows_per_task < m ? m0 + rows_per_task : m;
    const int64_t p0 = pt * panels_per_task;
    const int64_t p1 = p0 + panels_per_task < panels ? p0 + panels_per_task : panels;
    tile(m0, m1, p0, p1);
  });
}
}  // namespace kernels

}  // namespace detinfer

#endif  // DETINFER_KERNELS_MATMUL_H_
