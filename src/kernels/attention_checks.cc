#include "kernels/attention_checks.h"

#include <cmath>
#include <string>

#include "kernels/operand_checks.h"

namespace detinfer::kernels::attention_checks {

namespace {
std::string Str(int64_t v) { return std::to_string(v); }
}  // namespace

Status CheckQueries(const std::string& op, const TensorView& q, const TensorView& out,
                    const TensorView& lse) {
  DETINFER_RETURN_IF_ERROR(CheckTensor(q, op + ": q", 3, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(out, op + ": out", 3, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(lse, op + ": lse", 2, DType::kF32));
  const int64_t d = q.dim(2);
  if (d % 8 != 0 || d < 8 || d > kAttentionMaxHeadDim) {
    return Status::InvalidArgument(op + ": head dim D=" + Str(d) + " (q " + q.ShapeString() +
                                   ") must be a multiple of 8 in [8, " +
                                   Str(kAttentionMaxHeadDim) + "]");
  }
  if (out.dim(0) != q.dim(0) || out.dim(1) != q.dim(1) || out.dim(2) != d) {
    return Status::InvalidArgument(op + ": out is " + out.ShapeString() + " but q is " +
                                   q.ShapeString() + " (want the same [Tq, Hq, D] f32)");
  }
  if (lse.dim(0) != q.dim(0) || lse.dim(1) != q.dim(1)) {
    return Status::InvalidArgument(op + ": lse is " + lse.ShapeString() + " but q is " +
                                   q.ShapeString() + " (want [" + Str(q.dim(0)) + ", " +
                                   Str(q.dim(1)) + "] f32)");
  }
  return Status::Ok();
}

Status CheckKv(const std::string& op, const TensorView& k, const char* k_name,
               const TensorView& v, const char* v_name, int rank, int64_t hq, int64_t d) {
  DETINFER_RETURN_IF_ERROR(CheckTensorAnyDType(k, op + ": " + k_name, rank));
  DETINFER_RETURN_IF_ERROR(CheckTensorAnyDType(v, op + ": " + v_name, rank));
  if (!kernels::SameShape(k, v) || k.dtype != v.dtype) {
    return Status::InvalidArgument(op + ": " + k_name + " is " + k.ShapeString() + " but " +
                                   v_name + " is " + v.ShapeString() +
                                   " (want the same shape and dtype)");
  }
  if (k.dim(rank - 1) != d) {
    return Status::InvalidArgument(op + ": " + k_name + " " + k.ShapeString() + " has head dim " +
                                   Str(k.dim(rank - 1)) + " but q has D=" + Str(d));
  }
  const int64_t hkv = k.dim(rank - 2);
  if (hkv < 1 || hq % hkv != 0) {
    return Status::InvalidArgument(op + ": query heads Hq=" + Str(hq) +
                                   " must be a multiple of the kv heads Hkv=" + Str(hkv) + " (" +
                                   k_name + " " + k.ShapeString() + ")");
  }
  return Status::Ok();
}

Status CheckNoOverlap(const std::string& op, const TensorView& out, const TensorView& lse,
                      const TensorView* inputs[], const char* const input_names[], int n_inputs) {
  if (kernels::Overlaps(out, lse)) {
    return Status::InvalidArgument(op + ": out " + out.ShapeString() + " overlaps lse " +
                                   lse.ShapeString());
  }
  for (int i = 0; i < n_inputs; ++i) {
    for (const auto& [view, name] : {std::pair{&out, "out"}, std::pair{&lse, "lse"}}) {
      if (kernels::Overlaps(*view, *inputs[i])) {
        return Status::InvalidArgument(op + ": " + name + " " + view->ShapeString() +
                                       " overlaps " + input_names[i] + " " +
                                       inputs[i]->ShapeString());
      }
    }
  }
  return Status::Ok();
}

Result<attention_driver::Shape> ResolveShape(const std::string& op, const TensorView& q,
                                             int64_t hkv, const AttentionOptions& opts) {
  const int64_t d = q.dim(2);
  float scale = opts.scale;
  if (scale == 0.0f) scale = 1.0f / std::sqrt(static_cast<float>(d));
  if (!std::isfinite(scale)) {
    return Status::InvalidArgument(op + ": scale must be finite (or 0 for 1/sqrt(D)), got " +
                                   std::to_string(opts.scale));
  }
  if (opts.window < 0) {
    return Status::InvalidArgument(op + ": window must be >= 0 (0 = no sliding window), got " +
                                   std::to_string(opts.window));
  }
  if (!(opts.softcap >= 0.0f) || !std::isfinite(opts.softcap)) {
    return Status::InvalidArgument(op + ": softcap must be finite and >= 0 (0 = none), got " +
                                   std::to_string(opts.softcap));
  }
  return attention_driver::Shape{q.dim(1), hkv,         d, scale, opts.causal, opts.window,
                                 opts.softcap};
}

}  // namespace detinfer::kernels::attention_checks
