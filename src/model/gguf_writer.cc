#include "model/gguf_writer.h"

#include <bit>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/storage_format.h"
#include "core/dtype.h"
#include "model/arch.h"
#include "model/file_sink.h"
#include "model/file_tensors.h"
#include "model/tensor_roles.h"

namespace detinfer {

static_assert(std::endian::native == std::endian::little,
              "GGUF is written little-endian; the writer copies native bytes");

namespace {

// gguf_type values of the GGUF spec.
enum : uint32_t { kGgufU32 = 4, kGgufF32 = 6, kGgufBool = 7, kGgufString = 8 };
// ggml_type values.
uint32_t GgmlType(DType dtype) { return FormatOf(dtype).ggml_type; }
// llama_ftype of the file's main format: ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q4_0 = 2,
// MOSTLY_Q4_1 = 3, MOSTLY_Q8_0 = 7, MOSTLY_Q5_0 = 8, MOSTLY_Q5_1 = 9, MOSTLY_Q4_K_S = 14,
// MOSTLY_Q4_K_M = 15, MOSTLY_Q5_K_S = 16, MOSTLY_Q5_K_M = 17, MOSTLY_Q6_K = 18, MOSTLY_BF16 = 32.
// `mixed` marks a K-quant mix (Q4_K_M, Q5_K_M: some tensors in Q6_K).
uint32_t FileType(DType dtype, bool mixed) {
  switch (dtype) {
    case DType::kF32: return 0;
    case DType::kF16: return 1;
    case DType::kBF16: return 32;
    case DType::kQ8_0: return 7;
    case DType::kQ4_0: return 2;
    case DType::kQ4_1: return 3;
    case DType::kQ5_0: return 8;
    case DType::kQ5_1: return 9;
    case DType::kQ4_K: return mixed ? 15 : 14;
    case DType::kQ5_K: return mixed ? 17 : 16;
    case DType::kQ6_K: return 18;
  }
  return 0;
}

// The header (everything before the data section) is built in memory: it is small.
class HeaderBuilder {
 public:
  void U32(uint32_t v) { Raw(&v, sizeof v); }
  void U64(uint64_t v) { Raw(&v, sizeof v); }
  void F32(float v) { Raw(&v, sizeof v); }
  void Str(const std::string& s) {
    U64(s.size());
    Raw(s.data(), s.size());
  }
  void KvU32(const std::string& key, uint32_t v) {
    Str(key);
    U32(kGgufU32);
    U32(v);
    ++kv_count;
  }
  void KvF32(const std::string& key, float v) {
    Str(key);
    U32(kGgufF32);
    F32(v);
    ++kv_count;
  }
  void KvStr(const std::string& key, const std::string& v) {
    Str(key);
    U32(kGgufString);
    Str(v);
    ++kv_count;
  }
  // Any value as the reader holds it: scalars at their type's width, strings, arrays of either
  // (numeric array elements are copied as the little-endian bytes they were read as).
  void KvValue(const std::string& key, const GgufValue& v) {
    Str(key);
    U32(static_cast<uint32_t>(v.type));
    if (v.type == GgufType::kArray) {
      U32(static_cast<uint32_t>(v.elem_type));
      U64(v.count);
      if (v.elem_type == GgufType::kString) {
        for (std::string_view e : v.strings) Str(std::string(e));
      } else {
        Raw(v.raw, static_cast<size_t>(v.count) * ScalarBytes(v.elem_type));
      }
    } else if (v.type == GgufType::kString) {
      Str(std::string(v.str));
    } else {
      Scalar(v);
    }
    ++kv_count;
  }
  std::vector<uint8_t> bytes;
  uint64_t kv_count = 0;

