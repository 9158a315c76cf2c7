// RmsNormBackward: validation, the three passes (per-row inv, dweight by columns, dx by rows)
// and their arithmetic (rms_norm_backward.h states the order).
#include "kernels/rms_norm_backward.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/operand_checks.h"
#include "kernels/reduction_order.h"
#include "kernels/simd/reduce_tree.h"

namespace detinfer {

namespace {

constexpr int64_t kColsPerTask = 64;

// sum_j fma(a_j, b_j, .) in the canonical 16-lane order, lanes from +0 (reduction_order.h).
float CanonicalDot(const float* a, const float* b, int64_t n) {
  float p[kReductionLanes] = {};
  for (int64_t i = 0; i < n; ++i) {
    float& lane = p[i % kReductionLanes];
    lane = std::fma(a[i], b[i], lane);
  }
  return kernels::reduce_tree::TreeSum16(p);
}

// The forward's inv for one row (rms_norm.h): the same operations in the same order.
float InvRms(const float* x, int64_t d, float eps) {
  const float mean = CanonicalDot(x, x, d) / static_cast<float>(d);
  return 1.0f / std::sqrt(mean + eps);
}

Status CheckAliasing(const TensorView& x, const TensorView& weight, const TensorView& dy,
                     const TensorView& dx, const TensorView& dweight) {
  namespace vc = kernels;
  const char* op = "rms_norm_backward";
  DETINFER_RETURN_IF_ERROR(vc::CheckInPlaceOrDisjoint(op, dx, "dx", x, "x"));
  DETINFER_RETURN_IF_ERROR(vc::CheckInPlaceOrDisjoint(op, dx, "dx", dy, "dy"));
  if (vc::Overlaps(dx, weight)) {
    return Status::InvalidArgument("rms_norm_backward: dx overlaps weight");
  }
  const TensorView* others[] = {&x, &weight, &dy, &dx};
  const char* names[] = {"x", "weight", "dy", "dx"};
  for (int i = 0; i < 4; ++i) {
    if (vc::Overlaps(dweight, *others[i])) {
      std::string msg = "rms_norm_backward: dweight overlaps ";
      msg += names[i];
      return Status::InvalidArgument(msg);
    }
  }
  return Status::Ok();
}

}  // namespace

Status RmsNormBackward(const KernelContext& ctx, const TensorView& x, const TensorView& weight,
                       float eps, const TensorView& dy, const TensorView& dx,
                       const TensorView& dweight) {
  namespace vc = kernels;
  const char* op = "rms_norm_backward";
  DETINFER_RETURN_IF_ERROR(CheckTensor(x, "rms_norm_backward: x", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(weight, "rms_norm_backward: weight", 1, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(dy, "rms_norm_backward: dy", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(dx, "rms_norm_backward: dx", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(dweight, "rms_norm_backward: dweight", 1, DType::kF32));
  DETINFER_RETURN_IF_ERROR(vc::CheckSameShape(op, dy, "dy", x, "x"));
  DETINFER_RETURN_IF_ERROR(vc::CheckSameShape(op, dx, "dx", x, "x"));
  const int64_t m = x.dim(0), d = x.dim(1);
  if (weight.dim(0) != d || dweight.dim(0) != d) {
    std::string msg = "rms_norm_backward: weight ";
    msg += weight.ShapeString();
    msg += " and dweight ";
    msg += dweight.ShapeString();
    msg += " must both be [";
    msg += std::to_string(d);
    msg += "] f32 for x ";
    msg += x.ShapeString();
    return Status::InvalidArgument(msg);
  }
  if (!std::isfinite(eps) || eps < 0.0f) {
    return Status::InvalidArgument("rms_norm_backward: eps must be finite and >= 0, got " +
                                   std::to_string(eps));
  }
  DETINFER_RETURN_IF_ERROR(CheckAliasing(x, weight, dy, dx, dweight));
  if (m == 0 || d == 0) return Status::Ok();

  const float* w = weight.as<const float>();
  float* dw = dweight.as<float>();
  const int64_t dws = dweight.stride[0];
  const int64_t rpt = vc::RowsPerTask(d);
  const int64_t row_tasks = (m + rpt - 1) / rpt;
  auto for_rows = [&](auto&& fn) {
    ctx.ParallelFor(row_tasks, [&](int64_t t) {
      for (int64_t r = t * rpt, r1 = std::min(m, (t + 1) * rpt); r < r1; ++r) fn(r);
    });
  };
  // Pass 1: inv per row.
  std::vector<float> inv(static_cast<size_t>(m));
  for_rows([&](int64_t r) { inv[size_t(r)] = InvRms(x.row<const float>(r), d, eps); });
  // Pass 2 (before dx, which may overwrite x or dy): dweight, one chain per column over the
  // rows ascending, continued from the value in dweight.
  const int64_t col_tasks = (d + kColsPerTask - 1) / kColsPerTask;
  ctx.ParallelFor(col_tasks, [&](int64_t t) {
    const int64_t c0 = t * kColsPerTask, c1 = std::min(d, c0 + kColsPerTask);
    for (int64_t r = 0; r < m; ++r) {
      const float* xr = x.row<const float>(r);
      const float* dyr = dy.row<const float>(r);
      const float ir = inv[size_t(r)];
      for (int64_t i = c0; i < c1; ++i) dw[i * dws] = std::fma(dyr[i], xr[i] * ir, dw[i * dws]);
    }
  });
  // Pass 3: dx by rows. g and xhat are recomputed from x and dy (cheap) so that nothing needs a
  // scratch row; every read of element i happens before dx_i is written (in-place safe).
  for_rows([&](int64_t r) {
    const float* xr = x.row<const float>(r);
    const float* dyr = dy.row<const float>(r);
    float* dxr = dx.row<float>(r);
    const float ir = inv[size_t(r)];
    float p[kReductionLanes] = {};
    for (int64_t i = 0; i < d; ++i) {
      float& lane = p[i % kReductionLanes];
      lane = std::fma(dyr[i] * w[i], xr[i] * ir, lane);
    }
    const float c = kernels::reduce_tree::TreeSum16(p) / static_cast<float>(d);
    for (int64_t i = 0; i < d; ++i) {
      const float g = dyr[i] * w[i];
      const float xhat = xr[i] * ir;
      dxr[i] = std::fma(-xhat, c, g) * ir;
    }
  });
  return Status::Ok();
}

}  // namespace detinfer
