// Mixture of experts (Qwen3-MoE, Mixtral): both file layouts (Hugging Face per-expert tensors,
// GGUF stacked ffn_*_exps) give the same bits; a token's bits never depend on which or how many
// other tokens chose the same experts, on chunking, on decode vs prefill, on threads or on the
// ISA path; ties in routing go to the lowest expert id; and bad files are errors naming the
// tensor or field. Accuracy against the float64 transformers reference is in hf_oracle_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/storage_format.h"
#include "model/forward_test_util.h"
#include "model/arch.h"
#include "model/gguf.h"
#include "model/gguf_writer.h"
#include "model/hf_loader.h"
#include "model/hf_writer.h"
#include "model/loader.h"
#include "model/model_test_util.h"
#include "model/random_init.h"
#include "model/safetensors.h"
#include "model/transformer.h"
#include "model/weight_recipe.h"
#include "model/weight_update.h"
#include "model/writer_test_util.h"
#include "test_util.h"
#include "train/param_layout.h"

namespace detinfer {
namespace {

using nlohmann::json;

ModelConfig MoeConfig(Arch arch, int64_t experts = 8, int64_t used = 2) {
  ModelConfig c = testing::SmallConfig(arch);
  c.n_experts = experts;
  c.n_experts_used = used;
  c.expert_ffn_dim = arch == Arch::kMixtral ? c.ffn_dim : 24;
  c.moe_renormalize = true;
  if (arch == Arch::kQwen3Moe) {
    c.qk_norm = true;
    c.head_dim = 16;
  }
  if (arch == Arch::kMixtral) c.norm_eps = 1e-5f;
  return c;
}

std::vector<float> MoeFileLogits(const std::string& path, const std::vector<int32_t>& tokens) {
  auto w = LoadModel(path);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  if (!w.ok()) return {};
  auto t = Transformer::Create(std::move(*w));
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  if (!t.ok()) return {};
  return testing::LogitsInChunks(*t, KernelContext{}, tokens, tokens.size());
}

TEST(MoeTest, HuggingFaceAndGgufLayoutsGiveTheSameBits) {
  const std::vector<int32_t> tokens = testing::MixedTokens(13, 3, 37);
  for (const Arch arch : {Arch::kQwen3Moe, Arch::kMixtral}) {
    for (const DType dt : {DType::kF32, DType::kBF16}) {
      SCOPED_TRACE(std::string(ArchName(arch)) + " " + std::string(DTypeName(dt)));
      const ModelConfig c = MoeConfig(arch);
      auto w = InitRandomModel(c, 7, dt);
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      testing::TempDir dir;
      ASSERT_TRUE(WriteHuggingFace(*w, dir.path()).ok());
      const std::string gguf = dir.file("model.gguf");
      const Status written = WriteGguf(*w, gguf);
      ASSERT_TRUE(written.ok()) << written.ToString();

      // Hugging Face: one tensor per expert under the model's own names.
      auto st = SafetensorsFile::Open(dir.file("model.safetensors"));
      ASSERT_TRUE(st.ok());
      const bool mixtral = arch == Arch::kMixtral;
      EXPECT_NE(st->Find(mixtral ? "model.layers.1.block_sparse_moe.experts.7.w2.weight"
                                 : "model.layers.1.mlp.experts.7.down_proj.weight"),
                nullptr);
      EXPECT_NE(st->Find(mixtral ? "model.layers.1.block_sparse_moe.gate.weight"
                                 : "model.layers.1.mlp.gate.weight"),
                nullptr);
      EXPECT_EQ(st->Find("model.layers.1.mlp.gate_proj.weight"), nullptr);
      std::ifstream in(dir.file("config.json"));
      const json config = json::parse(in);
      EXPECT_EQ(config["architectures"][0], mixtral ? "MixtralForCausalLM" : "Qwen3MoeForCausalLM");
      EXPECT_EQ(config[mixtral ? "num_local_experts" : "num_experts"], 8);
      EXPECT_EQ(config["num_experts_per_tok"], 2);
      // GGUF: llama.cpp's stacked tensors and keys; Mixtral is "llama" with experts.
      auto g = ::detinfer::GgufFile::Open(gguf);
      ASSERT_TRUE(g.ok());
      const std::string a = mixtral ? "llama" : "qwen3moe";
      auto general = g->GetString("general.architecture");
      ASSERT_TRUE(general.ok());
      EXPECT_EQ(*general, a);
      ASSERT_EQ(g->tensors().count("blk.1.ffn_down_exps.weight"), 1u);
      const auto& ne = g->tensors().at("blk.1.ffn_down_exps.weight").ne;
      EXPECT_EQ(ne[0], c.expert_ffn_dim);
      EXPECT_EQ(ne[1], c.dim);
      EXPECT_EQ(ne[2], c.n_experts);
      EXPECT_EQ(g->tensors().count("blk.1.ffn_gate_inp.weight"), 1u);
      EXPECT_EQ(g->tensors().count("blk.1.ffn_gate.weight"), 0u);
      auto count = g->GetInt(a + ".expert_count", 0, 1000);
      ASSERT_TRUE(count.ok());
      EXPECT_EQ(*count, 8);

      auto from_gguf = LoadModel(gguf);
      ASSERT_TRUE(from_gguf.ok()) << from_gguf.status().ToString();
      EXPECT_EQ(from_gguf->config.arch, arch);
      EXPECT_EQ(from_gguf->config.n_experts, 8);
      EXPECT_EQ(from_gguf->config.n_experts_used, 2);
      EXPECT_EQ(from_gguf->config.expert_ffn_dim, c.expert_ffn_dim);
      EXPECT_TRUE(from_gguf->config.moe_renormalize);

      const std::vector<float> hf = MoeFileLogits(dir.path(), tokens);
      const std::vector<float> gg = MoeFileLogits(gguf, tokens);
      ASSERT_FALSE(hf.empty());
      EXPECT_TRUE(testing::BitsEqual(hf, gg));
      // And as the in-memory weights give them.
      auto mem = Transformer::Create(std::move(*w));
      ASSERT_TRUE(mem.ok());
      EXPECT_TRUE(testing::BitsEqual(testing::LogitsInChunks(*mem, KernelContext{}, tokens, tokens.size()), hf));

      // GGUF -> HF -> GGUF again: the same bytes of expert tensors.
      testing::TempDir again;
      ASSERT_TRUE(WriteHuggingFace(*LoadModel(gguf), again.path()).ok());
      ASSERT_TRUE(WriteGguf(*LoadModel(again.path()), again.file("m.gguf")).ok());
      EXPECT_EQ(testing::ReadBytes(gguf), testing::ReadBytes(again.file("m.gguf")));
    }
  }
  // Qwen3-MoE without renormalisation keeps it through GGUF (expert_weights_norm false).
  ModelConfig c = MoeConfig(Arch::kQwen3Moe);
  c.moe_renormalize = false;
  auto w = InitRandomModel(c, 7, DType::kF32);
  ASSERT_TRUE(w.ok());
  testing::TempDir dir;
  ASSERT_TRUE(WriteGguf(*w, dir.file("m.gguf")).ok());
  ASSERT_TRUE(WriteHuggingFace(*w, dir.path()).ok());
  auto back = LoadModel(dir.file("m.gguf"));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_FALSE(back->config.moe_renormalize);
  auto hf_back = LoadModel(dir.path());
  ASSERT_TRUE(hf_back.ok()) << hf_back.status().ToString();
  EXPECT_FALSE(hf_back->config.moe_renormalize);
  EXPECT_TRUE(testing::BitsEqual(MoeFileLogits(dir.path(), tokens),
                                 MoeFileLogits(dir.file("m.gguf"), tokens)));
}

// Quantised expert tensors: the stacked ffn_*_exps go through the same block-format matmul as
// dense weights (the router stays f32, as llama.cpp's quantize keeps it).
TEST(MoeTest, QuantisedExpertTensorsLoadAndRun) {
  const std::vector<int32_t> tokens = testing::MixedTokens(9, 4, 37);
  for (const char* recipe_name : {"q8_0", "q4_k"}) {
    SCOPED_TRACE(recipe_name);
    ModelConfig c = MoeConfig(Arch::kQwen3Moe);
    c.dim = 256;  // K-quants need rows of 256
    c.expert_ffn_dim = 256;
    c.n_heads = 4;
    c.head_dim = 64;
    auto recipe = ParseWeightRecipe(recipe_name);
    ASSERT_TRUE(recipe.ok());
    auto w = InitRandomModel(c, 9, *recipe);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_EQ(w->layers[0].router.dtype, DType::kF32);
    EXPECT_NE(w->layers[0].experts_gate.dtype, DType::kF32);
    testing::TempDir dir;
    const Status s = WriteGguf(*w, dir.file("q.gguf"));
    ASSERT_TRUE(s.ok()) << s.ToString();
    auto mem = Transformer::Create(std::move(*w));
    ASSERT_TRUE(mem.ok()) << mem.status().ToString();
    const std::vector<float> want = testing::LogitsInChunks(*mem, KernelContext{}, tokens, tokens.size());
    for (const float v : want) ASSERT_TRUE(std::isfinite(v));
    EXPECT_TRUE(testing::BitsEqual(MoeFileLogits(dir.file("q.gguf"), tokens), want));
    EXPECT_TRUE(testing::BitsEqual(testing::LogitsInChunks(*mem, KernelContext{}, tokens, 1), want));
  }
}

// SPEC §A1/§A2/§A3/§A6/§A7 under skewed routing: a sequence alone vs chunked, decoded token by
// token, and co-batched with sequences that choose the same experts (copies of its tokens, and
// one token repeated so that every row of the step piles onto the same two experts) or other
// ones, at every thread count and ISA path.
TEST(MoeTest, ATokensBitsNeverDependOnWhoElseChoseItsExperts) {
  for (const Arch arch : {Arch::kQwen3Moe, Arch::kMixtral}) {
    SCOPED_TRACE(ArchName(arch));
    const ModelConfig c = MoeConfig(arch, 8, arch == Arch::kMixtral ? 2 : 3);
    auto w = InitRandomModel(c, 21, DType::kF32);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    auto m = Transformer::Create(std::move(*w));
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    const int64_t V = c.vocab_size;
    const std::vector<int32_t> target = testing::MixedTokens(30, 1, V);
    auto ref = testing::MakeContext(Isa::kScalar, 1);
    const std::vector<float> alone = testing::LogitsInChunks(*m, ref.ctx, target, target.size());
    for (const size_t chunk : {size_t{1}, size_t{4}, size_t{7}}) {
      EXPECT_TRUE(testing::BitsEqual(testing::LogitsInChunks(*m, ref.ctx, target, chunk), alone)) << chunk;
    }
    const std::vector<int32_t> same = target;                       // the same experts
    const std::vector<int32_t> repeated(40, target[3]);             // all rows on one pair
    const std::vector<int32_t> other = testing::MixedTokens(40, 2, V);         // other experts
    for (const Isa isa : testing::TestableIsas()) {
      for (const int threads : {1, 2, 3}) {
        SCOPED_TRACE(testing::IsaString(isa) + " x" + std::to_string(threads));
        auto h = testing::MakeContext(isa, threads);
        auto cache = m->NewCache(200);
        ASSERT_TRUE(cache.ok());
        for (SeqId s : {0, 1, 2, 3}) ASSERT_TRUE(cache->AddSequence(s).ok());
        std::vector<float> out;
        // Step 1: the target's first 17 tokens between a copy of itself, a repeated token and
        // another prompt (the target second in the batch).
        const Segment step1[4] = {{1, 0, std::span(same).first(12), false},
                                  {0, 0, std::span(target).first(17), true},
                                  {2, 0, std::span(repeated).first(25), false},
                                  {3, 0, std::span(other).first(9), false}};
        ASSERT_TRUE(m->Forward(h.ctx, *cache, step1, &out).ok());
        ASSERT_TRUE(testing::BitsEqual(out.data() + V, alone.data(), size_t(17 * V)));
        // Then one token at a time, first in the batch, beside prefill chunks and decodes.
        for (int64_t p = 17; p < 30; ++p) {
          const int64_t r = 25 + (p - 17);
          const Segment step[3] = {{0, p, std::span(target).subspan(size_t(p), 1), false},
                                   {2, r, std::span(repeated).subspan(size_t(r), 1), false},
                                   {1, 12 + (p - 17), std::span(same).subspan(size_t(12 + (p - 17)), 1), false}};
          ASSERT_TRUE(m->Forward(h.ctx, *cache, step, &out).ok());
          ASSERT_TRUE(testing::BitsEqual(out.data(), alone.data() + p * V, size_t(V))) << p;
        }
      }
    }
  }
}

// Ties go to the lowest expert id: with a zero router every probability is 1/E, so experts
// 0 .. k-1 must be the chosen ones. The others are poisoned with NaN weights: choosing any of
// them would make the logits NaN.
TEST(MoeTest, RoutingTiesGoToTheLowestExpertId) {
  for (const Arch arch : {Arch::kQwen3Moe, Arch::kMixtral}) {
    SCOPED_TRACE(ArchName(arch));
    const ModelConfig c = MoeConfig(arch, 6, 2);
    auto w = InitRandomModel(c, 3, DType::kF32);
    ASSERT_TRUE(w.ok());
    for (LayerWeights& l : w->layers) {
      std::memset(l.router.data, 0, static_cast<size_t>(l.router.numel()) * sizeof(float));
      const int64_t per_expert = l.experts_down.shape[1] * l.experts_down.shape[2];
      auto* down = static_cast<float*>(l.experts_down.data);
      for (int64_t i = 2 * per_expert; i < l.experts_down.numel(); ++i) {
        down[i] = std::numeric_limits<float>::quiet_NaN();
      }
    }
    auto m = Transformer::Create(std::move(*w));
    ASSERT_TRUE(m.ok());
    const std::vector<float> logits = testing::LogitsInChunks(*m, KernelContext{}, testing::MixedTokens(8, 5, 37), 8);
    ASSERT_FALSE(logits.empty());
    for (const float v : logits) ASSERT_TRUE(std::isfinite(v));
  }
}

// Bad files: errors name the field, key or tensor.
TEST(MoeTest, BadExpertCountsAndTopKAreErrorsNamingTheFieldOrTensor) {
  auto w = InitRandomModel(MoeConfig(Arch::kQwen3Moe), 7, DType::kF32);
  ASSERT_TRUE(w.ok());
  testing::TempDir dir;
  ASSERT_TRUE(WriteHuggingFace(*w, dir.path()).ok());
  std::ifstream in(dir.file("config.json"));
  const json base = json::parse(in);
  in.close();
  const auto refused = [&](void (*edit)(json*), const std::string& needle) {
    json c = base;
    edit(&c);
    testing::WriteText(dir.file("config.json"), c.dump());
    auto r = LoadModel(dir.path());
    ASSERT_FALSE(r.ok()) << c.dump();
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  // The file has 8 experts: a config of 4 leaves experts 4.. unused, one of 9 misses expert 8.
  refused([](json* c) { (*c)["num_experts"] = 4; }, "model.layers.0.mlp.experts.4.");
  refused([](json* c) { (*c)["num_experts"] = 9; }, "model.layers.0.mlp.experts.8.gate_proj.weight");
  refused([](json* c) { (*c)["num_experts_per_tok"] = 9; }, "num_experts_per_tok");
  refused([](json* c) { (*c)["num_experts_per_tok"] = 0; }, "num_experts_per_tok");
  refused([](json* c) { (*c)["moe_intermediate_size"] = 20; },
          "model.layers.0.mlp.experts.0.gate_proj.weight");
  refused([](json* c) { (*c)["decoder_sparse_step"] = 2; }, "decoder_sparse_step");
  refused([](json* c) { (*c)["mlp_only_layers"] = {1}; }, "mlp_only_layers");
  refused([](json* c) { (*c)["shared_expert_intermediate_size"] = 64; },
          "shared_expert_intermediate_size");
  refused([](json* c) { (*c)["architectures"] = {"Qwen2MoeForCausalLM"}; },
          "Qwen2MoeForCausalLM");

  // GGUF: the keys patched in place (the u32 after the key and its type).
  const std::string gguf = dir.file("m.gguf");
  ASSERT_TRUE(WriteGguf(*w, gguf).ok());
  const std::vector<uint8_t> bytes = testing::ReadBytes(gguf);
  const auto patched = [&](const std::string& key, uint32_t value) {
    std::vector<uint8_t> b = bytes;
    const auto at = std::search(b.begin(), b.end(), key.begin(), key.end());
    EXPECT_NE(at, b.end()) << key;
    const size_t pos = static_cast<size_t>(at - b.begin()) + key.size() + 4;
    std::memcpy(b.data() + pos, &value, sizeof value);
    const std::string out = dir.file("patched.gguf");
    std::ofstream(out, std::ios::binary).write(reinterpret_cast<const char*>(b.data()),
                                               static_cast<std::streamsize>(b.size()));
    return out;
  };
  auto r = LoadModel(patched("qwen3moe.expert_used_count", 9));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("qwen3moe.expert_used_count 9 exceeds qwen3moe.expert_count 8"),
            std::string::npos)
      << r.status().message();
  r = LoadModel(patched("qwen3moe.expert_count", 4));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("layers.0.router has shape [8, 32] f32, expected [4, 32]"),
            std::string::npos)
      << r.status().message();
  r = LoadModel(patched("qwen3moe.expert_feed_forward_length", 20));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("experts_gate"), std::string::npos) << r.status().message();

