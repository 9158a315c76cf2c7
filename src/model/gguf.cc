#include "model/gguf.h"

#include <algorithm>
#include <cstring>

#include "core/storage_format.h"
#include "model/byte_reader.h"
#include "model/tensor_source.h"

namespace detinfer {

namespace {

size_t ScalarSize(GgufType t) {
  switch (t) {
    case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
    case GgufType::kU16: case GgufType::kI16: return 2;
    case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
    case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: return 8;
    case GgufType::kString: case GgufType::kArray: return 0;
  }
  return 0;
}

bool KnownType(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::kF64); }

// Decodes one little-endian scalar of type t at p into v.
void DecodeScalar(GgufType t, const uint8_t* p, GgufValue* v) {
  auto load = [p](auto x) { std::memcpy(&x, p, sizeof x); return x; };
  switch (t) {
    case GgufType::kU8: v->u = load(uint8_t{}); break;
    case GgufType::kI8: v->i = load(int8_t{}); break;
    case GgufType::kU16: v->u = load(uint16_t{}); break;
    case GgufType::kI16: v->i = load(int16_t{}); break;
    case GgufType::kU32: v->u = load(uint32_t{}); break;
    case GgufType::kI32: v->i = load(int32_t{}); break;
    case GgufType::kU64: v->u = load(uint64_t{}); break;
    case GgufType::kI64: v->i = load(int64_t{}); break;
    case GgufType::kF32: v->f = load(float{}); break;
    case GgufType::kF64: v->f = load(double{}); break;
    case GgufType::kBool: v->u = load(uint8_t{}); break;
    case GgufType::kString: case GgufType::kArray: break;
  }
}

}  // namespace

