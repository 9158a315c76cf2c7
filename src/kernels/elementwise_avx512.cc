// Elementwise ops, AVX-512 path (16 lanes, masked tails: no element is read or written past n).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/elementwise_isa.h"

namespace detinfer::kernels::avx512 {

namespace {

// Zero-masked forms with an all-ones mask: GCC 12 reports -Wmaybe-uninitialized inside the
// plain _mm512_cvtph_ps / _mm512_cvtepu16_epi32 / _mm512_slli_epi32; same instructions.
constexpr __mmask16 kAll16 = static_cast<__mmask16>(0xffff);

inline __mmask16 LowMask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

inline __m512 BF16x16(__m256i h) {
  return _mm512_castsi512_ps(
      _mm512_maskz_slli_epi32(kAll16, _mm512_maskz_cvtepu16_epi32(kAll16, h), 16));
}

}  // namespace

void Add(const float* a, const float* b, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(out + i, _mm512_add_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
  }
  if (i < n) {
    const __mmask16 m = LowMask(n - i);
    _mm512_mask_storeu_ps(out + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i),
                                                    _mm512_maskz_loadu_ps(m, b + i)));
  }
}

void WidenBF16(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(dst + i, BF16x16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
  }
  if (i < n) {
    const __mmask16 m = LowMask(n - i);
    _mm512_mask_storeu_ps(dst + i, m, BF16x16(_mm256_maskz_loadu_epi16(m, src + i)));
  }
}

void WidenF16(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    _mm512_storeu_ps(dst + i, _mm512_maskz_cvtph_ps(kAll16, h));
  }
  if (i < n) {
    const __mmask16 m = LowMask(n - i);
    _mm512_mask_storeu_ps(dst + i, m, _mm512_maskz_cvtph_ps(kAll16, _mm256_maskz_loadu_epi16(m, src + i)));
  }
}

}  // namespace detinfer::kernels::avx512
