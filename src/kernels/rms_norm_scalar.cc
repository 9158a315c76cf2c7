// RMSNorm, portable scalar path: the reference the SIMD paths reproduce bit for bit.
#include <cmath>
#include <cstdint>

#include "core/dtype.h"
#include "kernels/reduction_order.h"
#include "kernels/rms_norm_isa.h"

namespace detinfer::kernels::scalar {

namespace {

float LoadWeight(const void* w, DType dtype, int64_t i) {
  switch (dtype) {
    case DType::kBF16: return BF16ToF32(static_cast<const uint16_t*>(w)[i]);
    case DType::kF16: return F16ToF32(static_cast<const uint16_t*>(w)[i]);
    default: return static_cast<const float*>(w)[i];
  }
}

// Sum of squares in the canonical order of reduction_order.h: 16 lanes that start at +0
// and see their elements strictly in index order (the SIMD paths hold these 16 lanes in one
// zmm or two ymm registers), then the fixed pairwise tree.
float SumOfSquares(const float* x, int64_t d) {
  float p[kReductionLanes] = {};
  int64_t i = 0;
  for (; i + kReductionLanes <= d; i += kReductionLanes) {
    for (int j = 0; j < kReductionLanes; ++j) p[j] = std::fma(x[i + j], x[i + j], p[j]);
  }
  for (int j = 0; i + j < d; ++j) p[j] = std::fma(x[i + j], x[i + j], p[j]);
  for (int j = 0; j < 8; ++j) p[j] = p[j] + p[j + 8];
  for (int j = 0; j < 4; ++j) p[j] = p[j] + p[j + 4];
  for (int j = 0; j < 2; ++j) p[j] = p[j] + p[j + 2];
  return p[0] + p[1];
}

}  // namespace

void RmsNormRows(const float* x, int64_t x_stride, const void* weight, DType weight_dtype,
                 int64_t d, float eps, float* out, int64_t out_stride, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * x_stride;
    float* yr = out + r * out_stride;
    const float mean = SumOfSquares(xr, d) / static_cast<float>(d);
    // std::sqrt on float is the correctly rounded IEEE square root (sqrtss), as is
    // _mm_sqrt_ss on the SIMD paths; the division is correctly rounded everywhere.
    const float inv = 1.0f / std::sqrt(mean + eps);
    // (x * inv) * w, never x * (inv * w): the two multiplies are rounded in this order on
    // every path. Reading x[i] before writing y[i] makes out == x safe.
    for (int64_t i = 0; i < d; ++i) yr[i] = (xr[i] * inv) * LoadWeight(weight, weight_dtype, i);
  }
}

}  // namespace detinfer::kernels::scalar
