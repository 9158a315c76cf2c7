// TensorView: a non-owning view of a strided array (up to 4 dimensions).
//
// Strides are in elements, not bytes. Kernels take views so that they can check shapes and
// dtypes and name the operand at fault (CheckTensor) before touching memory.
#ifndef DETINFER_CORE_TENSOR_H_
#define DETINFER_CORE_TENSOR_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "core/dtype.h"
#include "core/status.h"

namespace detinfer {

inline constexpr int kMaxTensorRank = 4;

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::kF32;
  int rank = 0;
  int64_t shape[kMaxTensorRank] = {0, 0, 0, 0};
  int64_t stride[kMaxTensorRank] = {0, 0, 0, 0};

  // A contiguous row-major view.
  static TensorView Contiguous(void* data, DType dtype, std::initializer_list<int64_t> shape);
  static TensorView Contiguous(const void* data, DType dtype,
                               std::initializer_list<int64_t> shape) {
    return Contiguous(const_cast<void*>(data), dtype, shape);
  }

  int64_t dim(int i) const { return shape[i]; }
  int64_t numel() const;
  bool is_contiguous() const;
  // "[3, 4] f32"
  std::string ShapeString() const;

  template <typename T> T* as() const { return static_cast<T*>(data); }
  // Pointer to the first element of row `i` of a rank-2 view.
  template <typename T> T* row(int64_t i) const {
    return static_cast<T*>(data) + i * stride[0];
  }
  // The first byte of row `i` of a rank-2 view in any storage format (a block format's rows
  // start on whole blocks: CheckTensor checks that its row stride is a multiple of the block).
  uint8_t* row_bytes(int64_t i) const;
};

// Checks that `view` has the given rank and dtype, a non-null pointer (unless empty), a
// pointer aligned for its dtype, non-negative shape, and unit stride in its last dimension.
// `name` identifies the operand in the message, e.g. "matmul: x".
Status CheckTensor(const TensorView& view, std::string_view name, int rank, DType dtype);
// Same without a dtype requirement.
Status CheckTensorAnyDType(const TensorView& view, std::string_view name, int rank);

}  // namespace detinfer

#endif  // DETINFER_CORE_TENSOR_H_