  // A Mixtral GGUF without one of its stacked tensors: renamed, so that it is both missing and
  // unused.
  auto mix = InitRandomModel(MoeConfig(Arch::kMixtral), 7, DType::kF32);
  ASSERT_TRUE(mix.ok());
  ASSERT_TRUE(WriteGguf(*mix, gguf).ok());
  std::vector<uint8_t> b = testing::ReadBytes(gguf);
  const std::string name = "blk.1.ffn_up_exps.weight";
  const auto at = std::search(b.begin(), b.end(), name.begin(), name.end());
  ASSERT_NE(at, b.end());
  *(at + 14) = 'X';  // ffn_up_eXps
  std::ofstream(gguf, std::ios::binary).write(reinterpret_cast<const char*>(b.data()),
                                              static_cast<std::streamsize>(b.size()));
  r = LoadModel(gguf);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("blk.1.ffn_up_exps.weight"), std::string::npos)
      << r.status().message();
}

// Early Mixtral GGUF files hold each expert's matrices as their own tensors
// (blk.L.ffn_gate.E.weight, ...; llama.cpp's LLM_TENSOR_FFN_*_EXP) instead of the stacked
// ffn_*_exps. The loader stacks them (a copy, as for Hugging Face's per-expert tensors): one
// random Mixtral written in both layouts gives the same bits, in f32, bf16 and Q8_0; a missing
// expert, a shape or dtype that disagrees, both layouts in one layer are errors naming the
// tensor.
TEST(MoeTest, EarlyMixtralGgufPerExpertTensorsGiveTheStackedFilesBits) {
  const std::vector<int32_t> tokens = testing::MixedTokens(13, 3, 37);
  ModelConfig c = MoeConfig(Arch::kMixtral);
  c.ffn_dim = 64;  // rows of whole Q8_0 blocks for the down matrices
  c.expert_ffn_dim = 64;
  std::vector<uint8_t> per_expert_bytes, stacked_bytes;  // the f32 files, patched below
  testing::TempDir dir;
  for (const char* recipe_name : {"f32", "bf16", "q8_0"}) {
    SCOPED_TRACE(recipe_name);
    auto recipe = ParseWeightRecipe(recipe_name);
    ASSERT_TRUE(recipe.ok()) << recipe.status().ToString();
    auto w = InitRandomModel(c, 31, *recipe);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    const std::string stacked = dir.file(std::string("stacked-") + recipe_name + ".gguf");
    const std::string split = dir.file(std::string("split-") + recipe_name + ".gguf");
    ASSERT_TRUE(WriteGguf(*w, stacked).ok());
    GgufWriteOptions options;
    options.per_expert_tensors = true;
    const Status written = WriteGguf(*w, split, {}, options);
    ASSERT_TRUE(written.ok()) << written.ToString();
    auto g = ::detinfer::GgufFile::Open(split);
    ASSERT_TRUE(g.ok());
    EXPECT_EQ(g->tensors().count("blk.1.ffn_down_exps.weight"), 0u);
    ASSERT_EQ(g->tensors().count("blk.1.ffn_down.7.weight"), 1u);
    const auto& ne = g->tensors().at("blk.1.ffn_down.7.weight").ne;
    ASSERT_EQ(ne.size(), 2u);
    EXPECT_EQ(ne[0], c.expert_ffn_dim);
    EXPECT_EQ(ne[1], c.dim);
    EXPECT_EQ(g->tensors().count("blk.0.ffn_gate.0.weight"), 1u);
    EXPECT_EQ(g->tensors().count("blk.0.ffn_up.3.weight"), 1u);

    auto a = LoadModel(stacked), b = LoadModel(split);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    for (int64_t l = 0; l < c.n_layers; ++l) {
      const LayerWeights &x = a->layers[size_t(l)], &y = b->layers[size_t(l)];
      for (const auto& [s, t] : {std::pair{&x.experts_gate, &y.experts_gate},
                                 std::pair{&x.experts_up, &y.experts_up},
                                 std::pair{&x.experts_down, &y.experts_down}}) {
        ASSERT_EQ(t->rank, 3);
        ASSERT_EQ(s->ShapeString(), t->ShapeString());
        EXPECT_EQ(std::memcmp(s->data, t->data, StorageBytes(s->dtype, s->numel())), 0) << l;
      }
    }
    const std::vector<float> want = MoeFileLogits(stacked, tokens);
    ASSERT_FALSE(want.empty());
    EXPECT_TRUE(testing::BitsEqual(MoeFileLogits(split, tokens), want));
    auto mem = Transformer::Create(std::move(*w));
    ASSERT_TRUE(mem.ok());
    EXPECT_TRUE(testing::BitsEqual(
        testing::LogitsInChunks(*mem, KernelContext{}, tokens, tokens.size()), want));
    if (std::string(recipe_name) == "f32") {
      per_expert_bytes = testing::ReadBytes(split);
      stacked_bytes = testing::ReadBytes(stacked);
    }
  }

  // Errors, from the f32 files patched in place: `n` bytes of `value` written `after` bytes
  // past the end of `name` in its tensor info (name, u32 n_dims, u64 ne[], u32 type, u64
  // offset); `after` 0 with a new name of the same length renames the tensor.
  const auto patched = [&](std::vector<uint8_t> b, const std::string& name, size_t after,
                           const void* value, size_t n) {
    const auto at = std::search(b.begin(), b.end(), name.begin(), name.end());
    EXPECT_NE(at, b.end()) << name;
    if (at != b.end()) {
      std::memcpy(&*at + (after == 0 ? 0 : name.size() + after), value, n);
    }
    const std::string out = dir.file("patched.gguf");
    std::ofstream(out, std::ios::binary).write(reinterpret_cast<const char*>(b.data()),
                                               static_cast<std::streamsize>(b.size()));
    return LoadModel(out).status();
  };
  // A missing expert (renamed: missing and unused).
  EXPECT_TRUE(testing::FailsWith(patched(per_expert_bytes, "blk.1.ffn_up.5.weight", 0, "blk.1.ffn_up.5.weighX", 21),
                        {"missing tensor 'blk.1.ffn_up.5.weight'"}));
  // One expert's rows disagree with the config (and its fellows).
  const uint64_t rows = 16;
  EXPECT_TRUE(testing::FailsWith(patched(per_expert_bytes, "blk.0.ffn_down.2.weight", 4 + 8, &rows, 8),
                        {"'blk.0.ffn_down.2.weight' is [16, 64] f32", "row-major [32, 64]"}));
  // One expert in another dtype (f16, ggml type 1).
  const uint32_t f16 = 1;
  EXPECT_TRUE(testing::FailsWith(patched(per_expert_bytes, "blk.0.ffn_gate.1.weight", 4 + 16, &f16, 4),
                        {"'blk.0.ffn_gate.1.weight' is f16", "'blk.0.ffn_gate.0.weight' is f32"}));
  // Both layouts in one layer: the stacked file with a per-expert tensor beside the stacked one
  // (blk.1.ffn_norm.weight renamed; layer 0 is read first).
  EXPECT_TRUE(testing::FailsWith(patched(stacked_bytes, "blk.1.ffn_norm.weight", 0, "blk.0.ffn_up.0.weight", 21),
                        {"'blk.0.ffn_up_exps.weight' (stacked experts) and 'blk.0.ffn_up.0.weight'",
                         "both present"}));
  // Neither: the stacked tensor is named as missing, with the per-expert form.
  EXPECT_TRUE(testing::FailsWith(patched(stacked_bytes, "blk.1.ffn_gate_exps.weight", 0, "blk.1.ffn_gate_eXps.weight", 26),
                        {"missing tensor 'blk.1.ffn_gate_exps.weight'", "'blk.1.ffn_gate.0.weight'"}));
  // Only Mixtral has the per-expert layout: Qwen3-MoE's is refused by the writer (and its
  // loader takes the stacked tensors only).
  auto q = InitRandomModel(MoeConfig(Arch::kQwen3Moe), 7, DType::kF32);
  ASSERT_TRUE(q.ok());
  GgufWriteOptions options;
  options.per_expert_tensors = true;
  EXPECT_TRUE(testing::FailsWith(WriteGguf(*q, dir.file("q.gguf"), {}, options), {"qwen3_moe"}));
}

