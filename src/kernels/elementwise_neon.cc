// Elementwise ops, NEON path (aarch64): 4 lanes per step; the last < 4 elements go through one
// zero-padded vector (the same single IEEE operation per element; padding is never stored).
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "kernels/elementwise_isa.h"
#include "kernels/simd/math_neon.h"

namespace detinfer::kernels::neon {

namespace {

inline uint16x4_t LoadTail16(const uint16_t* src, int64_t count) {
  uint16_t t[4] = {0, 0, 0, 0};
  for (int64_t j = 0; j < count; ++j) t[j] = src[j];
  return vld1_u16(t);
}

// Exact: bf16 is the top half of an f32 (NaN payloads kept).
inline float32x4_t FromBF16(uint16x4_t h) { return vreinterpretq_f32_u32(vshll_n_u16(h, 16)); }
// FCVTL: exact, subnormal halves included (FPCR.FZ16 is off); a NaN comes out quiet with its
// payload, as vcvtph2ps and F16ToF32 give it.
inline float32x4_t FromF16(uint16x4_t h) { return vcvt_f32_f16(vreinterpret_f16_u16(h)); }

}  // namespace

void Add(const float* a, const float* b, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(out + i, vaddq_f32(vld1q_f32(a + i), vld1q_f32(b + i)));
  if (i < n) {
    neon_math::StoreTail4(out + i, n - i, vaddq_f32(neon_math::LoadTail4(a + i, n - i),
                                                    neon_math::LoadTail4(b + i, n - i)));
  }
}

void WidenBF16(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, FromBF16(vld1_u16(src + i)));
  if (i < n) neon_math::StoreTail4(dst + i, n - i, FromBF16(LoadTail16(src + i, n - i)));
}

void WidenF16(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, FromF16(vld1_u16(src + i)));
  if (i < n) neon_math::StoreTail4(dst + i, n - i, FromF16(LoadTail16(src + i, n - i)));
}

}  // namespace detinfer::kernels::neon
