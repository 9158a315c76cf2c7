// The policy-gradient loss (train/policy_gradient.h): the weighted sequence gradient with
// weight 1 is SequenceGradient bit for bit; the sample gradient (advantage, and KL to another
// policy) matches central finite differences of the loss computed in double from the logits;
// the batch gradient is the ascending sum of the sample gradients times 1/N and does not depend
// on the thread count; group advantages in closed form.
#include "train/policy_gradient.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "test_util.h"
#include "train/optimizer.h"
#include "train/param_layout.h"
#include "train/policy_trainer.h"
#include "train/sequence_pass.h"
#include "train/trainer.h"
#include "train_test_util.h"

namespace detinfer {
namespace {

using testing::BitsEqual;

// log softmax(row)[y] in double from f32 logits.
double PgLogprob(const float* row, int64_t vocab, int32_t y) {
  double m = row[0];
  for (int64_t j = 1; j < vocab; ++j) m = std::max(m, static_cast<double>(row[j]));
  double s = 0;
  for (int64_t j = 0; j < vocab; ++j) s += std::exp(static_cast<double>(row[j]) - m);
  return static_cast<double>(row[y]) - m - std::log(s);
}

TEST(PolicyGradient, WeightOneIsSequenceGradientBitForBit) {
  const ModelConfig c = testing::TinyTrainConfig();
  auto layout = ParamLayout::Create(c);
  ASSERT_TRUE(layout.ok());
  const std::vector<float> params = InitParams(*layout, 3);
  auto packed = PackParams(*layout, params.data());
  ASSERT_TRUE(packed.ok());
  const std::vector<int32_t> seq{1, 4, 9, 9, 13, 2, 20, 7};
  KernelContext ctx;
  ctx.isa = BestIsa(DetectCpuFeatures());
  std::vector<float> g0(static_cast<size_t>(layout->size())), g1(g0.size());
  double loss_sum = 0;
  ASSERT_TRUE(SequenceGradient(ctx, *layout, params.data(), *packed, seq, g0.data(), &loss_sum).ok());
  std::vector<float> loss;
  ASSERT_TRUE(WeightedSequenceGradient(
                  ctx, *layout, params.data(), *packed, seq,
                  [](std::span<const float>, std::span<float> w) {
                    for (float& x : w) x = 1.0f;
                  },
                  g1.data(), &loss)
                  .ok());
  EXPECT_TRUE(BitsEqual(g0.data(), g1.data(), g0.size()));
  double sum = 0;
  for (float v : loss) sum += v;
  EXPECT_EQ(sum, loss_sum);
  // The per-target losses alone are the same bits.
  std::vector<float> alone;
  ASSERT_TRUE(SequenceTargetLosses(ctx, *layout, params.data(), *packed, seq, &alone).ok());
  ASSERT_EQ(alone.size(), loss.size());
  EXPECT_TRUE(BitsEqual(alone.data(), loss.data(), loss.size()));
}

// The sample's loss SUM_c [-A lp_c + beta k3_c] in double from the forward's logits.
double PgSampleLoss(const ParamLayout& layout, const std::vector<float>& p,
                    const std::vector<int32_t>& seq, int64_t prompt, double adv, double beta,
                    const std::vector<float>& ref) {
  const ModelConfig& c = layout.config();
  auto pk = PackParams(layout, p.data());
  SavedActivations s;
  KernelContext ctx;
  EXPECT_TRUE(
      ForwardSequence(ctx, layout, p.data(), *pk, std::span(seq).first(seq.size() - 1), &s).ok());
  double total = 0;
  for (size_t k = 0; k + static_cast<size_t>(prompt) < seq.size(); ++k) {
    const size_t t = static_cast<size_t>(prompt) - 1 + k;
    const double lp =
        PgLogprob(s.logits.data() + static_cast<int64_t>(t) * c.vocab_size, c.vocab_size, seq[t + 1]);
    total += -adv * lp;
    if (beta != 0) {
      const double d = static_cast<double>(ref[k]) - lp;
      total += beta * (std::exp(d) - d - 1.0);
    }
  }
  return total;
}

TEST(PolicyGradient, SampleGradientMatchesFiniteDifferences) {
  const ModelConfig c = testing::TinyTrainConfig();
  auto layout = ParamLayout::Create(c);
  ASSERT_TRUE(layout.ok());
  std::vector<float> params = InitParams(*layout, 11);
  const std::vector<int32_t> seq{1, 4, 9, 9, 13, 2, 20, 7};
  const int64_t prompt = 3;  // completion: 9 13 2 20 7
  // A reference policy that differs (another init), so r != 1 and the KL term has a gradient.
  const std::vector<float> ref_params = InitParams(*layout, 12);
  auto ref_packed = PackParams(*layout, ref_params.data());
  ASSERT_TRUE(ref_packed.ok());
  KernelContext ctx;
  ctx.isa = BestIsa(DetectCpuFeatures());
  std::vector<float> ref_loss;
  ASSERT_TRUE(SequenceTargetLosses(ctx, *layout, ref_params.data(), *ref_packed, seq, &ref_loss).ok());
  std::vector<float> ref;
  for (size_t t = prompt - 1; t < ref_loss.size(); ++t) ref.push_back(-ref_loss[t]);
  for (const auto& [adv, beta] : {std::pair{1.5, 0.0}, std::pair{-0.7, 0.5}}) {
    SCOPED_TRACE("advantage " + std::to_string(adv) + " beta " + std::to_string(beta));
    auto packed = PackParams(*layout, params.data());
    ASSERT_TRUE(packed.ok());
    PolicySample s;
    s.tokens = seq;
    s.prompt_tokens = prompt;
    s.advantage = adv;
    s.ref_logprobs = ref;
    PolicyGradientOptions o;
    o.kl_coef = beta;
    std::vector<float> grad(static_cast<size_t>(layout->size()));
    PolicySampleResult r;
    ASSERT_TRUE(PolicySampleGradient(ctx, *layout, params.data(), *packed, s, o, grad.data(), &r).ok());
    ASSERT_EQ(r.logprobs.size(), 5u);
    const double l0 = PgSampleLoss(*layout, params, seq, prompt, adv, beta, ref);
    EXPECT_NEAR(r.objective + beta * r.kl, l0, 1e-4 * std::abs(l0) + 1e-5);
    int checked = 0;
    for (const ParamSlice& sl : layout->slices()) {
      const int64_t n = sl.rows * sl.cols;
      int64_t best = 0;
      for (int64_t i = 1; i < n; ++i) {
        if (std::abs(grad[static_cast<size_t>(sl.offset + i)]) >
            std::abs(grad[static_cast<size_t>(sl.offset + best)])) {
          best = i;
        }
      }
      const size_t at = static_cast<size_t>(sl.offset + best);
      const float h = 1e-2f * std::max(1.0f, std::abs(params[at]));
      std::vector<float> p = params;
      p[at] = params[at] + h;
      const double up = PgSampleLoss(*layout, p, seq, prompt, adv, beta, ref);
      p[at] = params[at] - h;
      const double down = PgSampleLoss(*layout, p, seq, prompt, adv, beta, ref);
      const double fd = (up - down) / (2.0 * static_cast<double>(h));
      EXPECT_NEAR(grad[at], fd, 0.03 * std::abs(fd) + 2e-3) << EntryName(sl.role, sl.layer);
      ++checked;
    }
    EXPECT_EQ(checked, static_cast<int>(layout->slices().size()));
  }
}

TEST(PolicyGradient, BatchIsTheAscendingSumTimesOneOverNOnAnyThreadCount) {
  const ModelConfig c = testing::TinyTrainConfig();
  auto layout = ParamLayout::Create(c);
  ASSERT_TRUE(layout.ok());
  const std::vector<float> params = InitParams(*layout, 5);
  auto packed = PackParams(*layout, params.data());
  ASSERT_TRUE(packed.ok());
  const std::vector<std::vector<int32_t>> seqs = {
      {1, 3, 5, 7}, {1, 3, 6}, {1, 8, 8, 8, 2}, {1, 2, 9, 10, 11, 12}, {1, 4, 4}};
  const double adv[] = {1.0, -0.5, 0.0, 2.0, -1.25};
  std::vector<PolicySample> samples;
  for (size_t i = 0; i < seqs.size(); ++i) {
    PolicySample s;
    s.tokens = seqs[i];
    s.prompt_tokens = 2;
    s.advantage = adv[i];
    samples.push_back(s);
  }
  const Isa isa = BestIsa(DetectCpuFeatures());
  std::vector<float> g1;
  PolicyBatchResult r1;
  ASSERT_TRUE(PolicyBatchGradient(nullptr, isa, *layout, params.data(), *packed, samples, {},
                                  &g1, &r1).ok());
  EXPECT_EQ(r1.tokens, 2 + 1 + 3 + 4 + 1);
  // By hand: per-sample buffers summed in ascending order, then times f32(1 / N).
  std::vector<float> want(static_cast<size_t>(layout->size()), 0.0f), buf(want.size());
  KernelContext ctx;
  ctx.isa = isa;
  for (const PolicySample& s : samples) {
    PolicySampleResult sr;
    ASSERT_TRUE(PolicySampleGradient(ctx, *layout, params.data(), *packed, s, {}, buf.data(), &sr).ok());
    for (size_t i = 0; i < want.size(); ++i) want[i] += buf[i];
  }
  const float inv = 1.0f / static_cast<float>(r1.tokens);
  for (float& x : want) x *= inv;
  EXPECT_TRUE(BitsEqual(want.data(), g1.data(), want.size()));
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    std::vector<float> g;
    PolicyBatchResult r;
    ASSERT_TRUE(PolicyBatchGradient(&pool, isa, *layout, params.data(), *packed, samples, {}, &g,
                                    &r).ok());
    EXPECT_TRUE(BitsEqual(g1.data(), g.data(), g.size())) << threads << " threads";
    EXPECT_EQ(r.loss, r1.loss);
  }
  // A sample whose advantage is 0 contributes exactly nothing (weights 0 everywhere).
  std::vector<float> zero(buf.size());
  PolicySampleResult zr;
  ASSERT_TRUE(PolicySampleGradient(ctx, *layout, params.data(), *packed, samples[2], {},
                                   zero.data(), &zr).ok());
  for (float x : zero) ASSERT_EQ(x, 0.0f);
}

TEST(PolicyGradient, GroupAdvantagesAreNormalisedWithinTheGroup) {
  const std::vector<double> r = {0.0, 0.5, 1.0, 0.5};
  const std::vector<double> a = GroupAdvantages(r, 1e-6);
  const double sd = std::sqrt(0.125);  // mean 0.5; squared deviations 0.25, 0, 0.25, 0 over 4
  ASSERT_EQ(a.size(), 4u);
  EXPECT_DOUBLE_EQ(a[0], -0.5 / (sd + 1e-6));
  EXPECT_EQ(a[1], 0.0);
  EXPECT_DOUBLE_EQ(a[2], 0.5 / (sd + 1e-6));
  for (double x : GroupAdvantages(std::vector<double>{0.3, 0.3, 0.3}, 1e-6)) EXPECT_EQ(x, 0.0);
  EXPECT_TRUE(GroupAdvantages(std::vector<double>{}, 1e-6).empty());
}

TEST(PolicyTrainer, AStepIsTheBatchGradientClippedThenAdamW) {
  const ModelConfig c = testing::TinyTrainConfig();
  auto layout = ParamLayout::Create(c);
  ASSERT_TRUE(layout.ok());
  const std::vector<float> params = InitParams(*layout, 9);
  const std::vector<std::vector<int32_t>> seqs = {{1, 3, 5, 7}, {1, 3, 6, 2}, {1, 8, 8}};
  std::vector<PolicySample> samples;
  for (size_t i = 0; i < seqs.size(); ++i) {
    PolicySample s;
    s.tokens = seqs[i];
    s.prompt_tokens = 2;
    s.advantage = i == 1 ? -1.0 : 0.75;
    samples.push_back(s);
  }
  PolicyTrainerOptions o;
  o.lr = 1e-2;
  o.clip_norm = 0.05;  // small enough to clip
  o.isa = BestIsa(DetectCpuFeatures());
  ThreadPool pool(2);
  auto t = PolicyTrainer::Create(c, params, o, &pool);
  ASSERT_TRUE(t.ok()) << t.status().message();
  auto r = (*t)->Step(samples);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*t)->steps_done(), 1);
  // By hand, on one thread.
  auto packed = PackParams(*layout, params.data());
  ASSERT_TRUE(packed.ok());
  std::vector<float> grad;
  PolicyBatchResult batch;
  ASSERT_TRUE(PolicyBatchGradient(nullptr, o.isa, *layout, params.data(), *packed, samples, {},
                                  &grad, &batch).ok());
  const double norm = ClipGlobalNorm(&grad, o.clip_norm);
  EXPECT_EQ(norm, r->grad_norm);
  EXPECT_GT(norm, o.clip_norm);
  std::vector<float> want = params;
  AdamW adamw(layout->size(), o.adamw);
  adamw.Step(1, static_cast<float>(o.lr), grad, WeightDecayMask(*layout), &want);
  EXPECT_TRUE(BitsEqual(want.data(), (*t)->params().data(), want.size()));
  auto named = (*t)->NamedTensors();
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(named->size(), layout->slices().size());
  EXPECT_EQ(named->front().name, "model.embed_tokens.weight");
  // Bad options are named.
  o.lr = 0;
  auto bad = PolicyTrainer::Create(c, params, o, nullptr);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--lr"), std::string::npos);
}

TEST(PolicyGradient, BadSamplesAreErrors) {
  const ModelConfig c = testing::TinyTrainConfig();
  auto layout = ParamLayout::Create(c);
  ASSERT_TRUE(layout.ok());
  const std::vector<float> params = InitParams(*layout, 5);
  auto packed = PackParams(*layout, params.data());
  ASSERT_TRUE(packed.ok());
  const std::vector<int32_t> seq{1, 3, 5};
  std::vector<float> g(static_cast<size_t>(layout->size()));
  PolicySampleResult r;
  PolicySample s;
  s.tokens = seq;
  s.prompt_tokens = 3;  // no completion
  EXPECT_FALSE(PolicySampleGradient({}, *layout, params.data(), *packed, s, {}, g.data(), &r).ok());
  s.prompt_tokens = 1;
  PolicyGradientOptions kl;
  kl.kl_coef = 0.1;  // without reference logprobs
  const Status st = PolicySampleGradient({}, *layout, params.data(), *packed, s, kl, g.data(), &r);
  EXPECT_NE(st.message().find("reference logprobs"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace detinfer
