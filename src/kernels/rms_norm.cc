// RMSNorm: operand validation and dispatch to the ISA path named by the context.
#include "kernels/rms_norm.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/operand_checks.h"
#include "kernels/rms_norm_isa.h"
#include "kernels/registry.h"

namespace detinfer {

namespace {

// Rows (or heads) of about this many elements form one task. Each row is computed by one task
// with the same arithmetic whatever its neighbours, so the chunking only affects speed.
constexpr int64_t kRmsNormElementsPerTask = 16384;

using RowsFn = void (*)(const float*, int64_t, const void*, DType, int64_t, float, float*,
                        int64_t, int64_t);

RowsFn SelectRows(Isa isa) {
  static const auto kRegistry =
      CpuOpRegistry<RowsFn>("rms_norm", kernels::scalar::RmsNormRows
          DETINFER_SIMD_PATHS(kernels::avx2::RmsNormRows, kernels::avx512::RmsNormRows,
                              kernels::neon::RmsNormRows));
  return kRegistry.For(Device::kCpu, isa).value();  // every CPU path is registered
}

// Checks shared by RmsNorm and RmsNormHeads: weight is a 1-D f32/bf16/f16 vector, eps is
// usable, out has x's shape and either is x or does not overlap it, and out does not overlap
// the weight.
Status CheckCommon(const char* op, const TensorView& x, const TensorView& weight, float eps,
                   const TensorView& out) {
  const std::string o(op);
  DETINFER_RETURN_IF_ERROR(CheckTensorAnyDType(weight, o + ": weight", 1));
  if (!kernels::SameShape(out, x)) {
    return Status::InvalidArgument(o + ": out has shape " + out.ShapeString() +
                                   " but x has shape " + x.ShapeString());
  }
  if (!std::isfinite(eps) || eps < 0.0f) {
    return Status::InvalidArgument(o + ": eps must be finite and >= 0, got " +
                                   std::to_string(eps));
  }
  if (!kernels::SameView(out, x) && kernels::Overlaps(out, x)) {
    return Status::InvalidArgument(o + ": out overlaps x without being x itself (" +
                                   out.ShapeString() + ")");
  }
  if (kernels::Overlaps(out, weight)) {
    return Status::InvalidArgument(o + ": out overlaps weight " + weight.ShapeString());
  }
  return Status::Ok();
}

}  // namespace

Status RmsNorm(const KernelContext& ctx, TensorView x, TensorView weight, float eps,
               TensorView out) {
  DETINFER_RETURN_IF_ERROR(CheckTensor(x, "rms_norm: x", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(out, "rms_norm: out", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckCommon("rms_norm", x, weight, eps, out));
  const int64_t m = x.dim(0), d = x.dim(1);
  if (weight.dim(0) != d) {
    return Status::InvalidArgument("rms_norm: weight has shape " + weight.ShapeString() +
                                   " but x rows have " + std::to_string(d) + " elements");
  }
  if (m == 0 || d == 0) return Status::Ok();

  const RowsFn rows_fn = SelectRows(ctx.isa);
  const DType kind = weight.dtype;
  const int64_t rows_per_task = std::max<int64_t>(1, kRmsNormElementsPerTask / d);
  const int64_t tasks = (m + rows_per_task - 1) / rows_per_task;
  ctx.ParallelFor(tasks, [&](int64_t t) {
    const int64_t r0 = t * rows_per_task;
    const int64_t n = std::min(rows_per_task, m - r0);
    rows_fn(x.row<const float>(r0), x.stride[0], weight.data, kind, d, eps,
            out.row<float>(r0), out.stride[0], n);
  });
  return Status::Ok();
}

Status RmsNormHeads(const KernelContext& ctx, TensorView x, TensorView weight, float eps,
                    TensorView out) {
  const char* op = "rms_norm_heads";
  if (x.rank != 2 && x.rank != 3) {
    return Status::InvalidArgument(std::string(op) + ": x must be [M, H*Dh] or [M, H, Dh], got " +
                                   x.ShapeString());
  }
  DETINFER_RETURN_IF_ERROR(CheckTensor(x, "rms_norm_heads: x", x.rank, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(out, "rms_norm_heads: out", out.rank, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckCommon(op, x, weight, eps, out));
  const int64_t dh = weight.dim(0);
  const int64_t m = x.dim(0);
  int64_t heads = 0, x_head_stride = dh, out_head_stride = dh;
  if (x.rank == 3) {
    if (x.dim(2) != dh) {
      return Status::InvalidArgument("rms_norm_heads: weight has shape " + weight.ShapeString() +
                                     " but x heads have " + std::to_string(x.dim(2)) +
                                     " elements (x is " + x.ShapeString() + ")");
    }
    heads = x.dim(1);
    x_head_stride = x.stride[1];
    out_head_stride = out.stride[1];
  } else {
    if (dh == 0 || x.dim(1) % dh != 0) {
      return Status::InvalidArgument("rms_norm_heads: weight has shape " + weight.ShapeString() +
                                     " but x rows have " + std::to_string(x.dim(1)) +
                                     " elements, not a multiple of the head size");
    }
    heads = x.dim(1) / dh;
  }
  if (m == 0 || heads == 0 || dh == 0) return Status::Ok();

  const RowsFn rows_fn = SelectRows(ctx.isa);
  const DType kind = weight.dtype;
  // Tasks are groups of whole tokens; each head is one independent "row" of length Dh.
  const int64_t tokens_per_task = std::max<int64_t>(1, kRmsNormElementsPerTask / (heads * dh));
  const int64_t tasks = (m + tokens_per_task - 1) / tokens_per_task;
  ctx.ParallelFor(tasks, [&](int64_t t) {
    const int64_t t0 = t * tokens_per_task;
    const int64_t t1 = std::min(m, t0 + tokens_per_task);
    for (int64_t tok = t0; tok < t1; ++tok) {
      rows_fn(x.row<const float>(tok), x_head_stride, weight.data, kind, dh, eps,
              out.row<float>(tok), out_head_stride, heads);
    }
  });
  return Status::Ok();
}

}  // namespace detinfer
