// Per-ISA entry points of the block-format matmul (declarations only; the contract is in
// kernels/qmatmul.h, the packed layout in kernels/simd/qmatmul_layout.h).
#ifndef DETINFER_KERNELS_QMATMUL_ISA_H_
#define DETINFER_KERNELS_QMATMUL_ISA_H_

#include <cstddef>
#include <cstdint>

#include "core/dtype_id.h"

namespace detinfer::kernels {

struct QMatmulArgs {
  const int8_t* xq;   // [M, K] activations quantised per 32 k (qmatmul.h), row stride ldq
  const float* xd;    // [M, K/32] their scales, row stride ldd
  const int32_t* xs;  // [M, K/16] sums of xq over each 16 k, row stride lds
  int64_t ldq, ldd, lds;
  int64_t m, k, n;
  DType w_dtype;
  const uint8_t* w;   // packed panels, panel p at w + p * panel_bytes
  size_t panel_bytes;
  const float* bias;  // [N] or null
  float* y;           // [M, N], row stride ldy
  int64_t ldy;
  // How far ahead of its panel stream a tile prefetches, in bytes (0: not at all). A hint: it
  // changes the speed, never a bit (kernels/cpu_tuning.h says who gets what).
  size_t prefetch_bytes = 0;
};

// QMatmulTile computes y rows [m0, m1) for the output columns of panels [p0, p1).
// QuantizeRows is step 1 of qmatmul.h for rows [r0, r1) of x (row stride ldx, k a multiple
// of 32) into q / dx / s16 with the QMatmulArgs strides (k, k/32, k/16): the same IEEE
// operations on every path (amax is exact; x * (127 / amax) rounds once; RNE to integer).
#define DETINFER_DECLARE_QMATMUL(ns)                                                          \
  namespace ns {                                                                              \
  void QMatmulTile(const QMatmulArgs& a, int64_t m0, int64_t m1, int64_t p0, int64_t p1);   \
  void QuantizeRows(const float* x, int64_t ldx, int64_t r0, int64_t r1, int64_t k, int8_t* q, \
                    float* dx, int32_t* s16);                                                 \
  }
DETINFER_DECLARE_QMATMUL(scalar)
DETINFER_DECLARE_QMATMUL(avx2)
DETINFER_DECLARE_QMATMUL(avx512)
DETINFER_DECLARE_QMATMUL(neon)
#undef DETINFER_DECLARE_QMATMUL
namespace avx512bf16 {  // the VNNI tile; activations are quantised by the avx512 loop
void QMatmulTile(const QMatmulArgs& a, int64_t m0, int64_t m1, int64_t p0, int64_t p1);
}

}  // namespace detinfer::kernels

#endif  // DETINFER_KERNELS_QMATMUL_ISA_H_
