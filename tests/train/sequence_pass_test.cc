// The training forward against the inference forward (bit for bit), and the whole-model
// gradient against central finite differences of the loss computed in double from the logits —
// for Llama and for Phi-3's RoPE variants (partial rotary; longrope's divisors and attention
// factor), which reach both passes through model/layer_spec.h.
#include "train/sequence_pass.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "model/transformer.h"
#include "test_util.h"
#include "train/param_layout.h"
#include "train_test_util.h"

namespace detinfer {
namespace {

using testing::BitsEqual;

// The tiny Llama, and Phi-3 shapes of it: 4 of 8 entries rotated; all rotated with longrope's
// per-frequency divisors and an attention factor (on the attention scale, forward and backward).
std::vector<ModelConfig> Configs() {
  std::vector<ModelConfig> out = {testing::TinyTrainConfig()};
  ModelConfig partial = testing::TinyTrainConfig();
  partial.arch = Arch::kPhi3;
  partial.rotary_dim = 4;
  out.push_back(partial);
  ModelConfig longrope = testing::TinyTrainConfig();
  longrope.arch = Arch::kPhi3;
  longrope.rope_scaling.kind = RopeScaling::Kind::kLongRope;
  longrope.rope_scaling.divisors = {1.5f, 2.0f, 4.0f, 9.0f};
  longrope.rope_scaling.attention_factor = 1.25;
  out.push_back(longrope);
  // Mistral: a sliding window of 3, shorter than the test's sequences (forward and backward).
  ModelConfig windowed = testing::TinyTrainConfig();
  windowed.sliding_window = 3;
  out.push_back(windowed);
  // Qwen2: q/k/v biases; Qwen3: per-head q/k norms; a tied head (the embedding's gradient has
  // the head's and the gather's parts).
  ModelConfig qwen2 = testing::TinyTrainConfig();
  qwen2.arch = Arch::kQwen2;
  qwen2.qkv_bias = true;
  out.push_back(qwen2);
  ModelConfig qwen3 = testing::TinyTrainConfig();
  qwen3.arch = Arch::kQwen3;
  qwen3.qk_norm = true;
  qwen3.tied_embeddings = true;
  out.push_back(qwen3);
  // Gemma 2: (1 + w) and post norms, GeGLU, embedding scale, attention and final soft caps,
  // query_pre_attn_scalar, local (windowed) and global layers, tied head. Gemma 3: q/k norms
  // and the local layers' own RoPE table instead of the caps.
  ModelConfig gemma2 = testing::TinyTrainConfig();
  gemma2.arch = Arch::kGemma2;
  gemma2.tied_embeddings = true;
  gemma2.sliding_window = 3;
  gemma2.attn_logit_softcap = 2.0f;
  gemma2.final_logit_softcap = 3.0f;
  gemma2.query_pre_attn_scalar = 12.0;
  out.push_back(gemma2);
  ModelConfig gemma3 = testing::TinyTrainConfig();
  gemma3.arch = Arch::kGemma3;
  gemma3.n_layers = 7;  // layer 5 is the only global one (5 local to 1)
  gemma3.tied_embeddings = true;
  gemma3.qk_norm = true;
  gemma3.sliding_window = 3;
  gemma3.rope_local_theta = 100.0;
  gemma3.query_pre_attn_scalar = 8.0;
  out.push_back(gemma3);
  // Mixtures of experts: Qwen3-MoE (renormalised top-2 of 4, q/k norms) and Mixtral (top-2 of
  // 3, not renormalised here so both weight rules are covered). The test's sequences route
  // unevenly: some experts get several rows, some none.
  ModelConfig qwen3_moe = testing::TinyTrainConfig();
  qwen3_moe.arch = Arch::kQwen3Moe;
  qwen3_moe.qk_norm = true;
  qwen3_moe.n_experts = 4;
  qwen3_moe.n_experts_used = 2;
  qwen3_moe.expert_ffn_dim = 16;
  qwen3_moe.moe_renormalize = true;
  out.push_back(qwen3_moe);
  ModelConfig mixtral = testing::TinyTrainConfig();
  mixtral.arch = Arch::kMixtral;
  mixtral.n_experts = 3;
  mixtral.n_experts_used = 2;
  mixtral.expert_ffn_dim = 24;
  mixtral.moe_renormalize = false;
  out.push_back(mixtral);
  return out;
}

std::string Name(const ModelConfig& c) {
  std::string s(ArchName(c.arch));
  s += " rotary ";
  s += std::to_string(c.RotaryDim());
  s += " attention factor ";
  s += std::to_string(c.rope_scaling.attention_factor);
  s += " window ";
  s += std::to_string(c.sliding_window);
  s += c.tied_embeddings ? " tied" : "";
  s += c.IsMoe() ? " experts " + std::to_string(c.n_experts) : "";
  return s;
}

TEST(TrainForward, LogitsEqualTheInferenceForwardBitForBit) {
  for (const ModelConfig& c : Configs()) {
  SCOPED_TRACE(Name(c));
  auto layout = ParamLayout::Create(c);
  ASSERT_TRUE(layout.ok()) << layout.status().message();
  const std::vector<float> params = InitParams(*layout, 5);
  auto weights = ParamsToWeights(*layout, params);
  ASSERT_TRUE(weights.ok());
  auto model = Transformer::Create(std::move(*weights));
  ASSERT_TRUE(model.ok()) << model.status().message();
  auto packed = PackParams(*layout, params.data());
  ASSERT_TRUE(packed.ok());
  const std::vector<int32_t> tokens{1, 5, 9, 3, 17, 2, 22, 8, 8, 4, 11};
  for (Isa isa : testing::TestableIsas()) {
    SCOPED_TRACE(testing::IsaString(isa));
    KernelContext ctx;
    ctx.isa = isa;
    SavedActivations saved;
    ASSERT_TRUE(ForwardSequence(ctx, *layout, params.data(), *packed, tokens, &saved).ok());
    // Every prefix: the last row of ForwardNoCache(prefix) is row (len - 1) of the training
    // logits (causal attention: a row sees only its prefix).
    for (size_t len = 1; len <= tokens.size(); ++len) {
      std::vector<float> ref;
      ASSERT_TRUE(model->ForwardNoCache(ctx, std::span(tokens).first(len), &ref).ok());
      ASSERT_EQ(ref.size(), static_cast<size_t>(c.vocab_size));
      EXPECT_TRUE(BitsEqual(ref.data(), saved.logits.data() + (len - 1) * c.vocab_size,
                            ref.size()))
          << "prefix length " << len;
    }
  }
  }
}

// A sequence's gradient is the same bits on every ISA path and thread count, for every
// architecture (the MoE forward runs its experts side by side when threads > 1).
TEST(TrainBackward, GradientBitsDoNotDependOnIsaOrThreads) {
  for (const ModelConfig& c : Configs()) {
    SCOPED_TRACE(Name(c));
    auto layout = ParamLayout::Create(c);
    ASSERT_TRUE(layout.ok()) << layout.status().message();
    const std::vector<float> params = InitParams(*layout, 3);
    const std::vector<int32_t> seq{1, 6, 2, 2, 19, 5, 11, 3, 14};
    auto packed = PackParams(*layout, params.data());
    ASSERT_TRUE(packed.ok());
    std::vector<float> ref(static_cast<size_t>(layout->size()));
    double ref_loss = 0;
    const Status st = SequenceGradient(KernelContext{}, *layout, params.data(), *packed, seq,
                                       ref.data(), &ref_loss);
    if (!st.ok()) {
      ADD_FAILURE() << st.ToString();
      continue;
    }
    for (Isa isa : testing::TestableIsas()) {
      for (int threads : {1, 2, 3}) {
        SCOPED_TRACE(testing::IsaString(isa) + " threads " + std::to_string(threads));
        std::unique_ptr<ThreadPool> pool;
        if (threads > 1) pool = std::make_unique<ThreadPool>(threads);
        const KernelContext ctx{isa, pool.get()};
        std::vector<float> grad(ref.size());
        double loss = 0;
        ASSERT_TRUE(
            SequenceGradient(ctx, *layout, params.data(), *packed, seq, grad.data(), &loss).ok());
        EXPECT_TRUE(BitsEqual(ref.data(), grad.data(), ref.size()));
        EXPECT_EQ(loss, ref_loss);
      }
    }
  }
}

// Sum over targets of -log softmax(logits)[target], in double from the f32 logits.
double LossFromLogits(const std::vector<float>& logits, std::span<const int32_t> targets,
                      int64_t vocab) {
  double total = 0;
  for (size_t t = 0; t < targets.size(); ++t) {
    const float* row = logits.data() + static_cast<int64_t>(t) * vocab;
    double m = row[0];
    for (int64_t j = 1; j < vocab; ++j) m = std::max(m, static_cast<double>(row[j]));
    double s = 0;
    for (int64_t j = 0; j < vocab; ++j) s += std::exp(static_cast<double>(row[j]) - m);
    total += m + std::log(s) - static_cast<double>(row[targets[t]]);
  }
  return total;
}

TEST(TrainBackward, GradientMatchesFiniteDifferencesOfTheLoss) {
  for (const ModelConfig& c : Configs()) {
  SCOPED_TRACE(Name(c));
  auto layout = ParamLayout::Create(c);
  ASSERT_TRUE(layout.ok());
  std::vector<float> params = InitParams(*layout, 11);
  const std::vector<int32_t> seq{1, 4, 9, 9, 13, 2, 20, 7};
  KernelContext ctx;
  ctx.isa = BestIsa(DetectCpuFeatures());
  auto packed = PackParams(*layout, params.data());
  ASSERT_TRUE(packed.ok());
  std::vector<float> grad(static_cast<size_t>(layout->size()));
  double loss = 0;
  const Status st = SequenceGradient(ctx, *layout, params.data(), *packed, seq, grad.data(), &loss);
  if (!st.ok()) {
    ADD_FAILURE() << st.ToString();
    continue;
  }
  const auto inputs = std::span(seq).first(seq.size() - 1);
  const auto targets = std::span(seq).subspan(1);
  auto loss_at = [&](const std::vector<float>& p) {
    auto pk = PackParams(*layout, p.data());
    SavedActivations s;
    EXPECT_TRUE(ForwardSequence(ctx, *layout, p.data(), *pk, inputs, &s).ok());
    return LossFromLogits(s.logits, targets, c.vocab_size);
  };
  EXPECT_NEAR(loss, loss_at(params), 1e-4 * std::abs(loss));
  // Per tensor, the element with the largest |gradient| (a well-conditioned difference), plus
  // one more fixed element: every op of the chain is on some tensor's path.
  int checked = 0;
  for (const ParamSlice& s : layout->slices()) {
    const int64_t n = s.rows * s.cols;
    int64_t best = 0;
    for (int64_t i = 1; i < n; ++i) {
      if (std::abs(grad[static_cast<size_t>(s.offset + i)]) >
          std::abs(grad[static_cast<size_t>(s.offset + best)])) {
        best = i;
      }
    }
    for (int64_t i : {best, (n * 2) / 3}) {
      const size_t at = static_cast<size_t>(s.offset + i);
      const float h = 1e-2f * std::max(1.0f, std::abs(params[at]));
      std::vector<float> p = params;
      p[at] = params[at] + h;
      const double up = loss_at(p);
      p[at] = params[at] - h;
      const double down = loss_at(p);
      const double fd = (up - down) / (2.0 * static_cast<double>(h));
      const double g = grad[at];
      EXPECT_NEAR(g, fd, 0.03 * std::abs(fd) + 2e-3)
          << EntryName(s.role, s.layer) << " element " << i;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2 * static_cast<int>(layout->slices().size()));
  }
}

}  // namespace
}  // namespace detinfer
