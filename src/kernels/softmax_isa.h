// Raw-pointer row kernels of the softmax family, one set per ISA path (declarations only:
// included by the per-ISA translation units, see cmake/Flags.cmake). softmax.cc validates
// operands, splits rows across threads and combines these per row; softmax.h documents the
// formulas. Every path returns identical bits.
#ifndef DETINFER_KERNELS_SOFTMAX_ISA_H_
#define DETINFER_KERNELS_SOFTMAX_ISA_H_

#include <cstdint>

#define DETINFER_SOFTMAX_ROW_KERNELS                                                         \
  /* Canonical 16-lane max of x[0, n) (lanes start at -Inf, combine a > b ? a : b). */        \
  float RowMax(const float* x, int64_t n);                                                    \
  /* Canonical 16-lane sum (lanes start at +0) of e_j = exp(d_j), d_j = x_j == m ? +0 :       \
     x_j - m. If e_out is not null, e_j is also written to e_out[j] (e_out may be x). */      \
  float RowSumExp(const float* x, int64_t n, float m, float* e_out);                          \
  /* out_j = d_j - log_s (out may be x). */                                                   \
  void LogSoftmaxRow(const float* x, int64_t n, float m, float log_s, float* out);            \
  /* out_j = e_j / s (out may be e). */                                                       \
  void DivideRow(const float* e, int64_t n, float s, float* out);                             \
  /* Index of the first NaN if any, else the lowest index j with x_j == max. n >= 1. */       \
  int64_t ArgmaxRow(const float* x, int64_t n);

namespace detinfer::kernels {
namespace scalar { DETINFER_SOFTMAX_ROW_KERNELS }  // namespace scalar
namespace avx2 { DETINFER_SOFTMAX_ROW_KERNELS }    // namespace avx2
namespace avx512 { DETINFER_SOFTMAX_ROW_KERNELS }  // namespace avx512
namespace neon { DETINFER_SOFTMAX_ROW_KERNELS }    // namespace neon
}  // namespace detinfer::kernels

#undef DETINFER_SOFTMAX_ROW_KERNELS

#endif  // DETINFER_KERNELS_SOFTMAX_ISA_H_
