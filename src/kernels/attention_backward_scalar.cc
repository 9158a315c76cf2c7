// Scalar path of the AttentionBackward primitives: 16 explicit lane accumulators for the
// canonical dot order (reduction_order.h) and std::fma for every fused step, so the SIMD paths
// (which use hardware FMA, also correctly rounded once) reproduce these bits.
#include <cmath>
#include <cstdint>

#include "kernels/attention_backward_isa.h"
#include "kernels/reduction_order.h"
#include "kernels/simd/reduce_tree.h"

namespace detinfer::kernels::attention_backward::scalar {

float Dot(const float* a, const float* b, int64_t n) {
  float p[kReductionLanes] = {};
  for (int64_t e = 0; e < n; ++e) {
    float& lane = p[e % kReductionLanes];
    lane = std::fma(a[e], b[e], lane);
  }
  return reduce_tree::TreeSum16(p);
}

void Axpy(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t e = 0; e < n; ++e) y[e] = std::fma(alpha, x[e], y[e]);
}

void Scale(float s, float* y, int64_t n) {
  for (int64_t e = 0; e < n; ++e) y[e] = y[e] * s;
}

}  // namespace detinfer::kernels::attention_backward::scalar
