// EmbeddingBackward: validation and the column-split accumulation of elementwise_backward.h.
#include "kernels/elementwise_backward.h"

#include <algorithm>
#include <string>

#include "kernels/operand_checks.h"

namespace detinfer {

namespace {

constexpr int64_t kColsPerTask = 64;

}  // namespace

Status EmbeddingBackward(const KernelContext& ctx, std::span<const int32_t> tokens,
                         const TensorView& dy, const TensorView& dtable) {
  DETINFER_RETURN_IF_ERROR(CheckTensor(dy, "embedding_backward: dy", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(dtable, "embedding_backward: dtable", 2, DType::kF32));
  const auto t_count = static_cast<int64_t>(tokens.size());
  const int64_t v = dtable.dim(0), d = dtable.dim(1);
  if (dy.dim(0) != t_count || dy.dim(1) != d) {
    std::string msg = "embedding_backward: dy is ";
    msg += dy.ShapeString();
    msg += " but must be [";
    msg += std::to_string(t_count);
    msg += ", ";
    msg += std::to_string(d);
    msg += "] f32 for ";
    msg += std::to_string(t_count);
    msg += " tokens and dtable ";
    msg += dtable.ShapeString();
    return Status::InvalidArgument(msg);
  }
  if (kernels::Overlaps(dtable, dy)) {
    return Status::InvalidArgument("embedding_backward: dtable overlaps dy");
  }
  for (int64_t t = 0; t < t_count; ++t) {
    const int32_t id = tokens[static_cast<size_t>(t)];
    if (id < 0 || id >= v) {
      std::string msg = "embedding_backward: token id ";
      msg += std::to_string(id);
      msg += " (index ";
      msg += std::to_string(t);
      msg += ") is outside the table's rows [0, ";
      msg += std::to_string(v);
      msg += ")";
      return Status::OutOfRange(msg);
    }
  }
  if (t_count == 0 || d == 0) return Status::Ok();
  const int64_t tasks = (d + kColsPerTask - 1) / kColsPerTask;
  ctx.ParallelFor(tasks, [&](int64_t task) {
    const int64_t c0 = task * kColsPerTask, c1 = std::min(d, c0 + kColsPerTask);
    for (int64_t t = 0; t < t_count; ++t) {  // ascending t: the one order of every chain
      const float* src = dy.row<const float>(t);
      float* dst = dtable.row<float>(tokens[static_cast<size_t>(t)]);
      for (int64_t c = c0; c < c1; ++c) dst[c] = dst[c] + src[c];
    }
  });
  return Status::Ok();
}

}  // namespace detinfer
