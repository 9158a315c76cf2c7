// Per-ISA matmul entry points (declarations only; see matmul.h for the contract).
#ifndef DETINFER_KERNELS_MATMUL_ISA_H_
#define DETINFER_KERNELS_MATMUL_ISA_H_

#include <cstddef>
#include <cstdint>

#include "core/dtype_id.h"

namespace detinfer::kernels {


struct MatmulArgs {
  // [M, K], row stride ldx. For bf16 weights, the activations already rounded to bf16
  // (matmul_bf16.h step 1): as f32 values, or on the avx512bf16 path as [M, ceil(K/2)] pairs
  // (uint32: bf16 of k = 2j in the high half, of k = 2j + 1 in the low half, or 0 past K).
  const float* x;
  int64_t ldx;
  int64_t m, k, n;
  // Packed panels: panel p, element (k, j) at (p * K + k) * 16 + j. Or a slice of them
  // (w_rows != 0): panels from w_p0 on, k rows [w_k0, w_k0 + w_rows) of each, element (k, j) of
  // panel p at ((p - w_p0) * w_rows + k - w_k0) * 16 + j (the widened copy of matmul_tile.h).
  const void* w;
  DType w_dtype;
  const float* bias;   // [N] or null
  float* y;            // [M, N], row stride ldy
  int64_t ldy;
  // How far ahead of each panel stream a decode tile (whole K in one block) prefetches, in
  // bytes; 0: not at all. A hint: the speed changes, never a bit (kernels/cpu_tuning.h).
  size_t prefetch_bytes = 0;
  int64_t w_p0 = 0, w_k0 = 0, w_rows = 0;
};

// Computes y rows [m0, m1) for the output columns of panels [p0, p1).
#define DETINFER_DECLARE_MATMUL(ns) \
  namespace ns { void MatmulTile(const MatmulArgs& a, int64_t m0, int64_t m1, int64_t p0, int64_t p1); }
DETINFER_DECLARE_MATMUL(scalar)
DETINFER_DECLARE_MATMUL(avx2)
DETINFER_DECLARE_MATMUL(avx512)
DETINFER_DECLARE_MATMUL(neon)
DETINFER_DECLARE_MATMUL(avx512bf16)
#undef DETINFER_DECLARE_MATMUL


}  // namespace detinfer::kernels

#endif  // DETINFER_KERNELS_MATMUL_ISA_H_
