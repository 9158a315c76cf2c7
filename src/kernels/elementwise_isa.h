// Raw-pointer entry points of the elementwise ops, one per ISA path (declarations only:
// included by the per-ISA translation units, see cmake/Flags.cmake). Validation is in
// elementwise.cc.
//   Add:       out[i] = a[i] + b[i] for i < n (out may equal a or b).
//   WidenBF16: dst[i] = f32 with bits src[i] << 16 (exact).
//   WidenF16:  dst[i] = the f16 value src[i] as f32 (exact; a NaN comes out quiet, as
//              vcvtph2ps and core/dtype.h's F16ToF32 both produce it).
#ifndef DETINFER_KERNELS_ELEMENTWISE_ISA_H_
#define DETINFER_KERNELS_ELEMENTWISE_ISA_H_

#include <cstdint>

namespace detinfer::kernels {

namespace scalar {
void Add(const float* a, const float* b, float* out, int64_t n);
void WidenBF16(const uint16_t* src, float* dst, int64_t n);
void WidenF16(const uint16_t* src, float* dst, int64_t n);
}  // namespace scalar

namespace avx2 {
void Add(const float* a, const float* b, float* out, int64_t n);
void WidenBF16(const uint16_t* src, float* dst, int64_t n);
void WidenF16(const uint16_t* src, float* dst, int64_t n);
}  // namespace avx2

namespace avx512 {
void Add(const float* a, const float* b, float* out, int64_t n);
void WidenBF16(const uint16_t* src, float* dst, int64_t n);
void WidenF16(const uint16_t* src, float* dst, int64_t n);
}  // namespace avx512

namespace neon {
void Add(const float* a, const float* b, float* out, int64_t n);
void WidenBF16(const uint16_t* src, float* dst, int64_t n);
void WidenF16(const uint16_t* src, float* dst, int64_t n);
}  // namespace neon

}  // namespace detinfer::kernels

#endif  // DETINFER_KERNELS_ELEMENTWISE_ISA_H_
