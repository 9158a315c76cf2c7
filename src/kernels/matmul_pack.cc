// Weight packing for the matmul: validation, the split into tasks, and the partial panels.
//
// A panel is 16 consecutive rows of the fused [sum N_i, K] weight. A panel that lies inside
// one part (every panel of the usual shapes, whose row counts are multiples of 16) is one
// transpose by the ISA path (matmul_pack_isa.h); a panel that straddles two parts or ends
// past N is copied row by row here. Either way each packed byte is a copy of one stored
// element, so the ISA path, the split into tasks and the thread count cannot change a byte.
#include "kernels/matmul_pack.h"

#include <algorithm>
#include <memory>
#include <string>

#include "core/storage_format.h"
#include "kernels/matmul_pack_isa.h"
#include "kernels/operand_checks.h"
#include "kernels/qmatmul.h"
#include "kernels/registry.h"

namespace detinfer {

namespace {

// A task is one 2 MiB range of the block: one huge page (core/buffer.h), which that task's
// thread faults, and so zeroes, alone. It packs the panels that start in its range.
constexpr size_t kTaskBytes = size_t{2} << 20;

template <typename T>
using PanelFn = void (*)(const T*, int64_t, int64_t, T*);

// The parts of one fused weight: part i holds packed rows [start[i], start[i] + rows).
struct Parts {
  std::span<const TensorView> views;
  std::span<const int64_t> start;
};

// Copies packed rows [n, n_end) (within one panel and one part, starting at the part's row
// r) into panel columns, k in tiles of 64 so that each source row is read contiguously while
// the tile's panel rows stay in L1.
template <typename T>
void CopyRows(const TensorView& w, int64_t r, int64_t n, int64_t n_end, int64_t k, T* panel) {
  const T* src = static_cast<const T*>(w.data);
  constexpr int64_t kTile = 64;
  for (int64_t k0 = 0; k0 < k; k0 += kTile) {
    const int64_t k1 = std::min(k, k0 + kTile);
    for (int64_t i = n; i < n_end; ++i) {
      const T* row = src + (r + i - n) * w.stride[0];
      T* out = panel + i % kMatmulPanelWidth;
      for (int64_t kk = k0; kk < k1; ++kk) out[kk * kMatmulPanelWidth] = row[kk];
    }
  }
}

// Fills panels [p0, p1) of the packed weight at dst.
template <typename T>
void PackPanels(const Parts& parts, int64_t n_total, int64_t k, int64_t p0, int64_t p1,
                PanelFn<T> full, T* dst) {
  // The last part starting at or before the first row; later parts follow in order.
  size_t i = static_cast<size_t>(
      std::upper_bound(parts.start.begin(), parts.start.end(), p0 * kMatmulPanelWidth) -
      parts.start.begin() - 1);
  for (int64_t p = p0; p < p1; ++p) {
    T* panel = dst + p * k * kMatmulPanelWidth;
    const int64_t end = std::min(n_total, (p + 1) * kMatmulPanelWidth);
    for (int64_t n = p * kMatmulPanelWidth; n < end;) {
      while (parts.start[i] + parts.views[i].shape[0] <= n) ++i;  // skips empty parts too
      const TensorView& w = parts.views[i];
      const int64_t r = n - parts.start[i];
      const int64_t n_end = std::min(end, parts.start[i] + w.shape[0]);
      if (n_end - n == kMatmulPanelWidth) {
        full(static_cast<const T*>(w.data) + r * w.stride[0], w.stride[0], k, panel);
      } else {
        CopyRows(w, r, n, n_end, k, panel);
      }
      n = n_end;
    }
  }
}

}  // namespace

Status MatrixPacker::Add(std::span<const TensorView> parts, PackedMatrix* out) {
  if (parts.empty()) return Status::InvalidArgument("matmul: no weight to pack");
  Job job;
  job.k = parts[0].rank == 2 ? parts[0].shape[1] : 0;
  job.dtype = parts[0].dtype;
  job.start.reserve(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string name = "matmul: weight part ";
    name += std::to_string(i);
    DETINFER_RETURN_IF_ERROR(CheckTensorAnyDType(parts[i], name, 2));
    if (parts[i].shape[1] != job.k || parts[i].dtype != job.dtype) {
      return Status::InvalidArgument(name + " is " + parts[i].ShapeString() +
                                     " but part 0 is " + parts[0].ShapeString() +
                                     " (K and dtype must agree)");
    }
    job.start.push_back(job.n);
    job.n += parts[i].shape[0];
  }
  job.parts.assign(parts.begin(), parts.end());
  const int64_t panels = (job.n + kMatmulPanelWidth - 1) / kMatmulPanelWidth;
  if (IsQuantised(job.dtype)) {
    // Rows are whole blocks (CheckTensorAnyDType); the packed panels keep the block structure.
    job.bytes = static_cast<size_t>(panels) * kernels::QuantPanelBytes(job.dtype, job.k);
  } else {
    job.bytes = static_cast<size_t>(panels * kMatmulPanelWidth * job.k) * DTypeSize(job.dtype);
  }
  job.offset = total_;
  total_ += (job.bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
  job.out = out;
  jobs_.push_back(std::move(job));
  return Status::Ok();
}

Status MatrixPacker::Add(std::span<const TensorView> parts, FusedMatrix* out) {
  std::vector<size_t> starts;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i == 0 || parts[i].dtype != parts[i - 1].dtype) starts.push_back(i);
  }
  if (starts.empty()) return Status::InvalidArgument("matmul: no weight to pack");
  out->runs.assign(starts.size(), PackedMatrix());  // sized once: Run writes through pointers
  for (size_t r = 0; r < starts.size(); ++r) {
    const size_t end = r + 1 < starts.size() ? starts[r + 1] : parts.size();
    DETINFER_RETURN_IF_ERROR(Add(parts.subspan(starts[r], end - starts[r]), &out->runs[r]));
  }
  return Status::Ok();
}