std::string_view GgufTypeName(GgufType type) {
  static const char* const kNames[] = {"u8",  "i8",   "u16",    "i16",   "u32", "i32", "f32",
                                       "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(type);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

std::string GgmlTypeName(uint32_t type) {
  static const char* const kNames[] = {
      "F32",  "F16",  "Q4_0", "Q4_1", "type 4", "type 5", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
      "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
      "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16"};
  if (type < std::size(kNames)) return kNames[type];
  return "type " + std::to_string(type);
}

class GgufParser {
 public:
  GgufParser(GgufFile* f) : f_(f), r_(f->file_.data(), f->file_.size(), f->file_.path()) {}

  Status Parse() {
    const std::string& path = f_->file_.path();
    const uint8_t* magic;
    DETINFER_RETURN_IF_ERROR(r_.ReadBytes(4, "GGUF magic", &magic));
    if (std::memcmp(magic, "GGUF", 4) != 0) {
      return Status::InvalidArgument(path + ": not a GGUF file (bad magic)");
    }
    DETINFER_RETURN_IF_ERROR(r_.Read("GGUF version", &f_->version_));
    if (f_->version_ != 2 && f_->version_ != 3) {
      const bool swapped = __builtin_bswap32(f_->version_) <= 3;
      return Status::Unsupported(path + ": GGUF version " + std::to_string(f_->version_) +
                                 (swapped ? " (a big-endian file?)" : "") +
                                 " is not supported (2 and 3 are)");
    }
    uint64_t n_tensors = 0, n_kv = 0;
    DETINFER_RETURN_IF_ERROR(r_.Read("GGUF tensor count", &n_tensors));
    DETINFER_RETURN_IF_ERROR(r_.Read("GGUF metadata count", &n_kv));
    // Each pair takes >= 12 bytes (key length + type), each tensor info >= 24.
    if (n_kv > r_.remaining() / 12 || n_tensors > r_.remaining() / 24) {
      return Status::InvalidArgument(path + ": GGUF header claims " + std::to_string(n_kv) +
                                     " metadata pairs and " + std::to_string(n_tensors) +
                                     " tensors, more than the file's " +
                                     std::to_string(r_.size()) + " bytes can hold");
    }
    for (uint64_t k = 0; k < n_kv; ++k) DETINFER_RETURN_IF_ERROR(ReadKv(k));
    DETINFER_RETURN_IF_ERROR(ReadAlignment());
    for (uint64_t t = 0; t < n_tensors; ++t) DETINFER_RETURN_IF_ERROR(ReadTensorInfo(t));
    return PlaceData();
  }

 private:
  Status ReadString(const std::string& what, std::string_view* out) {
    uint64_t len = 0;
    DETINFER_RETURN_IF_ERROR(r_.Read(what + " length", &len));
    const uint8_t* p;
    DETINFER_RETURN_IF_ERROR(r_.ReadBytes(len, what, &p));
    *out = std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(len));
    return Status::Ok();
  }

  Status ReadKv(uint64_t index) {
    const std::string& path = f_->file_.path();
    std::string_view key;
    DETINFER_RETURN_IF_ERROR(ReadString("metadata key #" + std::to_string(index), &key));
    const std::string what = "metadata '" + std::string(key) + "'";
    uint32_t type = 0;
    DETINFER_RETURN_IF_ERROR(r_.Read(what + " type", &type));
    if (!KnownType(type)) {
      return Status::InvalidArgument(path + ": " + what + " has unknown value type " +
                                     std::to_string(type));
    }
    GgufValue v;
    v.type = static_cast<GgufType>(type);
    if (v.type == GgufType::kString) {
      DETINFER_RETURN_IF_ERROR(ReadString(what, &v.str));
    } else if (v.type == GgufType::kArray) {
      DETINFER_RETURN_IF_ERROR(ReadArray(what, &v));
    } else {
      const uint8_t* p;
      DETINFER_RETURN_IF_ERROR(r_.ReadBytes(ScalarSize(v.type), what, &p));
      DecodeScalar(v.type, p, &v);
    }
    if (!f_->metadata_.emplace(std::string(key), std::move(v)).second) {
      return Status::InvalidArgument(path + ": duplicate metadata key '" + std::string(key) + "'");
    }
    return Status::Ok();
  }

  Status ReadArray(const std::string& what, GgufValue* v) {
    const std::string& path = f_->file_.path();
    uint32_t elem = 0;
    DETINFER_RETURN_IF_ERROR(r_.Read(what + " element type", &elem));
    DETINFER_RETURN_IF_ERROR(r_.Read(what + " element count", &v->count));
    if (!KnownType(elem) || elem == static_cast<uint32_t>(GgufType::kArray)) {
      return Status::Unsupported(path + ": " + what + " is an array of element type " +
                                 std::to_string(elem) + " (nested or unknown)");
    }
    v->elem_type = static_cast<GgufType>(elem);
    if (v->elem_type == GgufType::kString) {
      if (v->count > r_.remaining() / 8) {  // every string takes >= 8 bytes (its length)
        return Status::InvalidArgument(path + ": " + what + " claims " +
                                       std::to_string(v->count) + " strings but only " +
                                       std::to_string(r_.remaining()) + " bytes remain");
      }
      v->strings.reserve(static_cast<size_t>(v->count));
      for (uint64_t i = 0; i < v->count; ++i) {
        std::string_view s;
        DETINFER_RETURN_IF_ERROR(ReadString(what + " element " + std::to_string(i), &s));
        v->strings.push_back(s);
      }
      return Status::Ok();
    }
    uint64_t bytes;
    if (!CheckedMul(v->count, ScalarSize(v->elem_type), &bytes) || bytes > r_.remaining()) {
      return Status::InvalidArgument(path + ": " + what + " claims " + std::to_string(v->count) +
                                     " " + std::string(GgufTypeName(v->elem_type)) +
                                     " elements but only " + std::to_string(r_.remaining()) +
                                     " bytes remain");
    }
    return r_.ReadBytes(bytes, what, &v->raw);
  }

  Status ReadAlignment() {
    const GgufValue* a = f_->Find("general.alignment");
    if (a == nullptr) return Status::Ok();
    DETINFER_ASSIGN_OR_RETURN(int64_t align, f_->GetInt("general.alignment", 1, 1 << 30));
    if ((align & (align - 1)) != 0) {
      return Status::InvalidArgument(f_->file_.path() + ": general.alignment " +
                                     std::to_string(align) + " is not a power of two");
    }
    f_->alignment_ = static_cast<uint64_t>(align);
    return Status::Ok();
  }

  Status ReadTensorInfo(uint64_t index) {
    const std::string& path = f_->file_.path();
    std::string_view name;
    DETINFER_RETURN_IF_ERROR(ReadString("tensor #" + std::to_string(index) + " name", &name));
    GgufTensorInfo t;
    t.name = std::string(name);
    const std::string what = "tensor '" + t.name + "'";
    uint32_t n_dims = 0;
    DETINFER_RETURN_IF_ERROR(r_.Read(what + " n_dims", &n_dims));
    if (n_dims > static_cast<uint32_t>(kMaxTensorRank)) {
      return Status::InvalidArgument(path + ": " + what + " has n_dims " +
                                     std::to_string(n_dims) + " (at most 4)");
    }
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = 0;
      DETINFER_RETURN_IF_ERROR(r_.Read(what + " ne[" + std::to_string(d) + "]", &ne));
      if (ne > static_cast<uint64_t>(INT64_MAX)) {
        return Status::InvalidArgument(path + ": " + what + " ne[" + std::to_string(d) +
                                       "] = " + std::to_string(ne) + " is too large");
      }
      t.ne.push_back(static_cast<int64_t>(ne));
    }
    uint64_t rel_offset = 0;
    DETINFER_RETURN_IF_ERROR(r_.Read(what + " type", &t.ggml_type));
    DETINFER_RETURN_IF_ERROR(r_.Read(what + " offset", &rel_offset));
    const StorageFormat* format = FormatOfGgmlType(t.ggml_type);
    if (format == nullptr) {
      std::string known;
      for (const StorageFormat& f : AllStorageFormats()) {
        known += (known.empty() ? "" : ", ") + std::string(f.ggml_name);
      }
      return Status::Unsupported(path + ": " + what + " has ggml type " +
                                 GgmlTypeName(t.ggml_type) + " (" +
                                 std::to_string(t.ggml_type) + "); detinfer reads " + known);
    }
    t.dtype = format->dtype;
    // A block format stores whole blocks along the innermost dimension.
    if (format->quantised() && (t.ne.empty() || t.ne[0] % format->block_elems != 0)) {
      return Status::InvalidArgument(
          path + ": " + what + " is " + std::string(format->ggml_name) + " (blocks of " +
          std::to_string(format->block_elems) + ") but its row length ne[0] = " +
          (t.ne.empty() ? std::string("none") : std::to_string(t.ne[0])) +
          " is not a multiple of the block");
    }
    int64_t numel;
    if (!CheckedNumel(t.ne.data(), static_cast<int>(t.ne.size()), &numel) ||
        !CheckedBytes(numel / format->block_elems, format->block_bytes, &t.nbytes)) {
      std::string dims;
      for (int64_t d : t.ne) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
      return Status::InvalidArgument(path + ": " + what + " dims [" + dims +
                                     "] have more elements than fit in 64 bits");
    }
    if (rel_offset % f_->alignment_ != 0) {
      return Status::InvalidArgument(path + ": " + what + " offset " +
                                     std::to_string(rel_offset) + " is not a multiple of the "
                                     "alignment " + std::to_string(f_->alignment_));
    }
    t.offset = rel_offset;  // made absolute in PlaceData, once the data section is known
    if (f_->tensors_.count(t.name) != 0) {
      return Status::InvalidArgument(path + ": duplicate tensor name '" + t.name + "'");
    }
    f_->tensors_.emplace(t.name, std::move(t));
    return Status::Ok();
  }

  Status PlaceData() {
    const std::string& path = f_->file_.path();
    const uint64_t a = f_->alignment_;
    uint64_t start;
    if (!CheckedAdd(r_.pos(), a - 1, &start)) return Status::Internal(path + ": offset overflow");
    start = start / a * a;
    f_->data_offset_ = start;
    const uint64_t size = r_.size();
    struct Span { uint64_t begin, end; const std::string* name; };
    std::vector<Span> spans;
    for (auto& [name, t] : f_->tensors_) {
      uint64_t begin, end;
      if (!CheckedAdd(start, t.offset, &begin) || !CheckedAdd(begin, t.nbytes, &end) ||
          end > size) {
        return Status::InvalidArgument(
            path + ": tensor '" + name + "' (offset " + std::to_string(t.offset) + ", " +
            std::to_string(t.nbytes) + " bytes) lies past the end of the file (data section "
            "at " + std::to_string(start) + ", file " + std::to_string(size) + " bytes)");
      }
      // The map is page-aligned, so the file offset decides the pointer's alignment (an
      // alignment smaller than the element size could otherwise misalign it).
      const size_t elem = IsQuantised(t.dtype) ? 2 : DTypeSize(t.dtype);  // blocks: f16 scales
      if (begin % elem != 0) {
        return Status::InvalidArgument(path + ": tensor '" + name + "' starts at file offset " +
                                       std::to_string(begin) + ", not aligned to its " +
                                       std::string(DTypeName(t.dtype)) + " elements");
      }
      t.offset = begin;
      if (end > begin) spans.push_back({begin, end, &name});
    }
    std::sort(spans.begin(), spans.end(),
              [](const Span& x, const Span& y) { return x.begin < y.begin; });
    for (size_t i = 1; i < spans.size(); ++i) {
      if (spans[i].begin < spans[i - 1].end) {
        return Status::InvalidArgument(path + ": tensors '" + *spans[i - 1].name + "' and '" +
                                       *spans[i].name + "' overlap");
      }
    }
    return Status::Ok();
  }

  GgufFile* f_;
  ByteReader r_;
};

