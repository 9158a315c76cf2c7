// GGUF files (versions 2 and 3, as written by llama.cpp / ggml; spec: ggml docs/gguf.md):
// magic "GGUF", u32 version, u64 tensor count, u64 metadata count, the metadata key/value pairs,
// the tensor infos (name, n_dims, ne[0..n_dims) innermost-first, ggml type, offset), padding to
// general.alignment (default 32), then the data section that tensor offsets are relative to.
//
// Everything is checked when the file is opened: every length, count and offset against the
// bytes remaining; dims non-negative with a product that fits in int64; a tensor type of the
// storage-format table (core/storage_format.h: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
// Q4_K, Q5_K, Q6_K; others, e.g. IQ*, Q2_K, Q3_K, are Unsupported naming the tensor and type),
// with a row length (ne[0]) of whole blocks;
// offsets multiples of the alignment; tensors inside the file and not overlapping; no
// duplicate keys or tensor names. Strings and arrays are views into the map, so a crafted count
// cannot make the reader allocate more than a small multiple of the file's size.
#ifndef DETINFER_MODEL_GGUF_H_
#define DETINFER_MODEL_GGUF_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"
#include "core/tensor.h"

namespace detinfer {

enum class GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
std::string_view GgufTypeName(GgufType type);  // "u32", "string", "array", ...

// The types detinfer reads, with their ids, are the storage-format table's (FormatOfGgmlType).
std::string GgmlTypeName(uint32_t type);  // "F32", "Q4_K", ... or "type 99"

inline constexpr uint64_t kGgufDefaultAlignment = 32;

struct GgufValue {
  GgufType type = GgufType::kU8;
  // Scalars: integers in `i` (signed types) or `u` (unsigned types and bool), floats in `f`.
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  std::string_view str;  // kString
  // kArray: element type and count; numeric elements are `count` little-endian values at
  // `raw`, string elements are in `strings`. Arrays of arrays are rejected when reading.
  GgufType elem_type = GgufType::kU8;
  uint64_t count = 0;
  const uint8_t* raw = nullptr;
  std::vector<std::string_view> strings;
};

struct GgufTensorInfo {
  std::string name;
  uint32_t ggml_type = 0;
  DType dtype = DType::kF32;
  std::vector<int64_t> ne;  // innermost first, as in the file
  uint64_t offset = 0;      // absolute byte offset in the file
  uint64_t nbytes = 0;
};

class GgufFile {
 public:
  static Result<GgufFile> Open(const std::string& path);
  // The same checks over bytes already in memory (MappedFile::FromBytes); Open maps and calls it.
  static Result<GgufFile> Parse(MappedFile file);

  const std::string& path() const { return file_.path(); }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  const std::map<std::string, GgufValue, std::less<>>& metadata() const { return metadata_; }
  const std::map<std::string, GgufTensorInfo>& tensors() const { return tensors_; }

  const GgufValue* Find(std::string_view key) const;
  // Typed getters: NotFound for a missing key; InvalidArgument naming the key, its type and
  // value when the type is wrong or the value does not fit [lo, hi].
  Result<int64_t> GetInt(std::string_view key, int64_t lo, int64_t hi) const;
  Result<double> GetFloat(std::string_view key) const;  // f32 or f64
  Result<std::string_view> GetString(std::string_view key) const;

  // A view of the named tensor with dims outermost-first (ne reversed): ne = [in, out] becomes
  // shape [out, in]. NotFound names the file and tensor.
  Result<TensorView> View(const std::string& name) const;
  MappedFile TakeFile() { return std::move(file_); }

 private:
  friend class GgufParser;
  MappedFile file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue, std::less<>> metadata_;
  std::map<std::string, GgufTensorInfo> tensors_;
};

// llama.cpp's tensor of RoPE frequency divisors (Llama-3.1's scaling): f32 [rotary_dim / 2].
inline constexpr const char* kGgufRopeFreqsName = "rope_freqs.weight";
// llama.cpp's longrope factor lists (Phi-3): f32 [rotary_dim / 2] each (rope_scaling.h).
inline constexpr const char* kGgufRopeFactorsLong = "rope_factors_long.weight";
inline constexpr const char* kGgufRopeFactorsShort = "rope_factors_short.weight";

}  // namespace detinfer

#endif  // DETINFER_MODEL_GGUF_H_
