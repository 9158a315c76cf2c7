// AVX2 path of the elementwise Exp/Log ops. Full vectors of 8, then one masked vector for the
// tail: inactive lanes load 0 and are never stored, so a tail element's bits are those of the
// same element in a full vector (each lane's arithmetic depends only on its own input).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/math_isa.h"
#include "kernels/simd/math_avx2.h"

namespace detinfer::kernels::avx2 {

namespace {

template <__m256 (*F)(__m256)>
void MapRows(const float* x, int64_t x_stride, float* out, int64_t out_stride, int64_t n,
             int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * x_stride;
    float* orow = out + r * out_stride;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(orow + i, F(_mm256_loadu_ps(xr + i)));
    if (i < n) {
      const __m256i mask = avx2_math::TailMask8(n - i);
      _mm256_maskstore_ps(orow + i, mask, F(_mm256_maskload_ps(xr + i, mask)));
    }
  }
}

}  // namespace

void ExpRows(const float* x, int64_t x_stride, float* out, int64_t out_stride, int64_t n,
             int64_t rows) {
  MapRows<avx2_math::Exp8>(x, x_stride, out, out_stride, n, rows);
}

void LogRows(const float* x, int64_t x_stride, float* out, int64_t out_stride, int64_t n,
             int64_t rows) {
  MapRows<avx2_math::Log8>(x, x_stride, out, out_stride, n, rows);
}

}  // namespace detinfer::kernels::avx2
