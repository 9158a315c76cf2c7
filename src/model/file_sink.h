// FileSink: writes one output file through a temporary name and renames it into place only
// once every byte is written, so that a failed or interrupted write never leaves a truncated
// model file under the requested name (a reader would otherwise find a plausible header and
// garbage or missing data). Every error names the path and the OS's reason.
//
// WriteTensorRows: a tensor's bytes in row order, optionally with its rows reordered from one
// RoPE pair convention to the other (model/tensor_roles.h), streamed row by row so that writing
// a multi-GB model needs no second copy of it in memory.
#ifndef DETINFER_MODEL_FILE_SINK_H_
#define DETINFER_MODEL_FILE_SINK_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/rope.h"

namespace detinfer {

class FileSink {
 public:
  FileSink() = default;
  ~FileSink();  // removes the temporary file unless Commit succeeded
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  Status Open(const std::string& path);
  Status Write(const void* data, size_t bytes);
  Status WriteZeros(size_t bytes);
  uint64_t offset() const { return offset_; }
  // Flushes, closes and renames the temporary file to the final path.
  Status Commit();

 private:
  Status Fail(const std::string& what);
  std::string path_, tmp_path_;
  std::FILE* file_ = nullptr;
  uint64_t offset_ = 0;
};

// Writes `t` (rank 1 or 2, unit stride within a row) row by row in its stored dtype. When
// `from != to`, the rows (for rank 1: the elements) are reordered per head of `head_dim` rows
// with RopeSourceRow.
Status WriteTensorRows(FileSink& sink, const TensorView& t, int64_t head_dim, RopeStyle from,
                       RopeStyle to);

// Bytes WriteTensorRows writes for `t`.
uint64_t TensorBytes(const TensorView& t);

}  // namespace detinfer

#endif  // DETINFER_MODEL_FILE_SINK_H_
