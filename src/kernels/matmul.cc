// Matmul validation, weight packing and the split into tasks.
#include "kernels/matmul.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/matmul_isa.h"
#include "kernels/operand_checks.h"
#include "kernels/registry.h"

namespace detinfer {

namespace {

// A task is a block of rows x a block of panels. The split only decides who computes which
// outputs; see matmul.h for why it cannot change any bit.
constexpr int64_t kRowsPerTask = 96;
constexpr int64_t kPanelsPerTask = 8;

kernels::PackedDType ToPacked(DType d) {
  switch (d) {
    case DType::kF32: return kernels::PackedDType::kF32;
    case DType::kBF16: return kernels::PackedDType::kBF16;
    case DType::kF16: return kernels::PackedDType::kF16;
  }
  return kernels::PackedDType::kF32;
}

// Copies the rows of w [rows, K] into panel columns n0, n0+1, ...; T is the stored element's
// bit pattern (values are copied, never converted). Rows are taken 16 at a time, k-major, so
// every panel row is written once, contiguously (the load is the transpose of 16 rows).
template <typename T>
void PackPart(const TensorView& w, int64_t k, int64_t n0, T* dst) {
  const T* src = static_cast<const T*>(w.data);
  const int64_t rows = w.shape[0];
  for (int64_t r0 = 0; r0 < rows;) {
    const int64_t n = n0 + r0;
    const int64_t j0 = n % kMatmulPanelWidth;
    const int64_t count = std::min(rows - r0, kMatmulPanelWidth - j0);  // up to the panel's end
    T* panel = dst + (n / kMatmulPanelWidth) * k * kMatmulPanelWidth + j0;
    // k in tiles of 64: each source row is read contiguously and the tile's panel rows
    // (64 x 16 elements, a few KiB) stay in L1 while they are filled column by column.
    constexpr int64_t kTile = 64;
    for (int64_t kk0 = 0; kk0 < k; kk0 += kTile) {
      const int64_t len = std::min(kTile, k - kk0);
      for (int64_t j = 0; j < count; ++j) {
        const T* row = src + (r0 + j) * w.stride[0] + kk0;
        T* out = panel + kk0 * kMatmulPanelWidth + j;
        for (int64_t t = 0; t < len; ++t) out[t * kMatmulPanelWidth] = row[t];
      }
    }
    r0 += count;
  }
}

}  // namespace

Result<PackedMatrix> PackedMatrix::Pack(const TensorView& w) {
  return PackRows(std::span<const TensorView>(&w, 1));
}

Result<PackedMatrix> PackedMatrix::PackRows(std::span<const TensorView> parts) {
  if (parts.empty()) return Status::InvalidArgument("matmul: no weight to pack");
  PackedMatrix pm;
  pm.k_ = parts[0].rank == 2 ? parts[0].shape[1] : 0;
  pm.dtype_ = parts[0].dtype;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string name = "matmul: weight part " + std::to_string(i);
    DETINFER_RETURN_IF_ERROR(CheckTensorAnyDType(parts[i], name, 2));
    if (parts[i].shape[1] != pm.k_ || parts[i].dtype != pm.dtype_) {
      return Status::InvalidArgument(name + " is " + parts[i].ShapeString() +
                                     " but part 0 is " + parts[0].ShapeString() +
                                     " (K and dtype must agree)");
    }
    pm.n_ += parts[i].shape[0];
  }
  const size_t elem = DTypeSize(pm.dtype_);
  const size_t bytes = static_cast<size_t>(pm.num_panels()) * kMatmulPanelWidth *
                       static_cast<size_t>(pm.k_) * elem;
  DETINFER_ASSIGN_OR_RETURN(pm.buf_, AlignedBuffer::Allocate(bytes));
  int64_t n = 0;
  for (const TensorView& w : parts) {
    if (elem == 4) {
      PackPart<uint32_t>(w, pm.k_, n, pm.buf_.as<uint32_t>());
    } else {
      PackPart<uint16_t>(w, pm.k_, n, pm.buf_.as<uint16_t>());
    }
    n += w.shape[0];
  }
  return pm;
}

float PackedMatrix::At(int64_t n, int64_t k) const {
  const int64_t index = (n / kMatmulPanelWidth * k_ + k) * kMatmulPanelWidth + n % kMatmulPanelWidth;
  switch (dtype_) {
    case DType::kF32: return buf_.as<float>()[index];
    case DType::kBF16: return BF16ToF32(buf_.as<uint16_t>()[index]);
    case DType::kF16: return F16ToF32(buf_.as<uint16_t>()[index]);
  }
  return 0.f;
}

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

  const kernels::MatmulArgs args{x.as<const float>(), x.stride[0], m, k, n,
                                 w.data(), ToPacked(w.dtype()),
                                 bias ? bias->as<const float>() : nullptr,
                                 y.as<float>(), y.stride[0]};
  static const auto kRegistry =
      CpuOpRegistry("matmul", &kernels::scalar::MatmulTile, &kernels::avx2::MatmulTile,
                    &kernels::avx512::MatmulTile);
  DETINFER_ASSIGN_OR_RETURN(auto tile, kRegistry.For(Device::kCpu, ctx.isa));
  const int64_t panels = w.num_panels();
  const int64_t row_tasks = (m + kRowsPerTask - 1) / kRowsPerTask;
  const int64_t panel_tasks = (panels + kPanelsPerTask - 1) / kPanelsPerTask;
  ctx.ParallelFor(row_tasks * panel_tasks, [&](int64_t t) {
    const int64_t rt = t / panel_tasks, pt = t % panel_tasks;
    const int64_t m0 = rt * kRowsPerTask, m1 = std::min(m, m0 + kRowsPerTask);
    const int64_t p0 = pt * kPanelsPerTask, p1 = std::min(panels, p0 + kPanelsPerTask);
    tile(args, m0, m1, p0, p1);
  });
  return Status::Ok();
}

}  // namespace detinfer