TEST(MoeTest, ConfigsAreReadAsTransformersReadsThem) {
  const json mixtral = {{"architectures", {"MixtralForCausalLM"}}, {"hidden_size", 32},
                        {"num_hidden_layers", 1}, {"num_attention_heads", 4},
                        {"num_key_value_heads", 2}, {"intermediate_size", 48},
                        {"vocab_size", 37}, {"max_position_embeddings", 4096},
                        {"sliding_window", nullptr}};
  auto c = ParseHfConfig(mixtral.dump(), "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->arch, Arch::kMixtral);
  EXPECT_EQ(c->n_experts, 8);  // MixtralConfig's defaults
  EXPECT_EQ(c->n_experts_used, 2);
  EXPECT_EQ(c->expert_ffn_dim, 48);
  EXPECT_TRUE(c->moe_renormalize);
  EXPECT_EQ(c->norm_eps, 1e-5f);
  EXPECT_EQ(c->rope_theta, 1e6);
  EXPECT_EQ(c->rope_style, RopeStyle::kRotateHalf);

  json qwen = mixtral;
  qwen["architectures"] = {"Qwen3MoeForCausalLM"};
  qwen["num_experts"] = 16;
  qwen["num_experts_per_tok"] = 4;
  qwen["moe_intermediate_size"] = 24;
  c = ParseHfConfig(qwen.dump(), "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->arch, Arch::kQwen3Moe);
  EXPECT_EQ(c->n_experts, 16);
  EXPECT_EQ(c->n_experts_used, 4);
  EXPECT_EQ(c->expert_ffn_dim, 24);
  EXPECT_EQ(c->ffn_dim, 48);
  EXPECT_FALSE(c->moe_renormalize);  // Qwen3MoeConfig's norm_topk_prob default
  EXPECT_TRUE(c->qk_norm);
  EXPECT_EQ(c->rope_theta, 10000.0);
  EXPECT_EQ(c->norm_eps, 1e-6f);
  qwen["norm_topk_prob"] = true;
  c = ParseHfConfig(qwen.dump(), "config.json");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->moe_renormalize);
}

// SPEC §A11 through updates by name: a mixture of experts takes its matrices one expert at a
// time under their Hugging Face names. All of a donor's tensors give the donor's bits; one
// expert's gate alone gives the bits of a fresh model whose stacked tensor differs in that slice.
TEST(MoeTest, UpdatesByNameTakeOneExpertAtATime) {
  for (const Arch arch : {Arch::kQwen3Moe, Arch::kMixtral}) {
    SCOPED_TRACE(ArchName(arch));
    const ModelConfig c = MoeConfig(arch);
    const std::vector<int32_t> tokens = testing::MixedTokens(11, 6, c.vocab_size);
    auto base = InitRandomModel(c, 1, DType::kBF16);
    auto donor = InitRandomModel(c, 2, DType::kBF16);
    ASSERT_TRUE(base.ok() && donor.ok());
    auto current = Transformer::Create(std::move(*base));
    ASSERT_TRUE(current.ok());

    std::vector<NamedTensor> all;
    ModelWeights& d = *donor;
    for (const auto& [role, layer] : ListFileRoles(c)) {
      const TensorView& v = *MutableViewOf(d, role, layer);
      const int64_t experts = IsStackedExpertRole(role) ? v.shape[0] : 1;
      for (int64_t e = 0; e < experts; ++e) {
        NamedTensor t;
        t.dtype = v.dtype;
        if (IsStackedExpertRole(role)) {
          t.name = HfExpertTensorName(arch, role, layer, e);
          t.shape = {v.shape[1], v.shape[2]};
        } else {
          t.name = HfTensorName(arch, role, layer);
          t.shape.assign(v.shape, v.shape + v.rank);
        }
        const size_t bytes = StorageBytes(v.dtype, v.numel() / experts);
        t.bytes = std::span(static_cast<const uint8_t*>(v.data) + static_cast<size_t>(e) * bytes,
                            bytes);
        all.push_back(std::move(t));
      }
    }
    auto updated = BuildFromTensors(*current, all, KernelContext{});
    ASSERT_TRUE(updated.ok()) << updated.status().ToString();
    auto fresh = InitRandomModel(c, 2, DType::kBF16);
    auto fresh_model = Transformer::Create(std::move(*fresh));
    ASSERT_TRUE(fresh_model.ok());
    const std::vector<float> want = testing::LogitsInChunks(*fresh_model, KernelContext{}, tokens, tokens.size());
    EXPECT_TRUE(testing::BitsEqual(testing::LogitsInChunks(*updated, KernelContext{}, tokens, tokens.size()), want));
    EXPECT_EQ(updated->weight_hash(), fresh_model->weight_hash());

    // One expert's gate of layer 1: the base model with that slice replaced.
    const std::string one = HfExpertTensorName(arch, TensorRole::kExpertsGate, 1, 3);
    const NamedTensor* pick = nullptr;
    for (const NamedTensor& t : all) {
      if (t.name == one) pick = &t;
    }
    ASSERT_NE(pick, nullptr);
    auto partial = BuildFromTensors(*current, std::span(pick, 1), KernelContext{});
    ASSERT_TRUE(partial.ok()) << partial.status().ToString();
    auto edited = InitRandomModel(c, 1, DType::kBF16);
    ASSERT_TRUE(edited.ok());
    std::memcpy(static_cast<uint8_t*>(edited->layers[1].experts_gate.data) + 3 * pick->bytes.size(),
                pick->bytes.data(), pick->bytes.size());
    auto edited_model = Transformer::Create(std::move(*edited));
    ASSERT_TRUE(edited_model.ok());
    const std::vector<float> want_one = testing::LogitsInChunks(*edited_model, KernelContext{}, tokens, tokens.size());
    EXPECT_TRUE(testing::BitsEqual(testing::LogitsInChunks(*partial, KernelContext{}, tokens, tokens.size()), want_one));
    EXPECT_FALSE(testing::BitsEqual(want_one, testing::LogitsInChunks(*current, KernelContext{}, tokens, tokens.size())));

    // A wrong shape names the tensor.
    NamedTensor bad = *pick;
    bad.shape = {bad.shape[1], bad.shape[0]};
    auto refused = BuildFromTensors(*current, std::span(&bad, 1), KernelContext{});
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.status().message().find(one), std::string::npos) << refused.status().message();
  }
}

