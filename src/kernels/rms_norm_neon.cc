// RMSNorm, NEON path (aarch64). The 16 canonical reduction lanes are four q registers (lanes
// 0-3, 4-7, 8-11, 12-15; reduction_order.h), combined by the shared tree on a float[16].
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "kernels/rms_norm_isa.h"
#include "kernels/simd/reduce_tree.h"

namespace detinfer::kernels::neon {

namespace {

// Four weights widened exactly to f32 (bf16: 16-bit left shift; f16: FCVTL).
inline float32x4_t LoadWeights4(const void* w, DType dtype, int64_t i) {
  if (dtype == DType::kF32) return vld1q_f32(static_cast<const float*>(w) + i);
  const uint16x4_t h = vld1_u16(static_cast<const uint16_t*>(w) + i);
  if (dtype == DType::kF16) return vcvt_f32_f16(vreinterpret_f16_u16(h));
  return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
}

float SumOfSquares(const float* x, int64_t d) {
  float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f),
                        vdupq_n_f32(0.0f)};
  int64_t i = 0;
  for (; i + 16 <= d; i += 16) {
    for (int q = 0; q < 4; ++q) {
      const float32x4_t v = vld1q_f32(x + i + 4 * q);
      acc[q] = vfmaq_f32(acc[q], v, v);  // acc + v * v, one rounding (as std::fma)
    }
  }
  alignas(16) float p[16];
  for (int q = 0; q < 4; ++q) vst1q_f32(p + 4 * q, acc[q]);
  // The tail's lanes see one more element each; lanes past it keep their partial untouched.
  for (int j = 0; i + j < d; ++j) {
    const float32x4_t v = vdupq_n_f32(x[i + j]);
    p[j] = vgetq_lane_f32(vfmaq_f32(vdupq_n_f32(p[j]), v, v), 0);
  }
  return reduce_tree::TreeSum16(p);
}

}  // namespace

void RmsNormRows(const float* x, int64_t x_stride, const void* weight, DType weight_dtype,
                 int64_t d, float eps, float* out, int64_t out_stride, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * x_stride;
    float* yr = out + r * out_stride;
    const float mean = SumOfSquares(xr, d) / static_cast<float>(d);
    // vsqrtq_f32 is the correctly rounded IEEE square root, as sqrtss and std::sqrt.
    const float root = vgetq_lane_f32(vsqrtq_f32(vdupq_n_f32(mean + eps)), 0);
    const float32x4_t vinv = vdupq_n_f32(1.0f / root);
    int64_t i = 0;
    for (; i + 4 <= d; i += 4) {  // (x * inv) * w, in this order on every path
      const float32x4_t w = LoadWeights4(weight, weight_dtype, i);
      vst1q_f32(yr + i, vmulq_f32(vmulq_f32(vld1q_f32(xr + i), vinv), w));
    }
    if (i < d) {  // the last < 4 elements through zero-padded copies; padding is never stored
      const int64_t n = d - i;
      alignas(16) float xs[4] = {}, ys[4], ws32[4] = {};
      alignas(16) uint16_t ws16[4] = {};
      for (int64_t k = 0; k < n; ++k) xs[k] = xr[i + k];
      const void* wtail;
      if (weight_dtype == DType::kF32) {
        for (int64_t k = 0; k < n; ++k) ws32[k] = static_cast<const float*>(weight)[i + k];
        wtail = ws32;
      } else {
        for (int64_t k = 0; k < n; ++k) ws16[k] = static_cast<const uint16_t*>(weight)[i + k];
        wtail = ws16;
      }
      const float32x4_t w = LoadWeights4(wtail, weight_dtype, 0);
      vst1q_f32(ys, vmulq_f32(vmulq_f32(vld1q_f32(xs), vinv), w));
      for (int64_t k = 0; k < n; ++k) yr[i + k] = ys[k];
    }
  }
}

}  // namespace detinfer::kernels::neon
