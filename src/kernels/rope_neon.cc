// RoPE, NEON path (aarch64). Same products and sums as the scalar path, 4 pairs at a time
// (interleaved pairs split into even and odd lanes by vld2q); the last few pairs use the scalar
// formula (plain fp32 mul/sub/add: the same IEEE operations, no FMA).
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "kernels/rope_isa.h"

namespace detinfer::kernels::neon {

namespace {

inline void RotateScalar(float* a, float* b, float c, float s) {
  const float x0 = *a, x1 = *b;
  *a = x0 * c - x1 * s;
  *b = x0 * s + x1 * c;
}

// y0 = x0 c - x1 s, y1 = x0 s + x1 c on four pairs (two rounded products, one rounded sum).
inline void Rotate4(float32x4_t* x0, float32x4_t* x1, float32x4_t c, float32x4_t s) {
  const float32x4_t a = *x0, b = *x1;
  *x0 = vsubq_f32(vmulq_f32(a, c), vmulq_f32(b, s));
  *x1 = vaddq_f32(vmulq_f32(a, s), vmulq_f32(b, c));
}

}  // namespace

void RopeHeads(float* x, int64_t head_stride, int64_t num_heads, int64_t rotary_dim,
               const float* cos_row, const float* sin_row, int style) {
  const int64_t half = rotary_dim / 2;
  for (int64_t h = 0; h < num_heads; ++h) {
    float* v = x + h * head_stride;
    int64_t i = 0;
    if (style == kRopeInterleaved) {
      for (; i + 4 <= half; i += 4) {
        float32x4x2_t p = vld2q_f32(v + 2 * i);  // val[0]: x0 of 4 pairs, val[1]: their x1
        Rotate4(&p.val[0], &p.val[1], vld1q_f32(cos_row + i), vld1q_f32(sin_row + i));
        vst2q_f32(v + 2 * i, p);
      }
      for (; i < half; ++i) RotateScalar(v + 2 * i, v + 2 * i + 1, cos_row[i], sin_row[i]);
    } else {
      for (; i + 4 <= half; i += 4) {
        float32x4_t x0 = vld1q_f32(v + i), x1 = vld1q_f32(v + i + half);
        Rotate4(&x0, &x1, vld1q_f32(cos_row + i), vld1q_f32(sin_row + i));
        vst1q_f32(v + i, x0);
        vst1q_f32(v + i + half, x1);
      }
      for (; i < half; ++i) RotateScalar(v + i, v + i + half, cos_row[i], sin_row[i]);
    }
  }
}

}  // namespace detinfer::kernels::neon
