#include "model/file_sink.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/storage_format.h"
#include "model/tensor_roles.h"

namespace detinfer {

FileSink::~FileSink() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::remove(tmp_path_.c_str());
  }
}

Status FileSink::Fail(const std::string& what) {
  const int err = errno;
  std::string msg = "cannot " + what + " '" + path_ + "': " + std::strerror(err);
  if (file_ != nullptr) {
    std::fclose(file_);
    file_ = nullptr;
    std::remove(tmp_path_.c_str());
  }
  return Status::IoError(std::move(msg));
}

Status FileSink::Open(const std::string& path) {
  if (file_ != nullptr) return Status::Internal("FileSink::Open called twice for '" + path + "'");
  path_ = path;
  // Beside the final file, so that the rename stays within one file system (atomic).
  tmp_path_ = path + ".tmp";
  errno = 0;
  file_ = std::fopen(tmp_path_.c_str(), "wb");
  if (file_ == nullptr) return Fail("create");
  offset_ = 0;
  return Status::Ok();
}

Status FileSink::Write(const void* data, size_t bytes) {
  if (file_ == nullptr) return Status::Internal("FileSink: write to '" + path_ + "' when not open");
  if (bytes == 0) return Status::Ok();
  errno = 0;
  if (std::fwrite(data, 1, bytes, file_) != bytes) return Fail("write");
  offset_ += bytes;
  return Status::Ok();
}

Status FileSink::WriteZeros(size_t bytes) {
  static const char kZeros[64] = {};
  while (bytes > 0) {
    const size_t n = bytes < sizeof kZeros ? bytes : sizeof kZeros;
    DETINFER_RETURN_IF_ERROR(Write(kZeros, n));
    bytes -= n;
  }
  return Status::Ok();
}

Status FileSink::Commit() {
  if (file_ == nullptr) {
    return Status::Internal("FileSink: commit of '" + path_ + "' when not open");
  }
  errno = 0;
  if (std::fflush(file_) != 0) return Fail("write");
  std::FILE* f = file_;
  file_ = nullptr;
  if (std::fclose(f) != 0) {
    const int err = errno;
    std::remove(tmp_path_.c_str());
    return Status::IoError("cannot write '" + path_ + "': " + std::strerror(err));
  }
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp_path_.c_str());
    return Status::IoError("cannot rename '" + tmp_path_ + "' to '" + path_ + "': " +
                           std::strerror(err));
  }
  return Status::Ok();
}

uint64_t TensorBytes(const TensorView& t) {
  return StorageBytes(t.dtype, t.numel());
}

Status WriteTensorRows(FileSink& sink, const TensorView& t, int64_t head_dim, RopeStyle from,
                       RopeStyle to) {
  if (t.rank != 1 && t.rank != 2) {
    return Status::Internal("WriteTensorRows: rank " + std::to_string(t.rank) + " tensor");
  }
  // Rows are copied as stored bytes (whole blocks for a block format: only rows move).
  const size_t elem = DTypeSize(t.dtype);
  const size_t row_bytes = StorageBytes(t.dtype, t.rank == 2 ? t.shape[1] : 1);
  // A rank-1 tensor is rows of one element each: its elements are what a permutation moves.
  const int64_t rows = t.shape[0];
  const int64_t row_stride = t.stride[0];
  const auto* base = static_cast<const uint8_t*>(t.data);
  if (from == to) {
    if (t.is_contiguous()) return sink.Write(base, TensorBytes(t));
    for (int64_t r = 0; r < rows; ++r) {
      DETINFER_RETURN_IF_ERROR(sink.Write(base + StorageBytes(t.dtype, r * row_stride), row_bytes));
    }
    return Status::Ok();
  }
  if (head_dim <= 0 || head_dim % 2 != 0 || rows % head_dim != 0) {
    return Status::Internal("WriteTensorRows: " + std::to_string(rows) +
                            " rows are not whole heads of " + std::to_string(head_dim));
  }
  if (t.rank == 1) {
    // Small (biases, q/k norms): gather into one buffer.
    std::vector<uint8_t> out(static_cast<size_t>(rows) * elem);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t src = RopeSourceRow(r, head_dim, from, to);
      std::memcpy(out.data() + static_cast<size_t>(r) * elem,
                  base + static_cast<size_t>(src * row_stride) * elem, elem);
    }
    return sink.Write(out.data(), out.size());
  }
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t src = RopeSourceRow(r, head_dim, from, to);
    DETINFER_RETURN_IF_ERROR(sink.Write(base + StorageBytes(t.dtype, src * row_stride), row_bytes));
  }
  return Status::Ok();
}

}  // namespace detinfer
