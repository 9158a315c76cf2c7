// Raw-pointer entry points of the elementwise exp/log ops, one per ISA path (declarations
// only: included by the per-ISA translation units, see cmake/Flags.cmake). Validation is in
// math.cc. `rows` rows of n elements; row r starts at x + r * x_stride and goes to
// out + r * out_stride (out may equal x, then with equal strides).
#ifndef DETINFER_KERNELS_MATH_ISA_H_
#define DETINFER_KERNELS_MATH_ISA_H_

#include <cstdint>

namespace detinfer::kernels {

namespace scalar {
void ExpRows(const float* x, int64_t x_stride, float* out, int64_t out_stride, int64_t n,
             int64_t rows);
void LogRows(const float* x, int64_t x_stride, float* out, int64_t out_stride, int64_t n,
             int64_t rows);
}  // namespace scalar

namespace avx2 {
void ExpRows(const float* x, int64_t x_stride, float* out, int64_t out_stride, int64_t n,
             int64_t rows);
void LogRows(const float* x, int64_t x_stride, float* out, int64_t out_stride, int64_t n,
             int64_t rows);
}  // namespace avx2

namespace avx512 {
void ExpRows(const float* x, int64_t x_stride, float* out, int64_t out_stride, int64_t n,
             int64_t rows);
void LogRows(const float* x, int64_t x_stride, float* out, int64_t out_stride, int64_t n,
             int64_t rows);
}  // namespace avx512

namespace neon {
void ExpRows(const float* x, int64_t x_stride, float* out, int64_t out_stride, int64_t n,
             int64_t rows);
void LogRows(const float* x, int64_t x_stride, float* out, int64_t out_stride, int64_t n,
             int64_t rows);
}  // namespace neon

}  // namespace detinfer::kernels

#endif  // DETINFER_KERNELS_MATH_ISA_H_
