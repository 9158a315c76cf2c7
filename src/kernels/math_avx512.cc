// AVX-512 path of the elementwise Exp/Log ops. Full vectors of 16, then one masked vector for
// the tail: inactive lanes load 0 and are never stored, so a tail element's bits are those of
// the same element in a full vector (each lane's arithmetic depends only on its own input).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/math_isa.h"
#include "kernels/simd/math_avx512.h"

namespace detinfer::kernels::avx512 {

namespace {

template <__m512 (*F)(__m512)>
void MapRows(const float* x, int64_t x_stride, float* out, int64_t out_stride, int64_t n,
             int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * x_stride;
    float* orow = out + r * out_stride;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(orow + i, F(_mm512_loadu_ps(xr + i)));
    if (i < n) {
      const __mmask16 mask = avx512_math::TailMask16(n - i);
      _mm512_mask_storeu_ps(orow + i, mask, F(_mm512_maskz_loadu_ps(mask, xr + i)));
    }
  }
}

}  // namespace

void ExpRows(const float* x, int64_t x_stride, float* out, int64_t out_stride, int64_t n,
             int64_t rows) {
  MapRows<avx512_math::Exp16>(x, x_stride, out, out_stride, n, rows);
}

void LogRows(const float* x, int64_t x_stride, float* out, int64_t out_stride, int64_t n,
             int64_t rows) {
  MapRows<avx512_math::Log16>(x, x_stride, out, out_stride, n, rows);
}

}  // namespace detinfer::kernels::avx512
