// Operand validation shared by the kernel dispatchers (never included by ISA files).
//
// Kernels that write in place accept an output that is *exactly* one of their inputs (same
// pointer, shape and strides): every element is then read by the task that overwrites it, before
// it overwrites it. Any other overlap would make results depend on the order tasks and vector
// lanes run in, so it is rejected before memory is touched.
#ifndef DETINFER_KERNELS_OPERAND_CHECKS_H_
#define DETINFER_KERNELS_OPERAND_CHECKS_H_

#include <cstdint>
#include <string>

#include "core/status.h"
#include "core/storage_format.h"
#include "core/tensor.h"
#include "kernels/context.h"

namespace detinfer::kernels {


// Same rank and dimensions (dtype not compared).
inline bool SameShape(const TensorView& a, const TensorView& b) {
  if (a.rank != b.rank) return false;
  for (int i = 0; i < a.rank; ++i) {
    if (a.shape[i] != b.shape[i]) return false;
  }
  return true;
}

// True when `a` is the very same view as `b` (in-place operation).
inline bool SameView(const TensorView& a, const TensorView& b) {
  if (a.data != b.data || a.dtype != b.dtype || !SameShape(a, b)) return false;
  for (int i = 0; i < a.rank; ++i) {
    if (a.shape[i] > 1 && a.stride[i] != b.stride[i]) return false;
  }
  return true;
}

// Whether the byte ranges the two (already validated) views span intersect.
inline bool Overlaps(const TensorView& a, const TensorView& b) {
  auto span = [](const TensorView& v, uintptr_t* begin, uintptr_t* end) {
    if (v.numel() == 0 || v.data == nullptr) return false;
    int64_t last = 0;
    for (int i = 0; i < v.rank; ++i) last += (v.shape[i] - 1) * v.stride[i];
    *begin = reinterpret_cast<uintptr_t>(v.data);
    *end = *begin + static_cast<uintptr_t>(StorageBytes(v.dtype, last + 1));
    return true;
  };
  uintptr_t ab, ae, bb, be;
  if (!span(a, &ab, &ae) || !span(b, &bb, &be)) return false;
  if (!(ab < be && bb < ae)) return false;
  // Spans that meet may still share no element: two [rows, cols] column ranges of one wider
  // row-major buffer (the gate and up halves of [T, 2F]) step by the same row stride, and
  // within that stride b's columns sit wholly in the gap after a's, whatever the rows.
  if (a.rank == 2 && b.rank == 2 && a.dtype == b.dtype && !IsQuantised(a.dtype) &&
      a.stride[1] == 1 && b.stride[1] == 1 && a.stride[0] == b.stride[0] &&
      a.stride[0] >= a.shape[1] && a.stride[0] >= b.shape[1]) {
    const auto row = static_cast<intptr_t>(StorageBytes(a.dtype, a.stride[0]));
    const auto wa = static_cast<intptr_t>(StorageBytes(a.dtype, a.shape[1]));
    const auto wb = static_cast<intptr_t>(StorageBytes(a.dtype, b.shape[1]));
    // Where b's first element falls within a's row period.
    const intptr_t at = ((static_cast<intptr_t>(bb - ab) % row) + row) % row;
    return !(at >= wa && at + wb <= row);
  }
  return true;
}

// "<op>: out has shape [3, 5] f32 but x is [3, 4] f32" unless the shapes (and dtypes) agree.
inline Status CheckSameShape(const char* op, const TensorView& out, const char* out_name,
                             const TensorView& in, const char* in_name) {
  if (SameShape(out, in) && out.dtype == in.dtype) return Status::Ok();
  return Status::InvalidArgument(std::string(op) + ": " + out_name + " has shape " +
                                 out.ShapeString() + " but " + in_name + " is " +
                                 in.ShapeString());
}

// out must be `in` itself or not overlap it.
inline Status CheckInPlaceOrDisjoint(const char* op, const TensorView& out, const char* out_name,
                                     const TensorView& in, const char* in_name) {
  if (SameView(out, in) || !Overlaps(out, in)) return Status::Ok();
  return Status::InvalidArgument(std::string(op) + ": " + out_name + " " + out.ShapeString() +
                                 " partially overlaps " + in_name + " " + in.ShapeString() +
                                 " (only exact in-place aliasing is allowed)");
}

// Rows of about this many elements form one ParallelFor task. Every row is computed by one task
// with the same arithmetic whatever its neighbours, so this only affects speed.
inline constexpr int64_t kElementsPerTask = 16384;

inline int64_t RowsPerTask(int64_t n) {
  const int64_t r = kElementsPerTask / (n > 0 ? n : 1);
  return r > 0 ? r : 1;
}

// fn(r) for every row r of an [m, n] op, RowsPerTask(n) rows per ParallelFor task.
template <typename Fn>
void ForEachRow(const KernelContext& ctx, int64_t m, int64_t n, Fn&& fn) {
  const int64_t rpt = RowsPerTask(n);
  ctx.ParallelFor((m + rpt - 1) / rpt, [&](int64_t t) {
    const int64_t r1 = (t + 1) * rpt < m ? (t + 1) * rpt : m;
    for (int64_t r = t * rpt; r < r1; ++r) fn(r);
  });
}

// The operands of a row-wise backward op: `in` (the forward's input or output) and `dy` in,
// `dx` out, all [M, N] f32 of one shape; dx may be exactly in or dy (in place), no other overlap.
inline Status CheckRowwiseBackward(const char* op, const TensorView& in, const char* in_name,
                                   const TensorView& dy, const char* dy_name,
                                   const TensorView& dx, const char* dx_name) {
  for (const auto& [v, name] : {std::pair{&in, in_name}, std::pair{&dy, dy_name},
                                std::pair{&dx, dx_name}}) {
    DETINFER_RETURN_IF_ERROR(CheckTensor(*v, std::string(op) + ": " + name, 2, DType::kF32));
  }
  DETINFER_RETURN_IF_ERROR(CheckSameShape(op, dy, dy_name, in, in_name));
  DETINFER_RETURN_IF_ERROR(CheckSameShape(op, dx, dx_name, in, in_name));
  DETINFER_RETURN_IF_ERROR(CheckInPlaceOrDisjoint(op, dx, dx_name, in, in_name));
  return CheckInPlaceOrDisjoint(op, dx, dx_name, dy, dy_name);
}

}  // namespace detinfer::kernels

#endif  // DETINFER_KERNELS_OPERAND_CHECKS_H_
