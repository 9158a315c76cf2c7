// Matmul validation and the split into tasks (weight packing: matmul_pack.cc).
#include "kernels/matmul.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "kernels/cpu_tuning.h"
#include "kernels/matmul_bf16.h"
#include "kernels/matmul_isa.h"
#include "kernels/operand_checks.h"
#include "kernels/qmatmul.h"
#include "kernels/registry.h"

namespace detinfer {

namespace {

// A task is a block of rows x a block of panels. The split only decides who computes which
// outputs; see matmul.h for why it cannot change any bit.
constexpr int64_t kRowsPerTask = 96;
constexpr int64_t kPanelsPerTask = 8;

// Step 1 of matmul_bf16.h for rows [r0, r1): each activation rounded to bf16, written as the
// f32 it stands for, or (paired, the avx512bf16 path's layout: MatmulArgs::x) two per uint32.
void RoundActivationsToBf16(const float* x, int64_t ldx, int64_t r0, int64_t r1, int64_t k,
                            bool paired, float* out, int64_t ld_out) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * ldx;
    float* o = out + r * ld_out;
    if (!paired) {
      for (int64_t i = 0; i < k; ++i) {
        const uint32_t u = static_cast<uint32_t>(kernels::Bf16Activation(xr[i])) << 16;
        std::memcpy(o + i, &u, 4);
      }
      continue;
    }
    for (int64_t j = 0; 2 * j < k; ++j) {
      const uint32_t hi = kernels::Bf16Activation(xr[2 * j]);
      const uint32_t lo = 2 * j + 1 < k ? kernels::Bf16Activation(xr[2 * j + 1]) : 0u;
      const uint32_t u = hi << 16 | lo;
      std::memcpy(o + j, &u, 4);
    }
  }
}

}  // namespace

Status Matmul(const KernelContext& ctx, const TensorView& x, const PackedMatrix& w,
              const TensorView* bias, const TensorView& y) {
  return kernels::MatmulTuned(ctx, x, w, bias, y, kernels::ThisCpuTuning());
}

