#include "model/gguf_vocab.h"

#include <cstring>
#include <string>
#include <vector>

#include "tokenizer/vocab_tokenizer.h"

namespace detinfer {

namespace {

template <typename T>
std::vector<T> NumericArray(const GgufValue& v) {
  std::vector<T> out(static_cast<size_t>(v.count));
  if (v.count > 0) std::memcpy(out.data(), v.raw, out.size() * sizeof(T));
  return out;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> GgufTokenizer(const GgufFile& g) {
  const GgufValue* tokens = g.Find("tokenizer.ggml.tokens");
  if (tokens == nullptr) return std::unique_ptr<Tokenizer>();
  GgufVocab v;
  v.source = g.path();
  auto model = g.GetString("tokenizer.ggml.model");
  v.model = model.ok() ? std::string(*model) : "llama";
  auto pre = g.GetString("tokenizer.ggml.pre");
  if (pre.ok()) v.pre = std::string(*pre);
  for (std::string_view t : tokens->strings) v.tokens.emplace_back(t);
  if (const GgufValue* s = g.Find("tokenizer.ggml.scores"); s && s->elem_type == GgufType::kF32) {
    v.scores = NumericArray<float>(*s);
  }
  if (const GgufValue* t = g.Find("tokenizer.ggml.token_type");
      t && (t->elem_type == GgufType::kI32 || t->elem_type == GgufType::kU32)) {
    v.types = NumericArray<int32_t>(*t);
  }
  if (const GgufValue* m = g.Find("tokenizer.ggml.merges")) {
    for (std::string_view s : m->strings) v.merges.emplace_back(s);
  }
  const int64_t n = static_cast<int64_t>(v.tokens.size());
  auto id = [&](const char* key) -> int32_t {
    auto r = g.GetInt(key, 0, n > 0 ? n - 1 : 0);
    return r.ok() ? static_cast<int32_t>(*r) : -1;
  };
  v.bos_id = id("tokenizer.ggml.bos_token_id");
  v.eos_id = id("tokenizer.ggml.eos_token_id");
  v.unk_id = id("tokenizer.ggml.unknown_token_id");
  if (const GgufValue* a = g.Find("tokenizer.ggml.add_space_prefix");
      a && a->type == GgufType::kBool) {
    v.add_space_prefix = a->u != 0;
  }
  if (const GgufValue* a = g.Find("tokenizer.ggml.add_bos_token"); a && a->type == GgufType::kBool) {
    v.add_bos = a->u != 0;
  }
  if (const GgufValue* a = g.Find("tokenizer.ggml.add_eos_token"); a && a->type == GgufType::kBool) {
    v.add_eos = a->u != 0;
  }
  return MakeGgufTokenizer(std::move(v));
}

}  // namespace detinfer
