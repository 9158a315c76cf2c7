#include "model/safetensors.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/json_depth.h"
#include "model/byte_reader.h"
#include "model/tensor_source.h"

namespace detinfer {

namespace {

using json = nlohmann::json;

// Element sizes of every dtype the format defines, so that tensors detinfer cannot use still
// get their bounds checked (and a clear error only if the loader asks for one of them).
bool DTypeInfo(const std::string& name, size_t* size, bool* supported, DType* dtype) {
  static const struct { const char* name; size_t size; } kAll[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2},
      {"U16", 2},  {"F16", 2}, {"BF16", 2}, {"I32", 4},    {"U32", 4},     {"F32", 4},
      {"F64", 8},  {"I64", 8}, {"U64", 8}};
  for (const auto& d : kAll) {
    if (name == d.name) {
      *size = d.size;
      *supported = name == "F32" || name == "BF16" || name == "F16";
      *dtype = name == "BF16" ? DType::kBF16 : name == "F16" ? DType::kF16 : DType::kF32;
      return true;
    }
  }
  return false;
}

// JSON numbers arrive as unsigned, signed or (for e.g. 1e3) floating; only non-negative
// integers are sizes.
bool AsU64(const json& j, uint64_t* out) {
  if (j.is_number_unsigned()) {
    *out = j.get<uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(j.get<int64_t>());
    return true;
  }
  return false;
}

}  // namespace

Result<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  DETINFER_ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  return Parse(std::move(file));
}

Result<SafetensorsFile> SafetensorsFile::Parse(MappedFile file) {
  SafetensorsFile st;
  st.file_ = std::move(file);
  const std::string& path = st.file_.path();
  ByteReader r(st.file_.data(), st.file_.size(), path);
  uint64_t header_len = 0;
  DETINFER_RETURN_IF_ERROR(r.Read("safetensors header length", &header_len));
  if (header_len > r.remaining()) {
    return Status::InvalidArgument(path + ": safetensors header length " +
                                   std::to_string(header_len) + " exceeds the " +
                                   std::to_string(r.remaining()) +
                                   " bytes after it (truncated or not a safetensors file)");
  }
  if (header_len > kSafetensorsMaxHeaderBytes) {
    return Status::InvalidArgument(path + ": safetensors header length " +
                                   std::to_string(header_len) + " exceeds the limit of " +
                                   std::to_string(kSafetensorsMaxHeaderBytes) + " bytes");
  }
  const uint8_t* text;
  DETINFER_RETURN_IF_ERROR(r.ReadBytes(header_len, "safetensors header", &text));
  const uint64_t data_start = r.pos();
  const uint64_t data_size = r.remaining();
  DETINFER_RETURN_IF_ERROR(CheckJsonDepth(
      std::string_view(reinterpret_cast<const char*>(text), static_cast<size_t>(header_len)),
      kMaxJsonDepth, path + ": safetensors header"));
  // parse(..., allow_exceptions=false) returns a "discarded" value on malformed input.
  const json header = json::parse(text, text + header_len, nullptr, false);
  if (header.is_discarded() || !header.is_object()) {
    return Status::InvalidArgument(path + ": safetensors header is not a JSON object");
  }
  struct Span { uint64_t begin, end; const std::string* name; };
  std::vector<Span> spans;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string where = path + ": tensor '" + name + "'";
    if (!info.is_object()) return Status::InvalidArgument(where + ": entry is not an object");
    auto dt = info.find("dtype");
    auto sh = info.find("shape");
    auto off = info.find("data_offsets");
    if (dt == info.end() || !dt->is_string()) {
      return Status::InvalidArgument(where + ": missing or non-string \"dtype\"");
    }
    if (sh == info.end() || !sh->is_array()) {
      return Status::InvalidArgument(where + ": missing or non-array \"shape\"");
    }
    if (off == info.end() || !off->is_array() || off->size() != 2) {
      return Status::InvalidArgument(where + ": \"data_offsets\" must be [begin, end]");
    }
    SafetensorsTensor t;
    t.name = name;
    t.dtype_name = dt->get<std::string>();
    size_t elem = 0;
    if (!DTypeInfo(t.dtype_name, &elem, &t.supported, &t.dtype)) {
      return Status::Unsupported(where + ": unknown dtype '" + t.dtype_name + "'");
    }
    for (const json& d : *sh) {
      uint64_t v;
      if (!AsU64(d, &v) || v > static_cast<uint64_t>(INT64_MAX)) {
        return Status::InvalidArgument(where + ": shape entry " + d.dump() +
                                       " is not a non-negative integer");
      }
      t.shape.push_back(static_cast<int64_t>(v));
    }
    int64_t numel;
    uint64_t nbytes, begin, end;
    if (!CheckedNumel(t.shape.data(), static_cast<int>(t.shape.size()), &numel) ||
        !CheckedBytes(numel, elem, &nbytes)) {
      return Status::InvalidArgument(where + ": shape " + sh->dump() +
                                     " has more elements than fit in 64 bits");
    }
    if (!AsU64((*off)[0], &begin) || !AsU64((*off)[1], &end)) {
      return Status::InvalidArgument(where + ": data_offsets " + off->dump() +
                                     " are not non-negative integers");
    }
    if (begin > end || end > data_size) {
      return Status::InvalidArgument(where + ": data_offsets " + off->dump() +
                                     " lie outside the data section of " +
                                     std::to_string(data_size) + " bytes");
    }
    if (end - begin != nbytes) {
      return Status::InvalidArgument(where + ": data_offsets " + off->dump() + " span " +
                                     std::to_string(end - begin) + " bytes but shape " +
                                     sh->dump() + " of " + t.dtype_name + " needs " +
                                     std::to_string(nbytes));
    }
    t.begin = data_start + begin;
    t.end = data_start + end;
    // The map is page-aligned, so the file offset decides the pointer's alignment.
    if (t.begin % elem != 0) {
      return Status::InvalidArgument(where + ": data starts at file offset " +
                                     std::to_string(t.begin) + ", not aligned to its " +
                                     std::to_string(elem) + "-byte elements");
    }
    st.tensors_.emplace(name, std::move(t));
  }
  for (const auto& [name, t] : st.tensors_) {
    if (t.end > t.begin) spans.push_back({t.begin, t.end, &name});
  }
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].begin < spans[i - 1].end) {
      return Status::InvalidArgument(path + ": tensors '" + *spans[i - 1].name + "' and '" +
                                     *spans[i].name + "' overlap");
    }
  }
  return st;
}

const SafetensorsTensor* SafetensorsFile::Find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

Result<TensorView> SafetensorsFile::View(const std::string& name) const {
  const SafetensorsTensor* t = Find(name);
  if (t == nullptr) return Status::NotFound(path() + ": missing tensor '" + name + "'");
  if (!t->supported) {
    return Status::Unsupported(path() + ": tensor '" + name + "' has dtype " + t->dtype_name +
                               " (detinfer reads F32, BF16 and F16)");
  }
  if (t->shape.size() > static_cast<size_t>(kMaxTensorRank)) {
    return Status::Unsupported(path() + ": tensor '" + name + "' has rank " +
                               std::to_string(t->shape.size()) + " (at most 4 supported)");
  }
  return MakeView(file_.data() + t->begin, t->dtype, t->shape.data(),
                  static_cast<int>(t->shape.size()));
}

}  // namespace detinfer
