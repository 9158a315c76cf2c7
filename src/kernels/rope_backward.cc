// RopeBackwardInPlace: validation, then the forward's per-ISA kernels with the sine negated
// (rope_backward.h explains why that is exactly the transpose).
#include "kernels/rope_backward.h"

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/registry.h"
#include "kernels/rope_isa.h"

namespace detinfer {

namespace {

constexpr int64_t kRopeBackwardElementsPerTask = 16384;

using HeadsFn = void (*)(float*, int64_t, int64_t, int64_t, const float*, const float*, int);

HeadsFn SelectBackwardHeads(Isa isa) {
  static const auto kRegistry = CpuOpRegistry<HeadsFn>(
      "rope_backward", kernels::scalar::RopeHeads
          DETINFER_SIMD_PATHS(kernels::avx2::RopeHeads, kernels::avx512::RopeHeads,
                              kernels::scalar::RopeHeads));
  return kRegistry.For(Device::kCpu, isa).value();  // every CPU path is registered
}

}  // namespace

Status RopeBackwardInPlace(const KernelContext& ctx, const RopeTable& table, RopeStyle style,
                           TensorView dx, const int32_t* positions) {
  DETINFER_RETURN_IF_ERROR(CheckTensor(dx, "rope_backward: dx", 3, DType::kF32));
  if (dx.dim(2) != table.head_dim()) {
    std::string msg = "rope_backward: dx has shape ";
    msg += dx.ShapeString();
    msg += " but the table's head_dim is ";
    msg += std::to_string(table.head_dim());
    return Status::InvalidArgument(msg);
  }
  const int64_t tokens = dx.dim(0), heads = dx.dim(1);
  if (tokens == 0) return Status::Ok();
  if (positions == nullptr) {
    return Status::InvalidArgument("rope_backward: positions is null for " +
                                   std::to_string(tokens) + " tokens");
  }
  for (int64_t t = 0; t < tokens; ++t) {  // all checked before anything is modified
    if (positions[t] < 0 || positions[t] >= table.max_positions()) {
      std::string msg = "rope_backward: position ";
      msg += std::to_string(positions[t]);
      msg += " (token ";
      msg += std::to_string(t);
      msg += ") is outside the table's range [0, ";
      msg += std::to_string(table.max_positions());
      msg += ")";
      return Status::OutOfRange(msg);
    }
  }
  if (heads == 0) return Status::Ok();

  const HeadsFn fn = SelectBackwardHeads(ctx.isa);
  const int st = style == RopeStyle::kInterleaved ? kernels::kRopeInterleaved
                                                  : kernels::kRopeRotateHalf;
  const int64_t half = table.rotary_dim() / 2;
  const int64_t tokens_per_task =
      std::max<int64_t>(1, kRopeBackwardElementsPerTask / (heads * dx.dim(2)));
  const int64_t tasks = (tokens + tokens_per_task - 1) / tokens_per_task;
  ctx.ParallelFor(tasks, [&](int64_t task) {
    std::vector<float> neg_sin(static_cast<size_t>(half));
    const int64_t t0 = task * tokens_per_task;
    const int64_t t1 = std::min(tokens, t0 + tokens_per_task);
    for (int64_t t = t0; t < t1; ++t) {
      const float* s = table.sin_row(positions[t]);
      for (int64_t i = 0; i < half; ++i) neg_sin[size_t(i)] = -s[i];  // exact sign flip
      fn(dx.row<float>(t), dx.stride[1], heads, table.rotary_dim(), table.cos_row(positions[t]),
         neg_sin.data(), st);
    }
  });
  return Status::Ok();
}

}  // namespace detinfer