std::vector<uint64_t> MatrixPacker::Layout(const Locate& locate) const {
  std::vector<uint64_t> words = {kPackerVersion, static_cast<uint64_t>(kMatmulPanelWidth),
                                 total_, jobs_.size()};
  const auto add = [&words](int64_t v) { words.push_back(static_cast<uint64_t>(v)); };
  for (const Job& j : jobs_) {
    add(j.n);
    add(j.k);
    add(static_cast<int64_t>(j.dtype));
    words.push_back(j.offset);
    words.push_back(j.bytes);
    words.push_back(j.parts.size());
    for (const TensorView& part : j.parts) {
      words.push_back(locate(part));
      add(part.rank);
      for (int i = 0; i < part.rank; ++i) {
        add(part.shape[i]);
        add(part.stride[i]);
      }
    }
  }
  return words;
}

Status MatrixPacker::Adopt(std::shared_ptr<const void> owner, std::span<const uint8_t> block) {
  if (block.size() != total_) {
    return Status::InvalidArgument("matmul: a packed block of " + std::to_string(block.size()) +
                                   " bytes for a layout of " + std::to_string(total_));
  }
  if (reinterpret_cast<uintptr_t>(block.data()) % kBufferAlignment != 0) {
    return Status::InvalidArgument("matmul: a packed block must be " +
                                   std::to_string(kBufferAlignment) + "-byte aligned");
  }
  for (const Job& j : jobs_) {
    PackedMatrix& pm = *j.out;
    pm.block_ = owner;
    pm.data_ = j.bytes == 0 ? nullptr : block.data() + j.offset;
    pm.bytes_ = j.bytes;
    pm.n_ = j.n;
    pm.k_ = j.k;
    pm.dtype_ = j.dtype;
  }
  jobs_.clear();
  total_ = 0;
  return Status::Ok();
}

