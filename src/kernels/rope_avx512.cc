// RoPE, AVX-512 path. Same products and sums as the scalar path, 16 lanes at a time.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/rope_isa.h"

namespace detinfer::kernels::avx512 {

namespace {

// Zero-masked forms with an all-ones mask: the plain _mm512_permute_ps/_mm512_permutexvar_ps
// trip GCC 12's -Wmaybe-uninitialized (they are built on _mm512_undefined_ps); same bits.
constexpr __mmask16 kAll16 = static_cast<__mmask16>(0xffff);

inline __mmask16 LowMask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

// Rotate-half: x0 = v[i..], x1 = v[i+half..]; lanes outside m are neither read nor written.
inline void RotateHalfBlock(float* v, int64_t i, int64_t half, const float* cr, const float* sr,
                            __mmask16 m) {
  const __m512 x0 = _mm512_maskz_loadu_ps(m, v + i);
  const __m512 x1 = _mm512_maskz_loadu_ps(m, v + i + half);
  const __m512 c = _mm512_maskz_loadu_ps(m, cr + i);
  const __m512 s = _mm512_maskz_loadu_ps(m, sr + i);
  const __m512 y0 = _mm512_sub_ps(_mm512_mul_ps(x0, c), _mm512_mul_ps(x1, s));
  const __m512 y1 = _mm512_add_ps(_mm512_mul_ps(x0, s), _mm512_mul_ps(x1, c));
  _mm512_mask_storeu_ps(v + i, m, y0);
  _mm512_mask_storeu_ps(v + i + half, m, y1);
}

// Interleaved: 8 pairs (x0, x1) at v[2i..2i+16). With cc = (c_k, c_k) and ss = (s_k, s_k) per
// pair and w = v with each pair swapped, p = v*cc = (x0 c, x1 c), q = w*ss = (x1 s, x0 s);
// even lanes take p - q = x0 c - x1 s, odd lanes p + q = x1 c + x0 s: the scalar formulas
// (addition commutes exactly). `pairs_mask` selects the valid pairs of cos/sin.
inline void InterleavedBlock(float* v, const float* cr, const float* sr, __mmask16 pairs_mask,
                             __mmask16 lane_mask) {
  const __m512i dup = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  const __m512 cc = _mm512_maskz_permutexvar_ps(kAll16, dup, _mm512_maskz_loadu_ps(pairs_mask, cr));
  const __m512 ss = _mm512_maskz_permutexvar_ps(kAll16, dup, _mm512_maskz_loadu_ps(pairs_mask, sr));
  const __m512 x = _mm512_maskz_loadu_ps(lane_mask, v);
  const __m512 w = _mm512_maskz_permute_ps(kAll16, x, 0xB1);  // swap within each pair
  const __m512 p = _mm512_mul_ps(x, cc);
  const __m512 q = _mm512_mul_ps(w, ss);
  const __m512 y = _mm512_mask_sub_ps(_mm512_add_ps(p, q), static_cast<__mmask16>(0x5555), p, q);
  _mm512_mask_storeu_ps(v, lane_mask, y);
}

}  // namespace

void RopeHeads(float* x, int64_t head_stride, int64_t num_heads, int64_t rotary_dim,
               const float* cos_row, const float* sin_row, int style) {
  const int64_t half = rotary_dim / 2;
  for (int64_t h = 0; h < num_heads; ++h) {
    float* v = x + h * head_stride;
    if (style == kRopeInterleaved) {
      int64_t i = 0;  // pair index
      for (; i + 8 <= half; i += 8) {
        InterleavedBlock(v + 2 * i, cos_row + i, sin_row + i, LowMask(8), kAll16);
      }
      if (i < half) {
        const int64_t n = half - i;
        InterleavedBlock(v + 2 * i, cos_row + i, sin_row + i, LowMask(n), LowMask(2 * n));
      }
    } else {
      int64_t i = 0;
      for (; i + 16 <= half; i += 16) RotateHalfBlock(v, i, half, cos_row, sin_row, kAll16);
      if (i < half) RotateHalfBlock(v, i, half, cos_row, sin_row, LowMask(half - i));
    }
  }
}

}  // namespace detinfer::kernels::avx512
