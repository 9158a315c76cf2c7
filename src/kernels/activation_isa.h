// Raw-pointer SwiGLU and GeGLU (tanh), one per ISA path (NEON runs the scalar GeGLU) (declarations only: included by the per-ISA translation
// units, see cmake/Flags.cmake). activation.cc validates operands; activation.h documents the
// operation order. `rows` rows of f elements; row r of each operand starts at ptr + r * stride.
#ifndef DETINFER_KERNELS_ACTIVATION_ISA_H_
#define DETINFER_KERNELS_ACTIVATION_ISA_H_

#include <cstdint>

#define DETINFER_ACTIVATION_KERNELS                                                     \
  void SwiGluRows(const float* gate, int64_t gate_stride, const float* up,              \
                  int64_t up_stride, float* out, int64_t out_stride, int64_t f, int64_t rows); \
  void GeGluTanhRows(const float* gate, int64_t gate_stride, const float* up,           \
                     int64_t up_stride, float* out, int64_t out_stride, int64_t f, int64_t rows);

namespace detinfer::kernels {
namespace scalar { DETINFER_ACTIVATION_KERNELS }  // namespace scalar
namespace avx2 { DETINFER_ACTIVATION_KERNELS }    // namespace avx2
namespace avx512 { DETINFER_ACTIVATION_KERNELS }  // namespace avx512
namespace neon { DETINFER_ACTIVATION_KERNELS }    // namespace neon
}  // namespace detinfer::kernels

#undef DETINFER_ACTIVATION_KERNELS

#endif  // DETINFER_KERNELS_ACTIVATION_ISA_H_
