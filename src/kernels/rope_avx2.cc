// RoPE, AVX2 path. Same products and sums as the scalar path, 8 lanes at a time; the last
// few pairs use the scalar formula (plain fp32 mul/sub/add: the same IEEE operations).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/rope_isa.h"

namespace detinfer::kernels::avx2 {

namespace {

inline void RotateScalar(float* a, float* b, float c, float s) {
  const float x0 = *a, x1 = *b;
  *a = x0 * c - x1 * s;
  *b = x0 * s + x1 * c;
}

}  // namespace

void RopeHeads(float* x, int64_t head_stride, int64_t num_heads, int64_t rotary_dim,
               const float* cos_row, const float* sin_row, int style) {
  const int64_t half = rotary_dim / 2;
  const __m256i dup = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
  for (int64_t h = 0; h < num_heads; ++h) {
    float* v = x + h * head_stride;
    int64_t i = 0;
    if (style == kRopeInterleaved) {
      // 4 pairs per register. p = v*cc = (x0 c, x1 c), q = swap(v)*ss = (x1 s, x0 s);
      // addsub gives p - q in even lanes (x0 c - x1 s) and p + q in odd lanes (x1 c + x0 s,
      // equal to the scalar x0 s + x1 c since addition commutes exactly).
      for (; i + 4 <= half; i += 4) {
        const __m256 cc = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(cos_row + i)), dup);
        const __m256 ss = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(sin_row + i)), dup);
        const __m256 xv = _mm256_loadu_ps(v + 2 * i);
        const __m256 p = _mm256_mul_ps(xv, cc);
        const __m256 q = _mm256_mul_ps(_mm256_permute_ps(xv, 0xB1), ss);
        _mm256_storeu_ps(v + 2 * i, _mm256_addsub_ps(p, q));
      }
      for (; i < half; ++i) RotateScalar(v + 2 * i, v + 2 * i + 1, cos_row[i], sin_row[i]);
    } else {
      for (; i + 8 <= half; i += 8) {
        const __m256 x0 = _mm256_loadu_ps(v + i), x1 = _mm256_loadu_ps(v + i + half);
        const __m256 c = _mm256_loadu_ps(cos_row + i), s = _mm256_loadu_ps(sin_row + i);
        _mm256_storeu_ps(v + i, _mm256_sub_ps(_mm256_mul_ps(x0, c), _mm256_mul_ps(x1, s)));
        _mm256_storeu_ps(v + i + half, _mm256_add_ps(_mm256_mul_ps(x0, s), _mm256_mul_ps(x1, c)));
      }
      for (; i < half; ++i) RotateScalar(v + i, v + i + half, cos_row[i], sin_row[i]);
    }
  }
}

}  // namespace detinfer::kernels::avx2