 private:
  void Raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes.insert(bytes.end(), b, b + n);
  }
  static size_t ScalarBytes(GgufType t) {
    switch (t) {
      case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
      case GgufType::kU16: case GgufType::kI16: return 2;
      case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
      default: return 8;  // u64, i64, f64 (strings and arrays are not scalars)
    }
  }
  void Scalar(const GgufValue& v) {
    const size_t n = ScalarBytes(v.type);
    if (v.type == GgufType::kF32) {
      F32(static_cast<float>(v.f));
    } else if (v.type == GgufType::kF64) {
      Raw(&v.f, sizeof v.f);
    } else {
      // Two's complement: the low n bytes of the 64-bit value are the n-byte value.
      const uint64_t bits = (v.type == GgufType::kI8 || v.type == GgufType::kI16 ||
                             v.type == GgufType::kI32 || v.type == GgufType::kI64)
                                ? static_cast<uint64_t>(v.i)
                                : v.u;
      Raw(&bits, n);  // little-endian host (x86, aarch64)
    }
  }
};

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace

RopeStyle GgufRopeStyle(Arch arch) { return GetArchInfo(arch).gguf_rope_style; }

std::vector<GgufExtraKv> GgufTokenizerMetadata(const GgufFile& g) {
  std::vector<GgufExtraKv> out;
  for (const auto& [key, value] : g.metadata()) {
    if (key.rfind("tokenizer.", 0) == 0) out.push_back({key, &value});
  }
  return out;
}

Status WriteGguf(const ModelWeights& w, const std::string& path,
                 std::span<const GgufExtraKv> extra, const GgufWriteOptions& options) {
  const ModelConfig& c = w.config;
  DETINFER_RETURN_IF_ERROR(c.Validate("GGUF writer"));
  const RopeStyle target = GgufRopeStyle(c.arch);
  std::vector<AlignedBuffer> joined;  // fused tensors (file_tensors.h)
  DETINFER_ASSIGN_OR_RETURN(std::vector<FileTensor> entries, ListFileTensors(w, target, &joined));
  // Gemma's norms: llama.cpp's files hold 1 + w (its converter adds the one), in f32.
  std::vector<std::vector<float>> plus_one;
  if (GetArchInfo(c.arch).norm_plus_one) {
    for (FileTensor& e : entries) {
      if (!IsVectorRole(e.role)) continue;
      std::vector<float>& v = plus_one.emplace_back(static_cast<size_t>(e.view.numel()));
      ConvertToF32(e.view.dtype, e.view.data, v.data(), v.size());
      for (float& x : v) x = 1.0f + x;
      e.view = TensorView::Contiguous(v.data(), DType::kF32, {e.view.shape[0]});
    }
  }
  // GGUF stores these counts as u32 (llama.cpp checks the type).
  const std::pair<const char*, int64_t> counts[] = {
      {"dim", c.dim},           {"n_layers", c.n_layers}, {"n_heads", c.n_heads},
      {"n_kv_heads", c.n_kv_heads}, {"head_dim", c.head_dim}, {"ffn_dim", c.ffn_dim},
      {"max_seq_len", c.max_seq_len}};
  for (const auto& [name, v] : counts) {
    if (v > static_cast<int64_t>(UINT32_MAX)) {
      return Status::OutOfRange("GGUF writer: " + std::string(name) + " = " + std::to_string(v) +
                                " does not fit GGUF's u32");
    }
  }

  const std::string arch(GetArchInfo(c.arch).gguf_name);
  HeaderBuilder kv;
  auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  kv.KvStr("general.architecture", arch);
  kv.KvU32("general.alignment", kGgufWriteAlignment);
  kv.KvStr("general.name", "detinfer-" + arch);
  // The file's main format is that of the first layer's wq; a K-quant mix has Q6_K tensors too.
  const DType main_dtype = w.layers.empty() ? w.token_embedding.dtype : w.layers[0].wq.dtype;
  bool mixed = false;
  for (const LayerWeights& l : w.layers) {
    for (const TensorView* t : {&l.wv, c.IsMoe() ? &l.experts_down : &l.w_down}) {
      mixed = mixed || t->dtype != main_dtype;
    }
  }
  kv.KvU32("general.file_type", FileType(main_dtype, mixed || w.lm_head.dtype != main_dtype));
  kv.KvU32(arch + ".context_length", u32(c.max_seq_len));
  kv.KvU32(arch + ".embedding_length", u32(c.dim));
  kv.KvU32(arch + ".block_count", u32(c.n_layers));
  kv.KvU32(arch + ".feed_forward_length", u32(c.ffn_dim));
  kv.KvU32(arch + ".attention.head_count", u32(c.n_heads));
  kv.KvU32(arch + ".attention.head_count_kv", u32(c.n_kv_heads));
  kv.KvU32(arch + ".attention.key_length", u32(c.head_dim));
  kv.KvU32(arch + ".attention.value_length", u32(c.head_dim));
  kv.KvU32(arch + ".rope.dimension_count", u32(c.RotaryDim()));
  kv.KvF32(arch + ".rope.freq_base", static_cast<float>(c.rope_theta));
  kv.KvF32(arch + ".attention.layer_norm_rms_epsilon", c.norm_eps);
  if (c.rope_scaling.kind == RopeScaling::Kind::kYarn) {
    // llama.cpp's yarn (ext_factor, its own ramp and mscale) is not transformers' formula
    // that detinfer runs: a file it would read differently is not written.
    return Status::Unsupported("GGUF writer: yarn RoPE scaling (transformers' definition) has no "
                               "GGUF form that llama.cpp reads the same way; write the model as HF");
  }
  if (c.sliding_window > 0) kv.KvU32(arch + ".attention.sliding_window", u32(c.sliding_window));
  if (GetArchInfo(c.arch).post_norms) {
    // llama.cpp's gemma2 keys; query_pre_attn_scalar has none there (llama.cpp derives it from
    // the model size), so detinfer writes its own key and reads it back.
    if (c.attn_logit_softcap > 0) kv.KvF32(arch + ".attn_logit_softcapping", c.attn_logit_softcap);
    if (c.final_logit_softcap > 0) {
      kv.KvF32(arch + ".final_logit_softcapping", c.final_logit_softcap);
    }
    if (c.rope_local_theta > 0) {  // llama.cpp's gemma3 hard-codes 10000; detinfer's own key
      kv.KvF32(arch + ".rope.local_freq_base", static_cast<float>(c.rope_local_theta));
    }
    kv.KvF32(arch + ".attention.query_pre_attn_scalar",
             static_cast<float>(c.query_pre_attn_scalar > 0 ? c.query_pre_attn_scalar
                                                            : double(c.head_dim)));
  }
  if (c.rope_scaling.kind == RopeScaling::Kind::kLinear) {
    // llama.cpp's form (its converter's add_rope_scaling_type / _factor); the loader reads it
    // back to the same divisors (fp32 of the factor).
    kv.KvStr(arch + ".rope.scaling.type", "linear");
    kv.KvF32(arch + ".rope.scaling.factor", static_cast<float>(c.rope_scaling.factor));
  }
  if (c.rope_scaling.kind == RopeScaling::Kind::kLongRope) {
    const RopeScaling& rs = c.rope_scaling;
    if (rs.original_max_positions <= 0 || rs.original_max_positions > int64_t{UINT32_MAX}) {
      return Status::OutOfRange("GGUF writer: longrope original context " +
                                std::to_string(rs.original_max_positions) +
                                " does not fit GGUF's u32");
    }
    kv.KvU32(arch + ".rope.scaling.original_context_length", u32(rs.original_max_positions));
    kv.KvF32(arch + ".rope.scaling.attn_factor", static_cast<float>(rs.attention_factor));
  }
  if (c.IsMoe()) {
    // llama.cpp's keys (gguf_loader.cc reads them back).
    kv.KvU32(arch + ".expert_count", u32(c.n_experts));
    kv.KvU32(arch + ".expert_used_count", u32(c.n_experts_used));
    if (c.arch == Arch::kQwen3Moe) {
      kv.KvU32(arch + ".expert_feed_forward_length", u32(c.expert_ffn_dim));
      if (!c.moe_renormalize) {  // llama.cpp's qwen3moe always renormalises: say otherwise
        kv.Str(arch + ".expert_weights_norm");
        kv.U32(kGgufBool);
        kv.bytes.push_back(0);
        ++kv.kv_count;
      }
    } else if (c.expert_ffn_dim != c.ffn_dim) {
      return Status::Unsupported("GGUF writer: mixtral's expert FFN size is its "
                                 "feed_forward_length; expert_ffn_dim " +
                                 std::to_string(c.expert_ffn_dim) + " != ffn_dim " +
                                 std::to_string(c.ffn_dim));
    }
  }
  for (const GgufExtraKv& e : extra) {
    if (e.key.rfind("general.", 0) == 0 || e.key.rfind(arch + ".", 0) == 0) {
      return Status::InvalidArgument("GGUF writer: extra metadata key '" + e.key +
                                     "' is one the writer sets itself");
    }
    kv.KvValue(e.key, *e.value);
  }

  // The file's tensors by name: stacked experts as one [n_experts * rows, cols] tensor (GGUF
  // dims [cols, rows, n_experts]), or with per_expert_tensors one [rows, cols] tensor each.
  if (options.per_expert_tensors && c.arch != Arch::kMixtral) {
    return Status::InvalidArgument("GGUF writer: per-expert tensors are early Mixtral files' "
                                   "layout; a " + std::string(ArchName(c.arch)) +
                                   " model has none");
  }
  struct Named {
    std::string name;
    FileTensor t;
  };
  std::vector<Named> named;
  for (const FileTensor& e : entries) {
    if (e.view.rank == 3 && options.per_expert_tensors) {
      if (!e.view.is_contiguous()) {
        return Status::Internal("GGUF writer: stacked expert tensor is not contiguous");
      }
      const int64_t rows = e.view.shape[1], cols = e.view.shape[2];
      const size_t bytes = StorageBytes(e.view.dtype, rows * cols);
      for (int64_t x = 0; x < e.view.shape[0]; ++x) {
        FileTensor one = e;
        one.view = TensorView::Contiguous(static_cast<uint8_t*>(e.view.data) + size_t(x) * bytes,
                                          e.view.dtype, {rows, cols});
        named.push_back({GgufExpertTensorName(c.arch, e.role, e.layer, x), one});
      }
    } else {
      named.push_back({GgufTensorName(c.arch, e.role, e.layer), e});
    }
  }

  HeaderBuilder infos;
  std::vector<uint64_t> offsets;
  uint64_t data_size = 0;
  for (const Named& n : named) {
    const TensorView& t = n.t.view;
    infos.Str(n.name);
    infos.U32(static_cast<uint32_t>(t.rank));
    for (int d = t.rank - 1; d >= 0; --d) infos.U64(static_cast<uint64_t>(t.shape[d]));
    infos.U32(GgmlType(t.dtype));
    data_size = AlignUp(data_size, kGgufWriteAlignment);
    offsets.push_back(data_size);
    infos.U64(data_size);
    data_size += TensorBytes(t);
  }
  // RoPE frequency scaling as llama.cpp stores it: one fp32 divisor per frequency, or for
  // longrope both factor lists (the choice between them is the loader's, rope_scaling.h).
  std::vector<std::pair<const char*, std::vector<float>>> factor_tensors;
  if (c.rope_scaling.kind == RopeScaling::Kind::kLongRope) {
    const RopeScaling& rs = c.rope_scaling;
    factor_tensors.emplace_back(kGgufRopeFactorsLong,
                                std::vector<float>(rs.long_factor.begin(), rs.long_factor.end()));
    factor_tensors.emplace_back(kGgufRopeFactorsShort,
                                std::vector<float>(rs.short_factor.begin(), rs.short_factor.end()));
  } else if (c.rope_scaling.kind != RopeScaling::Kind::kLinear &&
             !c.rope_scaling.divisors.empty()) {
    factor_tensors.emplace_back(kGgufRopeFreqsName, c.rope_scaling.divisors);
  }
  std::vector<uint64_t> factor_offsets;
  for (const auto& [name, values] : factor_tensors) {
    infos.Str(name);
    infos.U32(1);
    infos.U64(values.size());
    infos.U32(GgmlType(DType::kF32));
    data_size = AlignUp(data_size, kGgufWriteAlignment);
    factor_offsets.push_back(data_size);
    infos.U64(data_size);
    data_size += values.size() * sizeof(float);
  }

  HeaderBuilder head;
  head.U32(0x46554747u);  // "GGUF" read as a little-endian u32
  head.U32(3);
  head.U64(named.size() + factor_tensors.size());
  head.U64(kv.kv_count);

  FileSink sink;
  DETINFER_RETURN_IF_ERROR(sink.Open(path));
  DETINFER_RETURN_IF_ERROR(sink.Write(head.bytes.data(), head.bytes.size()));
  DETINFER_RETURN_IF_ERROR(sink.Write(kv.bytes.data(), kv.bytes.size()));
  DETINFER_RETURN_IF_ERROR(sink.Write(infos.bytes.data(), infos.bytes.size()));
  const uint64_t data_start = AlignUp(sink.offset(), kGgufWriteAlignment);
  DETINFER_RETURN_IF_ERROR(sink.WriteZeros(data_start - sink.offset()));
  for (size_t i = 0; i < named.size(); ++i) {
    const FileTensor& e = named[i].t;
    DETINFER_RETURN_IF_ERROR(sink.WriteZeros(data_start + offsets[i] - sink.offset()));
    TensorView rows = e.view;
    if (rows.rank == 3) {  // stacked experts, contiguous: written as [n_experts * rows, cols]
      if (!rows.is_contiguous()) {
        return Status::Internal("GGUF writer: stacked expert tensor is not contiguous");
      }
      rows = TensorView::Contiguous(rows.data, rows.dtype,
                                    {rows.shape[0] * rows.shape[1], rows.shape[2]});
    }
    DETINFER_RETURN_IF_ERROR(WriteTensorRows(sink, rows, c.head_dim,
                                             e.rope_ordered ? c.rope_style : target, target));
  }
  for (size_t i = 0; i < factor_tensors.size(); ++i) {
    const std::vector<float>& values = factor_tensors[i].second;
    DETINFER_RETURN_IF_ERROR(sink.WriteZeros(data_start + factor_offsets[i] - sink.offset()));
    DETINFER_RETURN_IF_ERROR(sink.Write(values.data(), values.size() * sizeof(float)));
  }
  return sink.Commit();
}

}  // namespace detinfer
