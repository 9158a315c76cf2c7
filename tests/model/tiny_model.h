// A tiny synthetic model (dim 8, 2 layers, 2 heads, 1 KV head, head_dim 4, ffn 12, vocab 16)
// written as a Hugging Face directory or a GGUF file, for tests that need whole models the
// shared files do not cover (Qwen2 biases, Qwen3 q/k norms, shards) or that break one piece.
#ifndef DETINFER_TESTS_MODEL_TINY_MODEL_H_
#define DETINFER_TESTS_MODEL_TINY_MODEL_H_

#include <string>
#include <vector>

#include "model/config.h"
#include "model_test_util.h"

namespace detinfer::testing {

struct TinyTensor {
  std::string name;
  std::vector<int64_t> shape;  // outermost first
  std::vector<float> values;
};

inline constexpr int64_t kTinyDim = 8, kTinyLayers = 2, kTinyHeads = 2, kTinyKvHeads = 1,
                         kTinyHeadDim = 4, kTinyFfn = 12, kTinyVocab = 16, kTinyCtx = 32;

// Every tensor of the tiny model under Hugging Face (hf = true) or GGUF names; values are
// distinct per tensor (seeded by its position in the list).
inline std::vector<TinyTensor> TinyTensors(Arch arch, bool hf, bool tied = true) {
  const int64_t d = kTinyDim, q = kTinyHeads * kTinyHeadDim, kv = kTinyKvHeads * kTinyHeadDim;
  std::vector<TinyTensor> t;
  auto add = [&](std::string name, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    t.push_back({std::move(name), std::move(shape),
                 RandomFloats(static_cast<size_t>(n), 1000 + t.size())});
  };
  add(hf ? "model.embed_tokens.weight" : "token_embd.weight", {kTinyVocab, d});
  add(hf ? "model.norm.weight" : "output_norm.weight", {d});
  if (!tied) add(hf ? "lm_head.weight" : "output.weight", {kTinyVocab, d});
  for (int64_t l = 0; l < kTinyLayers; ++l) {
    const std::string p = (hf ? "model.layers." : "blk.") + std::to_string(l) + ".";
    auto n = [&](const char* h, const char* g) { return p + (hf ? h : g); };
    add(n("input_layernorm.weight", "attn_norm.weight"), {d});
    add(n("self_attn.q_proj.weight", "attn_q.weight"), {q, d});
    add(n("self_attn.k_proj.weight", "attn_k.weight"), {kv, d});
    add(n("self_attn.v_proj.weight", "attn_v.weight"), {kv, d});
    add(n("self_attn.o_proj.weight", "attn_output.weight"), {d, q});
    if (arch == Arch::kQwen2) {
      add(n("self_attn.q_proj.bias", "attn_q.bias"), {q});
      add(n("self_attn.k_proj.bias", "attn_k.bias"), {kv});
      add(n("self_attn.v_proj.bias", "attn_v.bias"), {kv});
    }
    if (arch == Arch::kQwen3) {
      add(n("self_attn.q_norm.weight", "attn_q_norm.weight"), {kTinyHeadDim});
      add(n("self_attn.k_norm.weight", "attn_k_norm.weight"), {kTinyHeadDim});
    }
    add(n("post_attention_layernorm.weight", "ffn_norm.weight"), {d});
    add(n("mlp.gate_proj.weight", "ffn_gate.weight"), {kTinyFfn, d});
    add(n("mlp.up_proj.weight", "ffn_up.weight"), {kTinyFfn, d});
    add(n("mlp.down_proj.weight", "ffn_down.weight"), {d, kTinyFfn});
  }
  return t;
}

inline std::string TinyHfConfig(Arch arch, bool tied = true) {
  const char* name = arch == Arch::kLlama   ? "LlamaForCausalLM"
                     : arch == Arch::kQwen2 ? "Qwen2ForCausalLM"
                                            : "Qwen3ForCausalLM";
  return std::string("{\"architectures\": [\"") + name +
         "\"], \"hidden_size\": 8, \"num_hidden_layers\": 2, \"num_attention_heads\": 2, "
         "\"num_key_value_heads\": 1, \"head_dim\": 4, \"intermediate_size\": 12, "
         "\"vocab_size\": 16, \"max_position_embeddings\": 32, \"rope_theta\": 1000000.0, "
         "\"rms_norm_eps\": 1e-06, \"hidden_act\": \"silu\", \"tie_word_embeddings\": " +
         (tied ? "true" : "false") + "}";
}

// A safetensors file holding `tensors` as F32, in order.
inline Bytes TinySafetensors(const std::vector<TinyTensor>& tensors) {
  std::string header = "{\"__metadata__\": {\"format\": \"pt\"}";
  Bytes data;
  for (const auto& t : tensors) {
    std::string shape;
    for (int64_t s : t.shape) {
      if (!shape.empty()) shape += ',';
      shape += std::to_string(s);
    }
    const size_t begin = data.size();
    PutBytes(&data, t.values.data(), t.values.size() * 4);
    header += ", \"" + t.name + "\": {\"dtype\": \"F32\", \"shape\": [" + shape +
              "], \"data_offsets\": [" + std::to_string(begin) + ", " +
              std::to_string(data.size()) + "]}";
  }
  return SafetensorsBytes(header + "}", data);
}

inline void WriteTinyHf(const std::string& dir, Arch arch, bool tied = true) {
  WriteText(dir + "/config.json", TinyHfConfig(arch, tied));
  WriteFile(dir + "/model.safetensors", TinySafetensors(TinyTensors(arch, true, tied)));
}

// The tiny model as GGUF (F32 tensors, ne innermost-first).
inline GgufBuilder TinyGguf(Arch arch, bool tied = true) {
  GgufBuilder g;
  const std::string a(ArchName(arch));
  g.KvString("general.architecture", a);
  g.KvU32(a + ".embedding_length", kTinyDim);
  g.KvU32(a + ".block_count", kTinyLayers);
  g.KvU32(a + ".attention.head_count", kTinyHeads);
  g.KvU32(a + ".attention.head_count_kv", kTinyKvHeads);
  g.KvU32(a + ".attention.key_length", kTinyHeadDim);
  g.KvU32(a + ".feed_forward_length", kTinyFfn);
  g.KvU32(a + ".context_length", kTinyCtx);
  g.KvF32(a + ".rope.freq_base", 1e6f);
  g.KvF32(a + ".attention.layer_norm_rms_epsilon", 1e-6f);
  std::vector<std::string> tokens;
  for (int i = 0; i < kTinyVocab; ++i) {
    std::string tok = "t";  // not "t" + ...: GCC 12 warns falsely (-Wrestrict) on that
    tok += std::to_string(i);
    tokens.push_back(tok);
  }
  g.KvStrings("tokenizer.ggml.tokens", tokens);
  for (const auto& t : TinyTensors(arch, false, tied)) {
    std::vector<uint64_t> ne(t.shape.rbegin(), t.shape.rend());
    g.AddF32(t.name, ne, t.values);
  }
  return g;
}

}  // namespace detinfer::testing

#endif  // DETINFER_TESTS_MODEL_TINY_MODEL_H_
