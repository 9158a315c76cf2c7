// Per-ISA tile kernels of the matmul backward (declarations only; matmul_backward.h states the
// contract). Both gradients are the same computation, a row-by-column "chain":
//
//   out[r, c] = (accumulate ? out[r, c] : +0), then for s = 0 .. steps-1:
//               out[r, c] = fma(a[r * a_row_stride + s * a_step_stride], b[s * ldb + c], out[r, c])
//
// dx: r = m, c = k, s = n, a = dy (row stride ldy, step 1), b = w.
// dw: r = n, c = k, s = m, a = dy (row stride 1, step ldy), b = x, accumulate.
#ifndef DETINFER_KERNELS_MATMUL_BACKWARD_ISA_H_
#define DETINFER_KERNELS_MATMUL_BACKWARD_ISA_H_

#include <cstdint>

namespace detinfer::kernels {

struct ChainArgs {
  const float* a;
  int64_t a_row_stride, a_step_stride;
  const float* b;  // [steps, cols], row stride ldb, unit column stride
  int64_t ldb;
  float* out;      // [rows, cols], row stride ldo
  int64_t ldo;
  int64_t rows, cols, steps;
  bool accumulate;
};

// Computes out rows [r0, r1) x columns [c0, c1), each element's whole chain.
#define DETINFER_DECLARE_CHAIN(ns) \
  namespace ns { void ChainTile(const ChainArgs& a, int64_t r0, int64_t r1, int64_t c0, int64_t c1); }
DETINFER_DECLARE_CHAIN(scalar)
DETINFER_DECLARE_CHAIN(avx2)
DETINFER_DECLARE_CHAIN(avx512)
#undef DETINFER_DECLARE_CHAIN

}  // namespace detinfer::kernels

#endif  // DETINFER_KERNELS_MATMUL_BACKWARD_ISA_H_
