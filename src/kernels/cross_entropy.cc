// CrossEntropyForwardBackward: validation and the per-row sequence of cross_entropy.h, built
// from the softmax family's per-ISA row kernels (softmax_isa.h).
#include "kernels/cross_entropy.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "kernels/math.h"
#include "kernels/operand_checks.h"
#include "kernels/registry.h"
#include "kernels/softmax_isa.h"

namespace detinfer {

namespace {

struct RowKernels {
  float (*row_max)(const float*, int64_t);
  float (*row_sum_exp)(const float*, int64_t, float, float*);
  void (*divide_row)(const float*, int64_t, float, float*);
};

RowKernels Select(Isa isa) {
  namespace k = kernels;
  static const auto kRegistry = CpuOpRegistry<RowKernels>(
      "cross_entropy", {k::scalar::RowMax, k::scalar::RowSumExp, k::scalar::DivideRow},
#if defined(DETINFER_ARCH_X86_64)
      {k::avx2::RowMax, k::avx2::RowSumExp, k::avx2::DivideRow},
      {k::avx512::RowMax, k::avx512::RowSumExp, k::avx512::DivideRow}
#elif defined(DETINFER_ARCH_AARCH64)
      {k::neon::RowMax, k::neon::RowSumExp, k::neon::DivideRow}
#endif
  );
  return kRegistry.For(Device::kCpu, isa).value();  // every CPU path is registered
}

float CanonicalNaN() {
  const uint32_t bits = 0x7fc00000u;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

Status CheckOperands(const TensorView& logits, std::span<const int32_t> targets, float scale,
                     const TensorView& loss, const TensorView& dlogits) {
  namespace vc = kernels;
  const char* op = "cross_entropy";
  DETINFER_RETURN_IF_ERROR(CheckTensor(logits, "cross_entropy: logits", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(loss, "cross_entropy: loss", 1, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(dlogits, "cross_entropy: dlogits", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(vc::CheckSameShape(op, dlogits, "dlogits", logits, "logits"));
  const int64_t t_count = logits.dim(0), v = logits.dim(1);
  if (static_cast<int64_t>(targets.size()) != t_count || loss.dim(0) != t_count) {
    std::string msg = "cross_entropy: logits ";
    msg += logits.ShapeString();
    msg += " has ";
    msg += std::to_string(t_count);
    msg += " rows but there are ";
    msg += std::to_string(targets.size());
    msg += " targets and loss is ";
    msg += loss.ShapeString();
    return Status::InvalidArgument(msg);
  }
  if (!std::isfinite(scale)) {
    return Status::InvalidArgument("cross_entropy: scale must be finite, got " +
                                   std::to_string(scale));
  }
  DETINFER_RETURN_IF_ERROR(vc::CheckInPlaceOrDisjoint(op, dlogits, "dlogits", logits, "logits"));
  if (vc::Overlaps(loss, logits) || vc::Overlaps(loss, dlogits)) {
    return Status::InvalidArgument("cross_entropy: loss overlaps logits or dlogits");
  }
  for (int64_t t = 0; t < t_count; ++t) {
    const int32_t y = targets[static_cast<size_t>(t)];
    if (y != -1 && (y < 0 || y >= v)) {
      std::string msg = "cross_entropy: target ";
      msg += std::to_string(y);
      msg += " (row ";
      msg += std::to_string(t);
      msg += ") is neither -1 (ignore) nor a token id in [0, ";
      msg += std::to_string(v);
      msg += ")";
      return Status::OutOfRange(msg);
    }
  }
  return Status::Ok();
}

}  // namespace

Status CrossEntropyForwardBackward(const KernelContext& ctx, const TensorView& logits,
                                   std::span<const int32_t> targets, float scale,
                                   const TensorView& loss, const TensorView& dlogits) {
  DETINFER_RETURN_IF_ERROR(CheckOperands(logits, targets, scale, loss, dlogits));
  const int64_t t_count = logits.dim(0), v = logits.dim(1);
  if (t_count == 0) return Status::Ok();
  const RowKernels k = Select(ctx.isa);
  float* loss_out = loss.as<float>();
  const int64_t ls = loss.stride[0];
  const int64_t rpt = kernels::RowsPerTask(v);
  ctx.ParallelFor((t_count + rpt - 1) / rpt, [&](int64_t task) {
    const int64_t r1 = (task + 1) * rpt < t_count ? (task + 1) * rpt : t_count;
    for (int64_t r = task * rpt; r < r1; ++r) {
      const float* x = logits.row<const float>(r);
      float* out = dlogits.row<float>(r);
      const int32_t y = targets[static_cast<size_t>(r)];
      if (y == -1) {
        loss_out[r * ls] = 0.0f;
        for (int64_t j = 0; j < v; ++j) out[j] = 0.0f;
        continue;
      }
      const float m = k.row_max(x, v);
      const float xy = x[y];  // read before RowSumExp may overwrite the row (in place)
      const float s = k.row_sum_exp(x, v, m, out);
      if (std::isnan(s)) {
        loss_out[r * ls] = CanonicalNaN();
        for (int64_t j = 0; j < v; ++j) out[j] = CanonicalNaN();
        continue;
      }
      const float log_s = LogF(s);
      const float dy = xy == m ? 0.0f : xy - m;  // d_y exactly as LogSoftmax computes it
      loss_out[r * ls] = -(dy - log_s);
      k.divide_row(out, v, s, out);
      const float py = out[y];
      for (int64_t j = 0; j < v; ++j) out[j] = out[j] * scale;
      out[y] = (py - 1.0f) * scale;
    }
  });
  return Status::Ok();
}

}  // namespace detinfer