Result<GgufFile> GgufFile::Open(const std::string& path) {
  DETINFER_ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  return Parse(std::move(file));
}

Result<GgufFile> GgufFile::Parse(MappedFile file) {
  GgufFile f;
  f.file_ = std::move(file);
  GgufParser parser(&f);
  DETINFER_RETURN_IF_ERROR(parser.Parse());
  return f;
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

Result<int64_t> GgufFile::GetInt(std::string_view key, int64_t lo, int64_t hi) const {
  const GgufValue* v = Find(key);
  const std::string where = path() + ": metadata '" + std::string(key) + "'";
  if (v == nullptr) return Status::NotFound(where + " is missing");
  std::string shown;
  bool in_range = false;
  int64_t value = 0;
  switch (v->type) {
    case GgufType::kU8: case GgufType::kU16: case GgufType::kU32: case GgufType::kU64:
      shown = std::to_string(v->u);
      in_range = v->u <= static_cast<uint64_t>(hi) && static_cast<int64_t>(v->u) >= lo;
      value = static_cast<int64_t>(v->u);
      break;
    case GgufType::kI8: case GgufType::kI16: case GgufType::kI32: case GgufType::kI64:
      shown = std::to_string(v->i);
      in_range = v->i >= lo && v->i <= hi;
      value = v->i;
      break;
    default:
      return Status::InvalidArgument(where + " must be an integer, got type " +
                                     std::string(GgufTypeName(v->type)));
  }
  if (!in_range) {
    return Status::InvalidArgument(where + " = " + shown + " is outside [" + std::to_string(lo) +
                                   ", " + std::to_string(hi) + "]");
  }
  return value;
}

Result<double> GgufFile::GetFloat(std::string_view key) const {
  const GgufValue* v = Find(key);
  const std::string where = path() + ": metadata '" + std::string(key) + "'";
  if (v == nullptr) return Status::NotFound(where + " is missing");
  if (v->type != GgufType::kF32 && v->type != GgufType::kF64) {
    return Status::InvalidArgument(where + " must be f32 or f64, got type " +
                                   std::string(GgufTypeName(v->type)));
  }
  return v->f;
}

Result<std::string_view> GgufFile::GetString(std::string_view key) const {
  const GgufValue* v = Find(key);
  const std::string where = path() + ": metadata '" + std::string(key) + "'";
  if (v == nullptr) return Status::NotFound(where + " is missing");
  if (v->type != GgufType::kString) {
    return Status::InvalidArgument(where + " must be a string, got type " +
                                   std::string(GgufTypeName(v->type)));
  }
  return v->str;
}

Result<TensorView> GgufFile::View(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) return Status::NotFound(path() + ": missing tensor '" + name + "'");
  const GgufTensorInfo& t = it->second;
  int64_t dims[kMaxTensorRank] = {};
  const int rank = static_cast<int>(t.ne.size());
  for (int d = 0; d < rank; ++d) dims[d] = t.ne[static_cast<size_t>(rank - 1 - d)];
  return MakeView(file_.data() + t.offset, t.dtype, dims, rank);
}

}  // namespace detinfer
