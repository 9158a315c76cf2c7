// NEON path of the elementwise Exp/Log ops (aarch64). Full vectors of 4, then one zero-padded
// vector for the tail whose padding lanes are never stored, so a tail element's bits are those
// of the same element in a full vector (each lane's arithmetic depends only on its own input).
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "kernels/math_isa.h"
#include "kernels/simd/math_neon.h"

namespace detinfer::kernels::neon {

namespace {

template <float32x4_t (*F)(float32x4_t)>
void MapRows(const float* x, int64_t x_stride, float* out, int64_t out_stride, int64_t n,
             int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * x_stride;
    float* orow = out + r * out_stride;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(orow + i, F(vld1q_f32(xr + i)));
    if (i < n) neon_math::StoreTail4(orow + i, n - i, F(neon_math::LoadTail4(xr + i, n - i)));
  }
}

}  // namespace

void ExpRows(const float* x, int64_t x_stride, float* out, int64_t out_stride, int64_t n,
             int64_t rows) {
  MapRows<neon_math::Exp4>(x, x_stride, out, out_stride, n, rows);
}

void LogRows(const float* x, int64_t x_stride, float* out, int64_t out_stride, int64_t n,
             int64_t rows) {
  MapRows<neon_math::Log4>(x, x_stride, out, out_stride, n, rows);
}

}  // namespace detinfer::kernels::neon
