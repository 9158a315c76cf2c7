// RoPE, portable scalar path: the reference the SIMD paths reproduce bit for bit.
#include <cstdint>

#include "kernels/rope_isa.h"

namespace detinfer::kernels::scalar {

namespace {

// One pair, in the documented order: two rounded products, then one rounded sub / add.
// (-ffp-contract=off keeps the compiler from fusing these into FMAs.)
inline void Rotate(float* a, float* b, float c, float s) {
  const float x0 = *a, x1 = *b;
  *a = x0 * c - x1 * s;
  *b = x0 * s + x1 * c;
}

}  // namespace

void RopeHeads(float* x, int64_t head_stride, int64_t num_heads, int64_t rotary_dim,
               const float* cos_row, const float* sin_row, int style) {
  const int64_t half = rotary_dim / 2;
  for (int64_t h = 0; h < num_heads; ++h) {
    float* v = x + h * head_stride;
    if (style == kRopeInterleaved) {
      for (int64_t i = 0; i < half; ++i) Rotate(v + 2 * i, v + 2 * i + 1, cos_row[i], sin_row[i]);
    } else {
      for (int64_t i = 0; i < half; ++i) Rotate(v + i, v + i + half, cos_row[i], sin_row[i]);
    }
  }
}

}  // namespace detinfer::kernels::scalar
