// safetensors files: an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data section; offsets are relative to its start (byte 8 + N).
//
// Every tensor is checked when the file is opened: a known dtype, non-negative dims whose
// product fits in int64, begin <= end inside the data section, end - begin equal to
// numel * dtype size, the start aligned to the element size, and no two tensors overlapping.
#ifndef DETINFER_MODEL_SAFETENSORS_H_
#define DETINFER_MODEL_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"
#include "core/tensor.h"

namespace detinfer {

// The header must be valid JSON of at most this size (the format's own limit is 100 MB).
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100ull << 20;

struct SafetensorsTensor {
  std::string name;
  std::string dtype_name;  // as in the file: "F32", "BF16", "I64", ...
  bool supported = false;  // F32, BF16 or F16: usable as a TensorView
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // absolute byte offsets in the file
};

class SafetensorsFile {
 public:
  static Result<SafetensorsFile> Open(const std::string& path);
  // The same checks over bytes already in memory (MappedFile::FromBytes); Open maps and calls it.
  static Result<SafetensorsFile> Parse(MappedFile file);

  const std::string& path() const { return file_.path(); }
  const std::map<std::string, SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* Find(const std::string& name) const;
  // A view of the named tensor in the map. NotFound / Unsupported (dtype, rank > 4) name the
  // file and the tensor.
  Result<TensorView> View(const std::string& name) const;
  // Hands the mapping over (the views stay valid while it lives).
  MappedFile TakeFile() { return std::move(file_); }

 private:
  MappedFile file_;
  std::map<std::string, SafetensorsTensor> tensors_;
};

}  // namespace detinfer

#endif  // DETINFER_MODEL_SAFETENSORS_H_