Status MatrixPacker::Run(const KernelContext& ctx, const RowsPacked& rows_packed,
                         Block* block_out) {
  static const auto kRegistry16 =
      CpuOpRegistry("matmul pack (16-bit)", &kernels::scalar::PackPanel16
          DETINFER_SIMD_PATHS(&kernels::avx2::PackPanel16, &kernels::avx512::PackPanel16,
                              &kernels::scalar::PackPanel16));
  static const auto kRegistry32 =
      CpuOpRegistry("matmul pack (32-bit)", &kernels::scalar::PackPanel32
          DETINFER_SIMD_PATHS(&kernels::avx2::PackPanel32, &kernels::avx512::PackPanel32,
                              &kernels::scalar::PackPanel32));
  DETINFER_ASSIGN_OR_RETURN(PanelFn<uint16_t> full16, kRegistry16.For(Device::kCpu, ctx.isa));
  DETINFER_ASSIGN_OR_RETURN(PanelFn<uint32_t> full32, kRegistry32.For(Device::kCpu, ctx.isa));
  // Zero-filled: the columns past N of each last panel stay zero (SPEC §A9).
  DETINFER_ASSIGN_OR_RETURN(AlignedBuffer buf, AlignedBuffer::Allocate(total_));
  auto block = std::make_shared<const AlignedBuffer>(std::move(buf));
  auto* base = static_cast<uint8_t*>(const_cast<void*>(block->data()));
  if (block_out != nullptr) *block_out = {block, {base, total_}};

  const std::vector<Job>& jobs = jobs_;
  const size_t num_tasks = (total_ + kTaskBytes - 1) / kTaskBytes;
  ctx.ParallelFor(static_cast<int64_t>(num_tasks), [&](int64_t t) {
    const size_t lo = static_cast<size_t>(t) * kTaskBytes, hi = lo + kTaskBytes;
    // The first job that ends past lo; jobs are in block order.
    auto it = std::upper_bound(jobs.begin(), jobs.end(), lo,
                               [](size_t v, const Job& j) { return v < j.offset + j.bytes; });
    for (; it != jobs.end() && it->offset < hi; ++it) {
      const Job& j = *it;
      if (j.bytes == 0) continue;
      const size_t panel_bytes = j.bytes / static_cast<size_t>(
                                               (j.n + kMatmulPanelWidth - 1) / kMatmulPanelWidth);
      const auto first_at_or_after = [&](size_t at) {  // first panel starting at or after `at`
        return at <= j.offset ? int64_t{0}
                              : static_cast<int64_t>((at - j.offset + panel_bytes - 1) / panel_bytes);
      };
      const int64_t panels = static_cast<int64_t>(j.bytes / panel_bytes);
      const int64_t p0 = first_at_or_after(lo), p1 = std::min(panels, first_at_or_after(hi));
      const Parts parts{j.parts, j.start};
      if (IsQuantised(j.dtype)) {
        kernels::PackQuantPanels(j.parts, j.start, j.n, j.k, j.dtype, p0, p1, base + j.offset);
      } else if (DTypeSize(j.dtype) == 4) {
        PackPanels<uint32_t>(parts, j.n, j.k, p0, p1, full32,
                             reinterpret_cast<uint32_t*>(base + j.offset));
      } else {
        PackPanels<uint16_t>(parts, j.n, j.k, p0, p1, full16,
                             reinterpret_cast<uint16_t*>(base + j.offset));
      }
      // Panel p reads source rows [16p, 16p + 16) of the fused weight and nothing else does.
      if (rows_packed && p1 > p0) {
        const int64_t r0 = p0 * kMatmulPanelWidth, r1 = std::min(j.n, p1 * kMatmulPanelWidth);
        for (size_t i = 0; i < j.parts.size(); ++i) {
          const TensorView& part = j.parts[i];
          const int64_t a = std::max(r0, j.start[i]), b = std::min(r1, j.start[i] + part.shape[0]);
          if (a >= b || !part.is_contiguous()) continue;
          rows_packed(part.row_bytes(a - j.start[i]),
                      static_cast<size_t>(b - a) * StorageBytes(part.dtype, j.k));
        }
      }
    }
  });
  const size_t total = total_;
  return Adopt(std::move(block), {base, total});
}

Result<PackedMatrix> PackedMatrix::Pack(const TensorView& w, const KernelContext& ctx) {
  return PackRows(std::span<const TensorView>(&w, 1), ctx);
}

Result<PackedMatrix> PackedMatrix::PackRows(std::span<const TensorView> parts,
                                            const KernelContext& ctx) {
  PackedMatrix pm;
  MatrixPacker packer;
  DETINFER_RETURN_IF_ERROR(packer.Add(parts, &pm));
  DETINFER_RETURN_IF_ERROR(packer.Run(ctx));
  return pm;
}

float PackedMatrix::At(int64_t n, int64_t k) const {
  const int64_t index = (n / kMatmulPanelWidth * k_ + k) * kMatmulPanelWidth + n % kMatmulPanelWidth;
  switch (dtype_) {
    case DType::kF32: return static_cast<const float*>(data_)[index];
    case DType::kBF16: return BF16ToF32(static_cast<const uint16_t*>(data_)[index]);
    case DType::kF16: return F16ToF32(static_cast<const uint16_t*>(data_)[index]);
    default: return kernels::QuantPackedAt(dtype_, data_, k_, n, k);
  }
  return 0.f;
}

}  // namespace detinfer
