// Matmul backward: operand validation and the split of the outputs into tasks.
#include "kernels/matmul_backward.h"

#include <algorithm>
#include <string>

#include "kernels/matmul_backward_isa.h"
#include "kernels/operand_checks.h"
#include "kernels/registry.h"

namespace detinfer {

namespace {

// A task is a block of output rows x a block of output columns, each element's whole chain.
// The split only decides who computes which outputs (matmul_backward.h). 48 rows is a
// multiple of both micro-tile heights (6 and 4); 192 columns of both tile widths (64 and 24).
constexpr int64_t kBackwardRowsPerTask = 48;
constexpr int64_t kColsPerTask = 192;

// "<what> <shape>[, <what2> <shape2>]", built with += (GCC 12 warns on "lit" + std::string).
std::string From(const char* what, const TensorView& t, const char* what2 = nullptr,
                 const TensorView* t2 = nullptr) {
  std::string s = what;
  s += " ";
  s += t.ShapeString();
  if (what2 != nullptr) {
    s += ", ";
    s += what2;
    s += " ";
    s += t2->ShapeString();
  }
  return s;
}

std::string Dims(int64_t a, int64_t b) {
  std::string s = "[";
  s += std::to_string(a);
  s += ", ";
  s += std::to_string(b);
  s += "] f32";
  return s;
}

Status CheckShape(const char* op, const char* name, const TensorView& t, int64_t rows,
                  int64_t cols, const std::string& why) {
  if (t.dim(0) == rows && t.dim(1) == cols) return Status::Ok();
  std::string msg = op;
  msg += ": ";
  msg += name;
  msg += " is ";
  msg += t.ShapeString();
  msg += " but must be ";
  msg += Dims(rows, cols);
  msg += " (";
  msg += why;
  msg += ")";
  return Status::InvalidArgument(msg);
}

Status CheckDisjoint(const char* op, const TensorView& out, const char* out_name,
                     const TensorView& in, const char* in_name) {
  if (!kernels::Overlaps(out, in)) return Status::Ok();
  std::string msg = op;
  msg += ": ";
  msg += out_name;
  msg += " overlaps ";
  msg += in_name;
  return Status::InvalidArgument(msg);
}

void Run(const KernelContext& ctx, const kernels::ChainArgs& args) {
  if (args.rows == 0 || args.cols == 0) return;
  using Fn = decltype(&kernels::scalar::ChainTile);
  static const auto kRegistry =
      CpuOpRegistry<Fn>("matmul_backward", &kernels::scalar::ChainTile
          DETINFER_SIMD_PATHS(&kernels::avx2::ChainTile, &kernels::avx512::ChainTile,
                              &kernels::scalar::ChainTile));
  const Fn tile = kRegistry.For(Device::kCpu, ctx.isa).value();  // every CPU path is registered
  const int64_t row_tasks = (args.rows + kBackwardRowsPerTask - 1) / kBackwardRowsPerTask;
  const int64_t col_tasks = (args.cols + kColsPerTask - 1) / kColsPerTask;
  ctx.ParallelFor(row_tasks * col_tasks, [&](int64_t t) {
    const int64_t rt = t / col_tasks, ct = t % col_tasks;
    const int64_t r0 = rt * kBackwardRowsPerTask, c0 = ct * kColsPerTask;
    tile(args, r0, std::min(args.rows, r0 + kBackwardRowsPerTask), c0,
         std::min(args.cols, c0 + kColsPerTask));
  });
}

}  // namespace

Status MatmulBackwardInput(const KernelContext& ctx, const TensorView& dy, const TensorView& w,
                           const TensorView& dx) {
  const char* op = "matmul_backward_input";
  DETINFER_RETURN_IF_ERROR(CheckTensor(dy, "matmul_backward_input: dy", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(w, "matmul_backward_input: w", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(dx, "matmul_backward_input: dx", 2, DType::kF32));
  const int64_t m = dy.dim(0), n = dy.dim(1), k = w.dim(1);
  DETINFER_RETURN_IF_ERROR(CheckShape(op, "w", w, n, k, From("N from dy", dy)));
  DETINFER_RETURN_IF_ERROR(
      CheckShape(op, "dx", dx, m, k, From("M from dy", dy, "K from w", &w)));
  DETINFER_RETURN_IF_ERROR(CheckDisjoint(op, dx, "dx", dy, "dy"));
  DETINFER_RETURN_IF_ERROR(CheckDisjoint(op, dx, "dx", w, "w"));
  Run(ctx, kernels::ChainArgs{dy.as<const float>(), dy.stride[0], 1, w.as<const float>(),
                              w.stride[0], dx.as<float>(), dx.stride[0], m, k, n, false});
  return Status::Ok();
}

Status MatmulBackwardWeight(const KernelContext& ctx, const TensorView& dy, const TensorView& x,
                            const TensorView& dw) {
  const char* op = "matmul_backward_weight";
  DETINFER_RETURN_IF_ERROR(CheckTensor(dy, "matmul_backward_weight: dy", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(x, "matmul_backward_weight: x", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(dw, "matmul_backward_weight: dw", 2, DType::kF32));
  const int64_t m = dy.dim(0), n = dy.dim(1), k = x.dim(1);
  DETINFER_RETURN_IF_ERROR(CheckShape(op, "x", x, m, k, From("M from dy", dy)));
  DETINFER_RETURN_IF_ERROR(
      CheckShape(op, "dw", dw, n, k, From("N from dy", dy, "K from x", &x)));
  DETINFER_RETURN_IF_ERROR(CheckDisjoint(op, dw, "dw", dy, "dy"));
  DETINFER_RETURN_IF_ERROR(CheckDisjoint(op, dw, "dw", x, "x"));
  if (m == 0) return Status::Ok();  // an empty chain: dw keeps its value
  Run(ctx, kernels::ChainArgs{dy.as<const float>(), 1, dy.stride[0], x.as<const float>(),
                              x.stride[0], dw.as<float>(), dw.stride[0], n, k, m, true});
  return Status::Ok();
}

Status BiasBackward(const KernelContext& ctx, const TensorView& dy, const TensorView& dbias) {
  const char* op = "bias_backward";
  DETINFER_RETURN_IF_ERROR(CheckTensor(dy, "bias_backward: dy", 2, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(dbias, "bias_backward: dbias", 1, DType::kF32));
  const int64_t m = dy.dim(0), n = dy.dim(1);
  if (dbias.dim(0) != n) {
    std::string msg = op;
    msg += ": dbias is ";
    msg += dbias.ShapeString();
    msg += " but must be [";
    msg += std::to_string(n);
    msg += "] f32 (";
    msg += From("N from dy", dy);
    msg += ")";
    return Status::InvalidArgument(msg);
  }
  DETINFER_RETURN_IF_ERROR(CheckDisjoint(op, dbias, "dbias", dy, "dy"));
  if (m == 0 || n == 0) return Status::Ok();  // an empty chain: dbias keeps its value
  float* db = dbias.as<float>();
  const int64_t col_tasks = (n + kColsPerTask - 1) / kColsPerTask;
  ctx.ParallelFor(col_tasks, [&](int64_t t) {
    const int64_t c0 = t * kColsPerTask, c1 = std::min(n, c0 + kColsPerTask);
    // Rows ascending, each column's running sum stored back after every row: the stores are
    // exact, so this is the one chain per column of the header.
    for (int64_t r = 0; r < m; ++r) {
      const float* row = dy.row<const float>(r);
      for (int64_t c = c0; c < c1; ++c) db[c] = db[c] + row[c];
    }
  });
  return Status::Ok();
}

}  // namespace detinfer