Status kernels::MatmulTuned(const KernelContext& ctx, const TensorView& x, const PackedMatrix& w,
                            const TensorView* bias, const TensorView& y, const CpuTuning& tuning) {
  DETINFER_RETURN_IF_ERROR(CheckTensor(x, "matmul: x", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(y, "matmul: y", 2, DType::kF32));
  const int64_t m = x.shape[0], k = x.shape[1], n = w.n();
  if (k != w.k()) {
    return Status::InvalidArgument("matmul: x is " + x.ShapeString() + " (K=" +
                                   std::to_string(k) + ") but the weight is [" +
                                   std::to_string(w.n()) + ", " + std::to_string(w.k()) + "] (K=" +
                                   std::to_string(w.k()) + ")");
  }
  if (y.shape[0] != m || y.shape[1] != n) {
    return Status::InvalidArgument("matmul: y is " + y.ShapeString() + " but must be [" +
                                   std::to_string(m) + ", " + std::to_string(n) + "] f32 for x " +
                                   x.ShapeString() + " and weight [" + std::to_string(n) + ", " +
                                   std::to_string(k) + "]");
  }
  if (bias != nullptr) {
    DETINFER_RETURN_IF_ERROR(CheckTensor(*bias, "matmul: bias", 1, DType::kF32));
    if (bias->shape[0] != n) {
      return Status::InvalidArgument("matmul: bias is " + bias->ShapeString() + " but N=" +
                                     std::to_string(n));
    }
    if (kernels::Overlaps(y, *bias)) {
      return Status::InvalidArgument("matmul: y overlaps bias");
    }
  }
  if (kernels::Overlaps(y, x)) {
    return Status::InvalidArgument("matmul: y overlaps x");
  }
  if (m == 0 || n == 0) return Status::Ok();
  if (k > 0 && w.data() == nullptr) return Status::InvalidArgument("matmul: weight is empty");

  if (IsQuantised(w.dtype())) return kernels::QuantMatmul(ctx, x, w, bias, y, tuning);
  static const auto kRegistry =
      CpuOpRegistry("matmul", &kernels::scalar::MatmulTile DETINFER_SIMD_PATHS_BF16(
                                         &kernels::avx2::MatmulTile, &kernels::avx512::MatmulTile,
                                         &kernels::avx512bf16::MatmulTile,
                                         &kernels::neon::MatmulTile));
  DETINFER_ASSIGN_OR_RETURN(auto tile, kRegistry.For(Device::kCpu, ctx.isa));
  const float* xa = x.as<const float>();
  int64_t ldx = x.stride[0];
  std::unique_ptr<float[]> rounded;
  if (w.dtype() == DType::kBF16) {  // matmul_bf16.h step 1, row by row
    // vdpbf16ps or the avx512 path's flushed FMA loop: the same bits, whichever is faster here.
    const bool paired = ctx.isa == Isa::kAvx512Bf16 && tuning.bf16_pairs;
    if (ctx.isa == Isa::kAvx512Bf16 && !paired) {
      DETINFER_ASSIGN_OR_RETURN(tile, kRegistry.For(Device::kCpu, Isa::kAvx512));
    }
    const int64_t ld = paired ? (k + 1) / 2 : k;
    rounded = std::make_unique_for_overwrite<float[]>(static_cast<size_t>(m * ld));
    const int64_t rows = std::max<int64_t>(1, 16384 / std::max<int64_t>(k, 1));
    ctx.ParallelFor((m + rows - 1) / rows, [&](int64_t t) {
      RoundActivationsToBf16(xa, ldx, t * rows, std::min(m, (t + 1) * rows), k, paired,
                             rounded.get(), ld);
    });
    xa = rounded.get();
    ldx = ld;
  }
  const kernels::MatmulArgs args{xa, ldx, m, k, n, w.data(), w.dtype(),
                                 bias ? bias->as<const float>() : nullptr,
                                 y.as<float>(), y.stride[0],
                                 kernels::DensePrefetchBytes(tuning, ctx.isa, w.dtype(), m)};
  kernels::ParallelTiles(ctx, m, w.num_panels(), kRowsPerTask, kPanelsPerTask,
                         [&](int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
                           tile(args, m0, m1, p0, p1);
                         });
  return Status::Ok();
}

int64_t FusedMatrix::n() const {
  int64_t n = 0;
  for (const PackedMatrix& r : runs) n += r.n();
  return n;
}

Status Matmul(const KernelContext& ctx, const TensorView& x, const FusedMatrix& w,
              const TensorView* bias, const TensorView& y) {
  if (w.runs.size() == 1) return Matmul(ctx, x, w.runs[0], bias, y);
  DETINFER_RETURN_IF_ERROR(CheckTensor(y, "matmul: y", 2, DType::kF32));
  if (y.shape[1] != w.n()) {
    return Status::InvalidArgument("matmul: y is " + y.ShapeString() + " but the fused weight has " +
                                   std::to_string(w.n()) + " columns");
  }
  if (bias != nullptr) {
    DETINFER_RETURN_IF_ERROR(CheckTensor(*bias, "matmul: bias", 1, DType::kF32));
    if (bias->shape[0] != w.n()) {
      return Status::InvalidArgument("matmul: bias is " + bias->ShapeString() + " but N=" +
                                     std::to_string(w.n()));
    }
  }
  int64_t col = 0;
  for (const PackedMatrix& r : w.runs) {
    TensorView ys = y, bs;
    ys.data = y.as<float>() + col;
    ys.shape[1] = r.n();
    if (bias != nullptr) {
      bs = *bias;
      bs.data = bias->as<float>() + col;
      bs.shape[0] = r.n();
    }
    DETINFER_RETURN_IF_ERROR(Matmul(ctx, x, r, bias != nullptr ? &bs : nullptr, ys));
    col += r.n();
  }
  return Status::Ok();
}

}  // namespace detinfer
