// WriteSafetensors: one .safetensors file (https://github.com/huggingface/safetensors):
//   u64 little-endian N | N bytes of JSON header | data
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end)} (offsets
// relative to the data), plus "__metadata__": {"format": "pt"}; it is padded with spaces so that
// the data starts at a multiple of 8.
//
// Deterministic: the JSON keys are sorted (nlohmann::json objects are ordered maps) and nothing
// time- or host-dependent is written. The data is laid out by (element size descending, name),
// as the Python library does, so that with the 8-aligned data start every tensor is aligned to
// its element size and a reader can map it in place; the data has no holes, as the format
// requires.
#ifndef DETINFER_MODEL_SAFETENSORS_WRITER_H_
#define DETINFER_MODEL_SAFETENSORS_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/rope.h"

namespace detinfer {

struct SafetensorsEntry {
  std::string name;
  const TensorView* view = nullptr;  // rank 1 or 2
  // Row reordering between RoPE conventions (file_sink.h); none when from == to.
  int64_t head_dim = 0;
  RopeStyle from = RopeStyle::kRotateHalf;
  RopeStyle to = RopeStyle::kRotateHalf;
};

// "F32", "BF16", "F16".
std::string_view SafetensorsDTypeName(DType dtype);

// Names must be unique and non-empty (an error names the duplicate).
Status WriteSafetensors(const std::string& path, const std::vector<SafetensorsEntry>& tensors);

}  // namespace detinfer

#endif  // DETINFER_MODEL_SAFETENSORS_WRITER_H_
