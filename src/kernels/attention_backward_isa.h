// Raw-pointer vector primitives of AttentionBackward, one set per ISA path (declarations only:
// included by the per-ISA translation units, see cmake/Flags.cmake). attention_backward.cc
// validates operands, decides visibility and the loop order (attention_backward.h), and calls
// these for all arithmetic over D, so the paths can differ only here, and each of these
// returns identical bits on every path. Precondition: n is a multiple of 8 (D is validated).
#ifndef DETINFER_KERNELS_ATTENTION_BACKWARD_ISA_H_
#define DETINFER_KERNELS_ATTENTION_BACKWARD_ISA_H_

#include <cstdint>

#define DETINFER_ATTENTION_BACKWARD_KERNELS                                                  \
  /* Canonical 16-lane dot product (reduction_order.h): lane (e % 16) accumulates            \
     fma(a[e], b[e], lane) for e ascending, lanes start at +0, then TreeSum16. */             \
  float Dot(const float* a, const float* b, int64_t n);                                       \
  /* y[e] = fma(alpha, x[e], y[e]) for e in [0, n): independent per element. */               \
  void Axpy(float alpha, const float* x, float* y, int64_t n);                                \
  /* y[e] = y[e] * s for e in [0, n). */                                                      \
  void Scale(float s, float* y, int64_t n);

namespace detinfer::kernels::attention_backward {
namespace scalar { DETINFER_ATTENTION_BACKWARD_KERNELS }  // namespace scalar
namespace avx2 { DETINFER_ATTENTION_BACKWARD_KERNELS }    // namespace avx2
namespace avx512 { DETINFER_ATTENTION_BACKWARD_KERNELS }  // namespace avx512
}  // namespace detinfer::kernels::attention_backward

#undef DETINFER_ATTENTION_BACKWARD_KERNELS

#endif  // DETINFER_KERNELS_ATTENTION_BACKWARD_ISA_H_
