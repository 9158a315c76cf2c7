// The softmax family: operand validation, row splitting and the per-row combination of the
// ISA row kernels (softmax_isa.h). The per-row scalar steps here (NaN check, log, m + log_s)
// are shared by every path, so they cannot make paths differ.
#include "kernels/softmax.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "kernels/math.h"
#include "kernels/softmax_isa.h"
#include "kernels/operand_checks.h"
#include "kernels/registry.h"

namespace detinfer {

namespace {

namespace vc = kernels;

struct RowKernels {
  float (*row_max)(const float*, int64_t);
  float (*row_sum_exp)(const float*, int64_t, float, float*);
  void (*log_softmax_row)(const float*, int64_t, float, float, float*);
  void (*divide_row)(const float*, int64_t, float, float*);
  int64_t (*argmax_row)(const float*, int64_t);
};

RowKernels Select(Isa isa) {
  namespace k = kernels;
  static const auto kRegistry = CpuOpRegistry<RowKernels>(
      "softmax",
      {k::scalar::RowMax, k::scalar::RowSumExp, k::scalar::LogSoftmaxRow, k::scalar::DivideRow,
       k::scalar::ArgmaxRow},
#if defined(DETINFER_ARCH_X86_64)
      {k::avx2::RowMax, k::avx2::RowSumExp, k::avx2::LogSoftmaxRow, k::avx2::DivideRow,
       k::avx2::ArgmaxRow},
      {k::avx512::RowMax, k::avx512::RowSumExp, k::avx512::LogSoftmaxRow,
       k::avx512::DivideRow, k::avx512::ArgmaxRow}
#elif defined(DETINFER_ARCH_AARCH64)
      {k::neon::RowMax, k::neon::RowSumExp, k::neon::LogSoftmaxRow, k::neon::DivideRow,
       k::neon::ArgmaxRow}
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

// m and s of one row (e_out as in RowSumExp). s is NaN exactly when the row holds a NaN: d_j is
// in [-Inf, 0] otherwise, so every exp(d_j) is in [0, 1] and the sum is finite.
struct RowStats {
  float m, s;
};
RowStats Stats(const RowKernels& k, const float* x, int64_t n, float* e_out) {
  const float m = k.row_max(x, n);
  return {m, k.row_sum_exp(x, n, m, e_out)};
}

// Runs fn(row) for every row, rows split into fixed chunks across the context's threads.
template <typename Fn>
void ForEachRow(const KernelContext& ctx, int64_t m, int64_t n, Fn&& fn) {
  const int64_t rpt = vc::RowsPerTask(n);
  ctx.ParallelFor((m + rpt - 1) / rpt, [&](int64_t t) {
    const int64_t r1 = (t + 1) * rpt < m ? (t + 1) * rpt : m;
    for (int64_t r = t * rpt; r < r1; ++r) fn(r);
  });
}

// x [M, N] f32 and out with x's shape, in place or disjoint.
Status CheckRowsOp(const char* op, const TensorView& x, const TensorView& out) {
  const std::string o(op);
  DETINFER_RETURN_IF_ERROR(CheckTensor(x, o + ": x", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(out, o + ": out", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(vc::CheckSameShape(op, out, "out", x, "x"));
  return vc::CheckInPlaceOrDisjoint(op, out, "out", x, "x");
}

}  // namespace

Status LogSumExp(const KernelContext& ctx, TensorView x, TensorView lse) {
  DETINFER_RETURN_IF_ERROR(CheckTensor(x, "log_sum_exp: x", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(lse, "log_sum_exp: lse", 1, DType::kF32));
  if (lse.dim(0) != x.dim(0)) {
    return Status::InvalidArgument("log_sum_exp: lse has shape " + lse.ShapeString() +
                                   " but x is " + x.ShapeString() + " (want [" +
                                   std::to_string(x.dim(0)) + "] f32)");
  }
  if (vc::Overlaps(lse, x)) {
    return Status::InvalidArgument("log_sum_exp: lse " + lse.ShapeString() + " overlaps x " +
                                   x.ShapeString());
  }
  const RowKernels k = Select(ctx.isa);
  const int64_t n = x.dim(1);
  float* out = lse.as<float>();
  const int64_t os = lse.stride[0];
  ForEachRow(ctx, x.dim(0), n, [&](int64_t r) {
    const RowStats st = Stats(k, x.row<const float>(r), n, nullptr);
    out[r * os] = std::isnan(st.s) ? CanonicalNaN() : st.m + LogF(st.s);
  });
  return Status::Ok();
}

Status LogSoftmax(const KernelContext& ctx, TensorView x, TensorView out) {
  DETINFER_RETURN_IF_ERROR(CheckRowsOp("log_softmax", x, out));
  const RowKernels k = Select(ctx.isa);
  const int64_t n = x.dim(1);
  ForEachRow(ctx, x.dim(0), n, [&](int64_t r) {
    const float* xr = x.row<const float>(r);
    float* orow = out.row<float>(r);
    const RowStats st = Stats(k, xr, n, nullptr);
    if (std::isnan(st.s)) {
      for (int64_t j = 0; j < n; ++j) orow[j] = CanonicalNaN();
      return;
    }
    k.log_softmax_row(xr, n, st.m, LogF(st.s), orow);
  });
  return Status::Ok();
}

Status Softmax(const KernelContext& ctx, TensorView x, TensorView out) {
  DETINFER_RETURN_IF_ERROR(CheckRowsOp("softmax", x, out));
  const RowKernels k = Select(ctx.isa);
  const int64_t n = x.dim(1);
  ForEachRow(ctx, x.dim(0), n, [&](int64_t r) {
    float* orow = out.row<float>(r);
    // exp(d_j) is stored into out while summing (reading x_j first, so in place works), then
    // divided in place: one exp per element, the same values the sum saw.
    const RowStats st = Stats(k, x.row<const float>(r), n, orow);
    if (std::isnan(st.s)) {
      for (int64_t j = 0; j < n; ++j) orow[j] = CanonicalNaN();
      return;
    }
    k.divide_row(orow, n, st.s, orow);
  });
  return Status::Ok();
}

Status Argmax(const KernelContext& ctx, TensorView x, std::span<int32_t> idx) {
  DETINFER_RETURN_IF_ERROR(CheckTensor(x, "argmax: x", 2, DType::kF32));
  const int64_t m = x.dim(0), n = x.dim(1);
  if (static_cast<int64_t>(idx.size()) != m) {
    return Status::InvalidArgument("argmax: idx has " + std::to_string(idx.size()) +
                                   " entries but x is " + x.ShapeString());
  }
  if (m == 0) return Status::Ok();
  if (idx.data() == nullptr) return Status::InvalidArgument("argmax: idx is null");
  if (n == 0 || n > INT32_MAX) {
    return Status::InvalidArgument("argmax: x rows must have 1 to 2^31-1 elements, got " +
                                   x.ShapeString());
  }
  const TensorView iv = TensorView::Contiguous(idx.data(), DType::kF32, {m});  // same byte size
  if (vc::Overlaps(iv, x)) {
    return Status::InvalidArgument("argmax: idx overlaps x " + x.ShapeString());
  }
  const RowKernels k = Select(ctx.isa);
  ForEachRow(ctx, m, n, [&](int64_t r) {
    idx[static_cast<size_t>(r)] = static_cast<int32_t>(k.argmax_row(x.row<const float>(r), n));
  });
  return Status::Ok();
}

}  // namespace detinfer
