// NEON SwiGLU (aarch64): the sequence of activation.h on 4 lanes; the tail is one zero-padded
// vector whose padding lanes are never stored.
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "kernels/activation_isa.h"
#include "kernels/simd/math_neon.h"

namespace detinfer::kernels::neon {

namespace {

inline float32x4_t SwiGlu4(float32x4_t a, float32x4_t u) {
  namespace nm = neon_math;
  const float32x4_t e = nm::Exp4(vnegq_f32(a));  // -a: exact sign flip
  const float32x4_t den = vaddq_f32(vdupq_n_f32(1.0f), e);
  float32x4_t s = vdivq_f32(a, den);
  s = vbslq_f32(vceqq_f32(a, vdupq_n_f32(-__builtin_inff())), vdupq_n_f32(-0.0f), s);
  const float32x4_t v = vmulq_f32(s, u);
  return vbslq_f32(nm::IsNan4(v), nm::Bits4(0x7fc00000u), v);
}

}  // namespace

void SwiGluRows(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride,
                float* out, int64_t out_stride, int64_t f, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = gate + r * gate_stride;
    const float* u = up + r * up_stride;
    float* o = out + r * out_stride;
    int64_t i = 0;
    for (; i + 4 <= f; i += 4) vst1q_f32(o + i, SwiGlu4(vld1q_f32(g + i), vld1q_f32(u + i)));
    if (i < f) {
      neon_math::StoreTail4(o + i, f - i, SwiGlu4(neon_math::LoadTail4(g + i, f - i),
                                                  neon_math::LoadTail4(u + i, f - i)));
    }
  }
}

}  // namespace detinfer::kernels::neon
