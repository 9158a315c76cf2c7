// The training forward against the inference forward (bit for bit), and the whole-model
// gradient against central finite differences of the loss computed in double from the logits —
// for Llama and for Phi-3's RoPE variants (partial rotary; longrope's divisors and attention
// factor), which reach both passes through model/layer_spec.h.
#include "train/sequence_pass.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

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
  ASSERT_TRUE(SequenceGradient(ctx, *layout, params.data(), *packed, seq, grad.data(), &loss).ok());
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
