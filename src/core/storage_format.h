// StorageFormat: the one description of every storage format (SPEC §N) — its names, its block
// (elements and bytes), its ggml type id and how a block widens to fp32. The loaders, the
// packer, the kernels and the writers all read this table; nothing else lists the formats.
//
// Element formats (f32, bf16, f16) are blocks of one element. Block formats are GGUF's
// quantised types; their byte layouts and the exact widening rule of each are in
// core/quant_blocks.h. Widening is exact for every format except those with an additive min
// (Q4_1, Q5_1, Q4_K, Q5_K), where the one fp32 addition rounds to nearest even — a fixed rule,
// the same on every path and the same as llama.cpp's dequantisation.
#ifndef DETINFER_CORE_STORAGE_FORMAT_H_
#define DETINFER_CORE_STORAGE_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "core/dtype_id.h"

namespace detinfer {

struct StorageFormat {
  DType dtype;
  std::string_view name;       // detinfer's name: "f32", "q4_k" (flags, JSON, info)
  std::string_view ggml_name;  // GGUF's name: "F32", "Q4_K"
  uint32_t ggml_type;          // GGUF tensor type id
  int64_t block_elems;         // elements per block: 1, 32 or 256
  size_t block_bytes;          // bytes per block
  std::string_view widening;   // the widening rule, in words (docs, `detinfer info`)

  bool quantised() const { return block_elems > 1; }
  double bits_per_weight() const {
    return 8.0 * static_cast<double>(block_bytes) / static_cast<double>(block_elems);
  }
};

// Every format, in DType order.
std::span<const StorageFormat> AllStorageFormats();
const StorageFormat& FormatOf(DType dtype);
// The format with this ggml type id, or null (a type detinfer does not read).
const StorageFormat* FormatOfGgmlType(uint32_t ggml_type);
// The format with this detinfer name (case-insensitive), or null.
const StorageFormat* FormatOfName(std::string_view name);

inline bool IsQuantised(DType dtype) { return FormatOf(dtype).quantised(); }

// Bytes of n elements stored in `dtype`, counting a partial block as a whole one (callers of a
// block format check that n is a multiple of the block, naming the tensor in their message).
inline size_t StorageBytes(DType dtype, int64_t n) {
  const StorageFormat& f = FormatOf(dtype);
  return static_cast<size_t>((n + f.block_elems - 1) / f.block_elems) * f.block_bytes;
}

}  // namespace detinfer

#endif  // DETINFER_CORE_STORAGE_FORMAT_H_
