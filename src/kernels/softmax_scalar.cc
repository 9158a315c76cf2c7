// Scalar path of the softmax-family row kernels: 16 explicit lane accumulators in the
// canonical order (reduction_order.h), ExpF for exp. The SIMD paths reproduce these bits.
#include <cmath>

#include "kernels/math.h"
#include "kernels/reduction_order.h"
#include "kernels/simd/reduce_tree.h"
#include "kernels/softmax_isa.h"

namespace detinfer::kernels::scalar {

namespace {

// d_j: x_j - m, except +0 when x_j == m. For finite m that is the same value (x - x = +0);
// it also makes x_j = m = +-Inf give exp(0) = 1 instead of exp(Inf - Inf) = NaN.
inline float Shifted(float xj, float m) { return xj == m ? 0.0f : xj - m; }

}  // namespace

float RowMax(const float* x, int64_t n) {
  float p[kReductionLanes];
  for (float& v : p) v = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    float& lane = p[i % kReductionLanes];
    lane = reduce_tree::MaxCombine(lane, x[i]);
  }
  return reduce_tree::TreeMax16(p);
}

float RowSumExp(const float* x, int64_t n, float m, float* e_out) {
  float p[kReductionLanes] = {};
  for (int64_t i = 0; i < n; ++i) {
    const float e = ExpF(Shifted(x[i], m));
    if (e_out != nullptr) e_out[i] = e;
    p[i % kReductionLanes] += e;
  }
  return reduce_tree::TreeSum16(p);
}

void LogSoftmaxRow(const float* x, int64_t n, float m, float log_s, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = Shifted(x[i], m) - log_s;
}

void DivideRow(const float* e, int64_t n, float s, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = e[i] / s;
}

int64_t ArgmaxRow(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) return i;
    if (x[i] > x[best]) best = i;  // strict: ties (and +0 vs -0) keep the lower index
  }
  return best;
}

}  // namespace detinfer::kernels::scalar
