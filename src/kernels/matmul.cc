// Matmul validation and the split into tasks (weight packing: matmul_pack.cc).
#include "kernels/matmul.h"

#include <algorithm>
#include <string>

#include "kernels/matmul_isa.h"
#include "kernels/operand_checks.h"
#include "kernels/qmatmul.h"
#include "kernels/registry.h"

namespace detinfer {

namespace {

// A task is a block of rows x a block of panels. The split only decides who computes which
// outputs; see matmul.h for why it cannot change any bit.
constexpr int64_t kRowsPerTask = 96;
constexpr int64_t kPanelsPerTask = 8;

}  // namespace

Status Matmul(const KernelContext& ctx, const TensorView& x, const PackedMatrix& w,
              const TensorView* bias, const TensorView& y) {
  DETINFER_RETURN_IF_ERROR(CheckTensor(x, "matmul: x", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(y, "matmul: y", 2, DType::kF32));
  const int64_t m = x.shape[0], k = x.shape[1], n = w.n();
  if (k != w.k()) {
    return Status::InvalidArgument("matmul: x is " + x.ShapeString() + " (K=" +
                                   std::to_string(k) + ") but the weight is [" +
                                   std::to_string(w.n()) + ", " + std::to_string(w.k()) + "] (K=" +
                                   std::to_string(w.k()) + ")");
  }
  if (y.shape[0] != m || y.shape[1] != n) {
    return Status::InvalidArgument("matmul: y is " + y.ShapeString() + " but must be [" +
                                   std::to_string(m) + ", " + std::to_string(n) + "] f32 for x " +
                                   x.ShapeString() + " and weight [" + std::to_string(n) + ", " +
                                   std::to_string(k) + "]");
  }
  if (bias != nullptr) {
    DETINFER_RETURN_IF_ERROR(CheckTensor(*bias, "matmul: bias", 1, DType::kF32));
    if (bias->shape[0] != n) {
      return Status::InvalidArgument("matmul: bias is " + bias->ShapeString() + " but N=" +
                                     std::to_string(n));
    }
    if (kernels::Overlaps(y, *bias)) {
      return Status::InvalidArgument("matmul: y overlaps bias");
    }
  }
  if (kernels::Overlaps(y, x)) {
    return Status::InvalidArgument("matmul: y overlaps x");
  }
  if (m == 0 || n == 0) return Status::Ok();
  if (k > 0 && w.data() == nullptr) return Status::InvalidArgument("matmul: weight is empty");

  if (IsQuantised(w.dtype())) return kernels::QuantMatmul(ctx, x, w, bias, y);
  const kernels::MatmulArgs args{x.as<const float>(), x.stride[0], m, k, n,
                                 w.data(), w.dtype(),
                                 bias ? bias->as<const float>() : nullptr,
                                 y.as<float>(), y.stride[0]};
  static const auto kRegistry =
      CpuOpRegistry("matmul", &kernels::scalar::MatmulTile DETINFER_SIMD_PATHS(
                                         &kernels::avx2::MatmulTile, &kernels::avx512::MatmulTile,
                                         &kernels::neon::MatmulTile));
  DETINFER_ASSIGN_OR_RETURN(auto tile, kRegistry.For(Device::kCpu, ctx.isa));
  kernels::ParallelTiles(ctx, m, w.num_panels(), kRowsPerTask, kPanelsPerTask,
                         [&](int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
                           tile(args, m0, m1, p0, p1);
                         });
  return Status::Ok();
}

int64_t FusedMatrix::n() const {
  int64_t n = 0;
  for (const PackedMatrix& r : runs) n += r.n();
  return n;
}

Status Matmul(const KernelContext& ctx, const TensorView& x, const FusedMatrix& w,
              const TensorView* bias, const TensorView& y) {
  if (w.runs.size() == 1) return Matmul(ctx, x, w.runs[0], bias, y);
  DETINFER_RETURN_IF_ERROR(CheckTensor(y, "matmul: y", 2, DType::kF32));
  if (y.shape[1] != w.n()) {
    return Status::InvalidArgument("matmul: y is " + y.ShapeString() + " but the fused weight has " +
                                   std::to_string(w.n()) + " columns");
  }
  if (bias != nullptr) {
    DETINFER_RETURN_IF_ERROR(CheckTensor(*bias, "matmul: bias", 1, DType::kF32));
    if (bias->shape[0] != w.n()) {
      return Status::InvalidArgument("matmul: bias is " + bias->ShapeString() + " but N=" +
                                     std::to_string(w.n()));
    }
  }
  int64_t col = 0;
  for (const PackedMatrix& r : w.runs) {
    TensorView ys = y, bs;
    ys.data = y.as<float>() + col;
    ys.shape[1] = r.n();
    if (bias != nullptr) {
      bs = *bias;
      bs.data = bias->as<float>() + col;
      bs.shape[0] = r.n();
    }
    DETINFER_RETURN_IF_ERROR(Matmul(ctx, x, r, bias != nullptr ? &bs : nullptr, ys));
    col += r.n();
  }
  return Status::Ok();
}

}  // namespace detinfer
