// Elementwise ops: operand validation and dispatch to the ISA path.
#include "kernels/elementwise.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/elementwise_isa.h"
#include "kernels/operand_checks.h"
#include "kernels/registry.h"

namespace detinfer {

namespace {

// Rows of about this many elements form one task; each output row is written by exactly one
// task with the same arithmetic whatever the chunking, so this only affects speed.
constexpr int64_t kElementwiseElementsPerTask = 32768;

struct Fns {
  void (*add)(const float*, const float*, float*, int64_t);
  void (*widen_bf16)(const uint16_t*, float*, int64_t);
  void (*widen_f16)(const uint16_t*, float*, int64_t);
};

Fns SelectFns(Isa isa) {
  namespace k = kernels;
  static const auto kRegistry = CpuOpRegistry<Fns>(
      "elementwise", {k::scalar::Add, k::scalar::WidenBF16, k::scalar::WidenF16},
#if defined(DETINFER_ARCH_X86_64)
      {k::avx2::Add, k::avx2::WidenBF16, k::avx2::WidenF16},
      {k::avx512::Add, k::avx512::WidenBF16, k::avx512::WidenF16}
#elif defined(DETINFER_ARCH_AARCH64)
      {k::neon::Add, k::neon::WidenBF16, k::neon::WidenF16}
#endif
  );
  return kRegistry.For(Device::kCpu, isa).value();  // every CPU path is registered
}

int64_t RowsPerTask(int64_t d) {
  return std::max<int64_t>(1, kElementwiseElementsPerTask / std::max<int64_t>(d, 1));
}

}  // namespace

Status Add(const KernelContext& ctx, TensorView a, TensorView b, TensorView out) {
  DETINFER_RETURN_IF_ERROR(CheckTensor(a, "add: a", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(b, "add: b", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(out, "add: out", 2, DType::kF32));
  if (!kernels::SameShape(a, b)) {
    return Status::InvalidArgument("add: b has shape " + b.ShapeString() + " but a has shape " +
                                   a.ShapeString());
  }
  if (!kernels::SameShape(out, a)) {
    return Status::InvalidArgument("add: out has shape " + out.ShapeString() +
                                   " but a has shape " + a.ShapeString());
  }
  for (const auto& [in, name] : {std::pair{&a, "a"}, std::pair{&b, "b"}}) {
    if (!kernels::SameView(out, *in) && kernels::Overlaps(out, *in)) {
      return Status::InvalidArgument(std::string("add: out overlaps ") + name +
                                     " without being " + name + " itself");
    }
  }
  const int64_t m = a.dim(0), d = a.dim(1);
  if (m == 0 || d == 0) return Status::Ok();
  const auto add = SelectFns(ctx.isa).add;
  const int64_t rows = RowsPerTask(d);
  ctx.ParallelFor((m + rows - 1) / rows, [&](int64_t t) {
    for (int64_t r = t * rows; r < std::min(m, (t + 1) * rows); ++r) {
      add(a.row<const float>(r), b.row<const float>(r), out.row<float>(r), d);
    }
  });
  return Status::Ok();
}

Status EmbeddingGather(const KernelContext& ctx, TensorView table, const int32_t* ids, int64_t n,
                       TensorView out) {
  DETINFER_RETURN_IF_ERROR(CheckTensorAnyDType(table, "embedding: table", 2));
  DETINFER_RETURN_IF_ERROR(CheckTensor(out, "embedding: out", 2, DType::kF32));
  const int64_t v = table.dim(0), d = table.dim(1);
  if (n < 0) return Status::InvalidArgument("embedding: n is negative (" + std::to_string(n) + ")");
  if (out.dim(0) != n || out.dim(1) != d) {
    return Status::InvalidArgument("embedding: out has shape " + out.ShapeString() +
                                   " but expected [" + std::to_string(n) + ", " +
                                   std::to_string(d) + "] for " + std::to_string(n) +
                                   " ids and table " + table.ShapeString());
  }
  if (n == 0) return Status::Ok();
  if (ids == nullptr) {
    return Status::InvalidArgument("embedding: ids is null for n=" + std::to_string(n));
  }
  if (kernels::Overlaps(out, table)) {
    return Status::InvalidArgument("embedding: out overlaps the table " + table.ShapeString());
  }
  // Every id is checked before anything is written.
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= v) {
      return Status::OutOfRange("embedding: id " + std::to_string(ids[i]) + " at index " +
                                std::to_string(i) + " is outside the table's range [0, " +
                                std::to_string(v) + ")");
    }
  }
  if (d == 0) return Status::Ok();
  const Fns fns = SelectFns(ctx.isa);
  const DType dt = table.dtype;
  const int64_t rows = RowsPerTask(d);
  ctx.ParallelFor((n + rows - 1) / rows, [&](int64_t t) {
    for (int64_t i = t * rows; i < std::min(n, (t + 1) * rows); ++i) {
      float* dst = out.row<float>(i);
      switch (dt) {
        case DType::kF32:
          std::memcpy(dst, table.row<const float>(ids[i]), size_t(d) * sizeof(float));
          break;
        case DType::kBF16: fns.widen_bf16(table.row<const uint16_t>(ids[i]), dst, d); break;
        case DType::kF16: fns.widen_f16(table.row<const uint16_t>(ids[i]), dst, d); break;
        default:  // a block format: its own widening rule (core/quant_blocks.h)
          ConvertToF32(dt, table.row_bytes(ids[i]), dst, static_cast<size_t>(d));
          break;
      }
    }
  });
  return Status::Ok();
}

}  // namespace detinfer
