// SoftmaxBackward: validation and the per-row order of softmax_backward.h.
#include "kernels/softmax_backward.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/operand_checks.h"
#include "kernels/reduction_order.h"
#include "kernels/simd/reduce_tree.h"

namespace detinfer {

namespace {

float SoftmaxBwdCanonical(float v) {
  if (!std::isnan(v)) return v;
  const uint32_t bits = 0x7fc00000u;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// One row: s in the canonical 16-lane order, then dx. All of the row is read (for s) before
// any of it is written, and element i is read again before dx_i is written: in place is safe.
void SoftmaxBwdRow(const float* p, const float* dp, float* dx, int64_t n) {
  float lanes[kReductionLanes] = {};
  for (int64_t j = 0; j < n; ++j) {
    float& lane = lanes[j % kReductionLanes];
    lane = std::fma(p[j], dp[j], lane);
  }
  const float s = kernels::reduce_tree::TreeSum16(lanes);
  for (int64_t i = 0; i < n; ++i) dx[i] = SoftmaxBwdCanonical(p[i] * (dp[i] - s));
}

}  // namespace

Status SoftmaxBackward(const KernelContext& ctx, const TensorView& p, const TensorView& dp,
                       const TensorView& dx) {
  DETINFER_RETURN_IF_ERROR(
      kernels::CheckRowwiseBackward("softmax_backward", p, "p", dp, "dp", dx, "dx"));
  const int64_t n = p.dim(1);
  kernels::ForEachRow(ctx, p.dim(0), n, [&](int64_t r) {
    SoftmaxBwdRow(p.row<const float>(r), dp.row<const float>(r), dx.row<float>(r), n);
  });
  return Status::Ok();
}

}  // namespace detinfer
