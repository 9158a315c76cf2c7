// Small validation helpers shared by the kernel dispatchers (never by ISA files).
//
// Kernels that write in place accept an output that is *exactly* one of their inputs (same
// pointer, same strides), because then every element is read before it is overwritten by the
// same task. Any other overlap would make the result depend on the order in which tasks and
// lanes run, so it is rejected before any memory is touched.
#ifndef DETINFER_KERNELS_OPERAND_CHECKS_H_
#define DETINFER_KERNELS_OPERAND_CHECKS_H_

#include <cstdint>

#include "core/tensor.h"

namespace detinfer::kernels {

// Byte range [begin, end) spanned by a view (empty views span nothing).
struct ByteSpan {
  uintptr_t begin = 0, end = 0;
};

inline ByteSpan SpanOf(const TensorView& v) {
  if (v.numel() == 0 || v.data == nullptr) return {};
  int64_t last = 0;  // offset of the last element, in elements
  for (int i = 0; i < v.rank; ++i) last += (v.shape[i] - 1) * v.stride[i];
  const uintptr_t b = reinterpret_cast<uintptr_t>(v.data);
  return {b, b + static_cast<uintptr_t>(last + 1) * DTypeSize(v.dtype)};
}

inline bool Overlaps(const TensorView& a, const TensorView& b) {
  const ByteSpan x = SpanOf(a), y = SpanOf(b);
  if (x.begin == x.end || y.begin == y.end) return false;
  return x.begin < y.end && y.begin < x.end;
}

// True when `out` is the very same view as `in` (in-place operation).
inline bool SameView(const TensorView& out, const TensorView& in) {
  if (out.data != in.data || out.rank != in.rank || out.dtype != in.dtype) return false;
  for (int i = 0; i < out.rank; ++i) {
    if (out.shape[i] != in.shape[i] || out.stride[i] != in.stride[i]) return false;
  }
  return true;
}

inline bool SameShape(const TensorView& a, const TensorView& b) {
  if (a.rank != b.rank) return false;
  for (int i = 0; i < a.rank; ++i) {
    if (a.shape[i] != b.shape[i]) return false;
  }
  return true;
}

}  // namespace detinfer::kernels

#endif  // DETINFER_KERNELS_OPERAND_CHECKS_H_
