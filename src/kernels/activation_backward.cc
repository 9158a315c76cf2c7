// SwiGluBackward, GeGluTanhBackward and SoftCapBackward: validation and the per-element
// sequences of activation_backward.h.
#include "kernels/activation_backward.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "kernels/math.h"
#include "kernels/operand_checks.h"

namespace detinfer {

namespace {

float CanonicalNaN() {
  const uint32_t bits = 0x7fc00000u;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline float Canon(float v) { return std::isnan(v) ? CanonicalNaN() : v; }

void SwiGluElement(float a, float u, float d, float* dgate, float* dup) {
  const float e = ExpF(-a);
  const float den = 1.0f + e;
  const float sig = 1.0f / den;
  float silu = a / den;
  if (a == -INFINITY) silu = -0.0f;
  float dsilu = sig * std::fma(a, 1.0f - sig, 1.0f);
  if (a == INFINITY) dsilu = 1.0f;
  if (a == -INFINITY) dsilu = 0.0f;
  *dup = Canon(d * silu);
  *dgate = Canon((d * u) * dsilu);
}

// The operands of a gated activation's backward `op`: f32 [M, F] each, each output equal to or
// disjoint from each input, the outputs disjoint. Errors name the op and the operand.
Status CheckGatedBackwardOperands(const char* op, const TensorView& gate, const TensorView& up,
                                  const TensorView& dout, const TensorView& dgate,
                                  const TensorView& dup) {
  namespace vc = kernels;
  const std::string o = op;
  DETINFER_RETURN_IF_ERROR(CheckTensor(gate, o + ": gate", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(up, o + ": up", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(dout, o + ": dout", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(dgate, o + ": dgate", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(dup, o + ": dup", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(vc::CheckSameShape(op, up, "up", gate, "gate"));
  DETINFER_RETURN_IF_ERROR(vc::CheckSameShape(op, dout, "dout", gate, "gate"));
  DETINFER_RETURN_IF_ERROR(vc::CheckSameShape(op, dgate, "dgate", gate, "gate"));
  DETINFER_RETURN_IF_ERROR(vc::CheckSameShape(op, dup, "dup", gate, "gate"));
  const TensorView* ins[] = {&gate, &up, &dout};
  const char* in_names[] = {"gate", "up", "dout"};
  for (int i = 0; i < 3; ++i) {
    DETINFER_RETURN_IF_ERROR(vc::CheckInPlaceOrDisjoint(op, dgate, "dgate", *ins[i], in_names[i]));
    DETINFER_RETURN_IF_ERROR(vc::CheckInPlaceOrDisjoint(op, dup, "dup", *ins[i], in_names[i]));
  }
  if (vc::Overlaps(dgate, dup)) return Status::InvalidArgument(o + ": dgate overlaps dup");
  return Status::Ok();
}

// Runs element(a, u, d, &dgate, &dup) over every element, rows split into tasks. Reads of
// element i all happen before its writes: in-place aliasing is safe.
template <typename ElementFn>
void ForEachGatedElement(const KernelContext& ctx, const TensorView& gate, const TensorView& up,
                         const TensorView& dout, const TensorView& dgate, const TensorView& dup,
                         ElementFn element) {
  const int64_t m = gate.dim(0), f = gate.dim(1);
  if (m == 0 || f == 0) return;
  const int64_t rpt = kernels::RowsPerTask(f);
  ctx.ParallelFor((m + rpt - 1) / rpt, [&](int64_t t) {
    const int64_t r1 = (t + 1) * rpt < m ? (t + 1) * rpt : m;
    for (int64_t r = t * rpt; r < r1; ++r) {
      const float* g = gate.row<const float>(r);
      const float* u = up.row<const float>(r);
      const float* d = dout.row<const float>(r);
      float* dg = dgate.row<float>(r);
      float* du = dup.row<float>(r);
      for (int64_t i = 0; i < f; ++i) element(g[i], u[i], d[i], dg + i, du + i);
    }
  });
}

// activation_backward.h's GeGluTanhBackward sequence for one element.
void GeGluTanhElement(float a, float u, float d, float* dgate, float* dup) {
  const float a2 = a * a;
  const float x3 = a2 * a;
  const float inner = 0.7978845608f * (a + 0.044715f * x3);
  const float t = TanhF(inner);
  const float opt = 1.0f + t;
  const float half_a = 0.5f * a;
  float gelu = half_a * opt;
  if (a == -INFINITY) gelu = -0.0f;
  const float sech2 = std::fma(-t, t, 1.0f);
  const float dinner = 0.7978845608f * std::fma(0.134145f, a2, 1.0f);
  const float dgelu =
      sech2 == 0.0f ? 0.5f * opt : std::fma(half_a, sech2 * dinner, 0.5f * opt);
  *dup = Canon(d * gelu);
  *dgate = Canon((d * u) * dgelu);
}

}  // namespace

Status SwiGluBackward(const KernelContext& ctx, const TensorView& gate, const TensorView& up,
                      const TensorView& dout, const TensorView& dgate, const TensorView& dup) {
  DETINFER_RETURN_IF_ERROR(
      CheckGatedBackwardOperands("swiglu_backward", gate, up, dout, dgate, dup));
  ForEachGatedElement(ctx, gate, up, dout, dgate, dup, SwiGluElement);
  return Status::Ok();
}

Status GeGluTanhBackward(const KernelContext& ctx, const TensorView& gate, const TensorView& up,
                         const TensorView& dout, const TensorView& dgate, const TensorView& dup) {
  DETINFER_RETURN_IF_ERROR(
      CheckGatedBackwardOperands("geglu_tanh_backward", gate, up, dout, dgate, dup));
  ForEachGatedElement(ctx, gate, up, dout, dgate, dup, GeGluTanhElement);
  return Status::Ok();
}

Status SoftCapBackward(const KernelContext& ctx, const TensorView& x, float cap,
                       const TensorView& dout, const TensorView& dx) {
  DETINFER_RETURN_IF_ERROR(
      kernels::CheckRowwiseBackward("soft_cap_backward", x, "x", dout, "dout", dx, "dx"));
  if (!(cap > 0.0f) || !std::isfinite(cap)) {
    return Status::InvalidArgument("soft_cap_backward: cap must be finite and > 0, got " +
                                   std::to_string(cap));
  }
  const int64_t n = x.dim(1);
  kernels::ForEachRow(ctx, x.dim(0), n, [&](int64_t r) {
    const float* xr = x.row<const float>(r);
    const float* dr = dout.row<const float>(r);
    float* o = dx.row<float>(r);
    // Element i is read before it is written: in-place aliasing is safe.
    for (int64_t i = 0; i < n; ++i) {
      const float th = TanhF(xr[i] / cap);
      o[i] = Canon(dr[i] * std::fma(-th, th, 1.0f));
    }
  });
  return Status::Ok();
}

}  // namespace detinfer
