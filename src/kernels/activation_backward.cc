// SwiGluBackward: validation and the per-element sequence of activation_backward.h.
#include "kernels/activation_backward.h"

#include <cmath>
#include <cstdint>
#include <cstring>

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

void Element(float a, float u, float d, float* dgate, float* dup) {
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

}  // namespace

Status SwiGluBackward(const KernelContext& ctx, const TensorView& gate, const TensorView& up,
                      const TensorView& dout, const TensorView& dgate, const TensorView& dup) {
  namespace vc = kernels;
  const char* op = "swiglu_backward";
  DETINFER_RETURN_IF_ERROR(CheckTensor(gate, "swiglu_backward: gate", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(up, "swiglu_backward: up", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(dout, "swiglu_backward: dout", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(dgate, "swiglu_backward: dgate", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(dup, "swiglu_backward: dup", 2, DType::kF32));
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
  if (vc::Overlaps(dgate, dup)) {
    return Status::InvalidArgument("swiglu_backward: dgate overlaps dup");
  }
  const int64_t m = gate.dim(0), f = gate.dim(1);
  if (m == 0 || f == 0) return Status::Ok();
  const int64_t rpt = vc::RowsPerTask(f);
  ctx.ParallelFor((m + rpt - 1) / rpt, [&](int64_t t) {
    const int64_t r1 = (t + 1) * rpt < m ? (t + 1) * rpt : m;
    for (int64_t r = t * rpt; r < r1; ++r) {
      const float* g = gate.row<const float>(r);
      const float* u = up.row<const float>(r);
      const float* d = dout.row<const float>(r);
      float* dg = dgate.row<float>(r);
      float* du = dup.row<float>(r);
      // Reads of element i all happen before its writes: in-place aliasing is safe.
      for (int64_t i = 0; i < f; ++i) Element(g[i], u[i], d[i], dg + i, du + i);
    }
  });
  return Status::Ok();
}

}  // namespace detinfer