// Training holds each stacked expert tensor as one rank-3 slice (train/param_layout.h): the
// flat parameters round-trip through ModelWeights bit for bit, the experts' views are the
// slices, and pushing trained parameters by name (per-expert in the files) is refused by name.
TEST(MoeTest, TrainingLayoutHoldsStackedExperts) {
  for (const Arch arch : {Arch::kQwen3Moe, Arch::kMixtral}) {
    SCOPED_TRACE(ArchName(arch));
    const ModelConfig c = MoeConfig(arch);
    auto layout = ParamLayout::Create(c);
    ASSERT_TRUE(layout.ok()) << layout.status().message();
    const ParamSlice& gate = layout->Slice(TensorRole::kExpertsGate, 0);
    EXPECT_EQ(gate.rank, 3);
    EXPECT_EQ(gate.experts, c.n_experts);
    EXPECT_EQ(gate.rows * gate.cols, c.n_experts * c.expert_ffn_dim * c.dim);
    const std::vector<float> params = InitParams(*layout, 9);
    const TensorView e1 = layout->Expert(params.data(), TensorRole::kExpertsGate, 0, 1);
    EXPECT_EQ(e1.as<float>(), params.data() + gate.offset + c.expert_ffn_dim * c.dim);
    auto weights = ParamsToWeights(*layout, params);
    ASSERT_TRUE(weights.ok());
    EXPECT_EQ(weights->layers[0].experts_gate.rank, 3);
    auto back = WeightsToParams(*layout, *weights);
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_TRUE(testing::BitsEqual(params, *back));
    auto named = ParamsToNamedTensors(*layout, params);
    ASSERT_FALSE(named.ok());
    EXPECT_NE(named.status().message().find(std::string(ArchName(arch))), std::string::npos)
        << named.status().message();
  }
}

}  // namespace
}  // namespace detinfer
