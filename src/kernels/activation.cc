// SwiGLU: operand validation and dispatch to the context's ISA path.
#include "kernels/activation.h"

#include <string>

#include "kernels/activation_isa.h"
#include "kernels/operand_checks.h"
#include "kernels/registry.h"

namespace detinfer {

Status SwiGlu(const KernelContext& ctx, TensorView gate, TensorView up, TensorView out) {
  namespace vc = kernels;
  DETINFER_RETURN_IF_ERROR(CheckTensor(gate, "swiglu: gate", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(up, "swiglu: up", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(out, "swiglu: out", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(vc::CheckSameShape("swiglu", up, "up", gate, "gate"));
  DETINFER_RETURN_IF_ERROR(vc::CheckSameShape("swiglu", out, "out", gate, "gate"));
  DETINFER_RETURN_IF_ERROR(vc::CheckInPlaceOrDisjoint("swiglu", out, "out", gate, "gate"));
  DETINFER_RETURN_IF_ERROR(vc::CheckInPlaceOrDisjoint("swiglu", out, "out", up, "up"));
  const int64_t m = gate.dim(0), f = gate.dim(1);
  if (m == 0 || f == 0) return Status::Ok();

  using RowsFn = decltype(&kernels::scalar::SwiGluRows);
  static const auto kRegistry =
      CpuOpRegistry<RowsFn>("swiglu", kernels::scalar::SwiGluRows
          DETINFER_SIMD_PATHS(kernels::avx2::SwiGluRows, kernels::avx512::SwiGluRows,
                              kernels::neon::SwiGluRows));
  const RowsFn fn = kRegistry.For(Device::kCpu, ctx.isa).value();
  const int64_t rpt = vc::RowsPerTask(f);
  ctx.ParallelFor((m + rpt - 1) / rpt, [&](int64_t t) {
    const int64_t r0 = t * rpt;
    const int64_t rows = m - r0 < rpt ? m - r0 : rpt;
    fn(gate.row<const float>(r0), gate.stride[0], up.row<const float>(r0), up.stride[0],
       out.row<float>(r0), out.stride[0], f, rows);
  });
  return Status::Ok();
}

}  // namespace detinfer
