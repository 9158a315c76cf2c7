// Raw-pointer entry points of RMSNorm, one per ISA path (declarations only: included by the
// per-ISA translation units, see cmake/Flags.cmake). Validation happens in rms_norm.cc.
//
// RmsNormRows normalises `rows` rows of length d. Row r starts at x + r * x_stride and is
// written to out + r * out_stride (out may equal x; then x_stride must equal out_stride).
// `weight` holds d elements of dtype weight_dtype (f32, bf16 or f16).
// Every path computes the same bits; see rms_norm.h for the order of operations.
#ifndef DETINFER_KERNELS_RMS_NORM_ISA_H_
#define DETINFER_KERNELS_RMS_NORM_ISA_H_

#include <cstdint>

#include "core/dtype_id.h"

namespace detinfer::kernels {

namespace scalar {
void RmsNormRows(const float* x, int64_t x_stride, const void* weight, DType weight_dtype,
                 int64_t d, float eps, float* out, int64_t out_stride, int64_t rows);
}  // namespace scalar

namespace avx2 {
void RmsNormRows(const float* x, int64_t x_stride, const void* weight, DType weight_dtype,
                 int64_t d, float eps, float* out, int64_t out_stride, int64_t rows);
}  // namespace avx2

namespace avx512 {
void RmsNormRows(const float* x, int64_t x_stride, const void* weight, DType weight_dtype,
                 int64_t d, float eps, float* out, int64_t out_stride, int64_t rows);
}  // namespace avx512

namespace neon {
void RmsNormRows(const float* x, int64_t x_stride, const void* weight, DType weight_dtype,
                 int64_t d, float eps, float* out, int64_t out_stride, int64_t rows);
}  // namespace neon

}  // namespace detinfer::kernels

#endif  // DETINFER_KERNELS_RMS_NORM_ISA_H_
