#include "core/tensor.h"

#include <cstddef>
#include <string>

#include "core/storage_format.h"

namespace detinfer {

TensorView TensorView::Contiguous(void* data, DType dtype, std::initializer_list<int64_t> shape) {
  TensorView v;
  v.data = data;
  v.dtype = dtype;
  v.rank = static_cast<int>(shape.size());
  int i = 0;
  for (int64_t s : shape) {
    if (i < kMaxTensorRank) v.shape[i] = s;
    ++i;
  }
  int64_t stride = 1;
  for (int d = v.rank - 1; d >= 0; --d) {
    v.stride[d] = stride;
    stride *= v.shape[d];
  }
  return v;
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) n *= shape[i];
  return n;
}

bool TensorView::is_contiguous() const {
  int64_t expect = 1;
  for (int d = rank - 1; d >= 0; --d) {
    if (shape[d] != 1 && stride[d] != expect) return false;
    expect *= shape[d];
  }
  return true;
}

uint8_t* TensorView::row_bytes(int64_t i) const {
  return static_cast<uint8_t*>(data) + StorageBytes(dtype, i * stride[0]);
}

std::string TensorView::ShapeString() const {
  std::string s = "[";
  for (int i = 0; i < rank; ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  s += "] ";
  s += DTypeName(dtype);
  return s;
}

Status CheckTensorAnyDType(const TensorView& view, std::string_view name, int rank) {
  std::string n(name);
  if (view.rank != rank || rank > kMaxTensorRank) {
    return Status::InvalidArgument(n + " must have rank " + std::to_string(rank) + ", got " +
                                   view.ShapeString());
  }
  for (int i = 0; i < rank; ++i) {
    if (view.shape[i] < 0) return Status::InvalidArgument(n + " has a negative dimension: " +
                                                          view.ShapeString());
  }
  if (view.numel() == 0) return Status::Ok();
  if (view.data == nullptr) return Status::InvalidArgument(n + " is null (" +
                                                           view.ShapeString() + ")");
  const StorageFormat& format = FormatOf(view.dtype);
  if (format.quantised()) {
    for (int i = 0; i < rank; ++i) {
      const int64_t step = i + 1 < rank ? view.stride[i] : view.shape[i];
      if (step % format.block_elems != 0) {
        return Status::InvalidArgument(n + " is " + std::string(format.ggml_name) + " (blocks of " +
                                       std::to_string(format.block_elems) + ") but its rows of " +
                                       std::to_string(step) + " elements are not whole blocks (" +
                                       view.ShapeString() + ")");
      }
    }
  } else if (reinterpret_cast<uintptr_t>(view.data) % DTypeSize(view.dtype) != 0) {
    return Status::InvalidArgument(n + " is not aligned to its element size (" +
                                   view.ShapeString() + ")");
  }
  if (rank > 0 && view.stride[rank - 1] != 1) {
    return Status::InvalidArgument(n + " must have unit stride in its last dimension (" +
                                   view.ShapeString() + ")");
  }
  for (int i = 0; i + 1 < rank; ++i) {
    if (view.stride[i] < view.shape[i + 1] * view.stride[i + 1]) {
      return Status::InvalidArgument(n + " has overlapping rows (stride " +
                                     std::to_string(view.stride[i]) + " in dim " +
                                     std::to_string(i) + ", " + view.ShapeString() + ")");
    }
  }
  return Status::Ok();
}

Status CheckTensor(const TensorView& view, std::string_view name, int rank, DType dtype) {
  if (view.dtype != dtype) {
    return Status::InvalidArgument(std::string(name) + " must be " +
                                   std::string(DTypeName(dtype)) + ", got " + view.ShapeString());
  }
  return CheckTensorAnyDType(view, name, rank);
}

}  // namespace detinfer
