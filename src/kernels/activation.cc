// SwiGLU: operand validation and dispatch to the context's ISA path.
#include "kernels/activation.h"

#include <cmath>
#include <cstring>
#include <string>

#include "kernels/activation_isa.h"
#include "kernels/math.h"
#include "kernels/operand_checks.h"
#include "kernels/registry.h"

namespace detinfer {

namespace {

// The operands of a gated activation `op` (swiglu, geglu_tanh): f32 [M, F] each, out equal to
// or disjoint from each input. Errors name the op and the operand.
Status CheckGatedOperands(const char* op, const TensorView& gate, const TensorView& up,
                          const TensorView& out) {
  namespace vc = kernels;
  const std::string o = op;
  DETINFER_RETURN_IF_ERROR(CheckTensor(gate, o + ": gate", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(up, o + ": up", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(out, o + ": out", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(vc::CheckSameShape(op, up, "up", gate, "gate"));
  DETINFER_RETURN_IF_ERROR(vc::CheckSameShape(op, out, "out", gate, "gate"));
  DETINFER_RETURN_IF_ERROR(vc::CheckInPlaceOrDisjoint(op, out, "out", gate, "gate"));
  return vc::CheckInPlaceOrDisjoint(op, out, "out", up, "up");
}

}  // namespace

namespace {

using GatedRowsFn = decltype(&kernels::scalar::SwiGluRows);

// Row tasks of a gated activation on the context's ISA path (every row is one task's, with the
// same arithmetic whatever its neighbours).
Status RunGatedRows(const KernelContext& ctx, const char* op, const TensorView& gate,
                    const TensorView& up, const TensorView& out,
                    const OpRegistry<GatedRowsFn>& registry) {
  DETINFER_RETURN_IF_ERROR(CheckGatedOperands(op, gate, up, out));
  const int64_t m = gate.dim(0), f = gate.dim(1);
  if (m == 0 || f == 0) return Status::Ok();
  const GatedRowsFn fn = registry.For(Device::kCpu, ctx.isa).value();
  const int64_t rpt = kernels::RowsPerTask(f);
  ctx.ParallelFor((m + rpt - 1) / rpt, [&](int64_t t) {
    const int64_t r0 = t * rpt;
    const int64_t rows = m - r0 < rpt ? m - r0 : rpt;
    fn(gate.row<const float>(r0), gate.stride[0], up.row<const float>(r0), up.stride[0],
       out.row<float>(r0), out.stride[0], f, rows);
  });
  return Status::Ok();
}

}  // namespace

Status SwiGlu(const KernelContext& ctx, TensorView gate, TensorView up, TensorView out) {
  static const auto kRegistry =
      CpuOpRegistry<GatedRowsFn>("swiglu", kernels::scalar::SwiGluRows
          DETINFER_SIMD_PATHS(kernels::avx2::SwiGluRows, kernels::avx512::SwiGluRows,
                              kernels::neon::SwiGluRows));
  return RunGatedRows(ctx, "swiglu", gate, up, out, kRegistry);
}

Status GeGluTanh(const KernelContext& ctx, TensorView gate, TensorView up, TensorView out) {
  // NEON runs the scalar loop (same bits by definition; docs/kernels.md).
  static const auto kRegistry =
      CpuOpRegistry<GatedRowsFn>("geglu_tanh", kernels::scalar::GeGluTanhRows
          DETINFER_SIMD_PATHS(kernels::avx2::GeGluTanhRows, kernels::avx512::GeGluTanhRows,
                              kernels::scalar::GeGluTanhRows));
  return RunGatedRows(ctx, "geglu_tanh", gate, up, out, kRegistry);
}

Status SoftCap(const KernelContext& ctx, TensorView x, float cap, TensorView out) {
  namespace vc = kernels;
  DETINFER_RETURN_IF_ERROR(CheckTensor(x, "soft_cap: x", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(out, "soft_cap: out", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(vc::CheckSameShape("soft_cap", out, "out", x, "x"));
  DETINFER_RETURN_IF_ERROR(vc::CheckInPlaceOrDisjoint("soft_cap", out, "out", x, "x"));
  if (!(cap > 0.0f) || !std::isfinite(cap)) {
    return Status::InvalidArgument("soft_cap: cap must be finite and > 0, got " +
                                   std::to_string(cap));
  }
  const int64_t m = x.dim(0), n = x.dim(1);
  if (m == 0 || n == 0) return Status::Ok();
  const int64_t rpt = vc::RowsPerTask(n);
  ctx.ParallelFor((m + rpt - 1) / rpt, [&](int64_t t) {
    for (int64_t r = t * rpt; r < m && r < (t + 1) * rpt; ++r) {
      const float* in = x.row<const float>(r);
      float* o = out.row<float>(r);
      for (int64_t i = 0; i < n; ++i) o[i] = cap * TanhF(in[i] / cap);
    }
  });
  return Status::Ok();
}

}  // namespace detinfer
