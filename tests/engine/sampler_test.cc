#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/philox.h"
#include "test_util.h"

namespace detinfer {
namespace {

// Known-answer vectors from the Random123 distribution (examples/kat_vectors), the reference
// implementation of Salmon et al. SC'11: counter[4], key[2] -> output[4].
TEST(PhiloxTest, MatchesRandom123KnownAnswers) {
  EXPECT_EQ(Philox4x32_10({0, 0, 0, 0}, {0, 0}),
            (PhiloxCounter{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
  EXPECT_EQ(Philox4x32_10({~0u, ~0u, ~0u, ~0u}, {~0u, ~0u}),
            (PhiloxCounter{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
  EXPECT_EQ(Philox4x32_10({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
                          {0xa4093822u, 0x299f31d0u}),
            (PhiloxCounter{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

TEST(PhiloxTest, UniformDrawIsInUnitIntervalAndKeyedBySeedAndIndex) {
  EXPECT_EQ(UniformDraw(7, 3), UniformDraw(7, 3));
  EXPECT_NE(UniformDraw(7, 3), UniformDraw(7, 4));
  EXPECT_NE(UniformDraw(7, 3), UniformDraw(8, 3));
  double sum = 0;
  for (uint64_t i = 0; i < 100000; ++i) {
    const float u = UniformDraw(1, i);
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    sum += u;
  }
  // Mean of 1e5 uniforms: standard error 0.0009; a fixed seed set, so this is not flaky.
  EXPECT_NEAR(sum / 100000, 0.5, 0.005);
}

std::vector<float> Logits(std::vector<double> probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

TEST(SamplerTest, GreedyIsArgmaxWithLowestIdOnTies) {
  KernelContext ctx;
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f};
  auto r = SampleToken(ctx, logits, SamplingParams{}, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->token, 1);
  EXPECT_EQ(r->sampling_logprob, 0.0f);
  // Raw logprob: log(e^2 / (e^.5 + 2e^2 + e^-1)) in double, within a few ulps.
  const double want = 2.0 - std::log(std::exp(0.5) + 2 * std::exp(2.0) + std::exp(-1.0));
  EXPECT_NEAR(r->logprob, want, 1e-6);
}

// A temperature so small that logit / T overflows (1e-38; logits 40 and 50 both become +inf) is
// greedy: the largest logit, not the lowest id among the infinities, whatever the draw.
TEST(SamplerTest, TinyTemperatureThatOverflowsIsGreedy) {
  KernelContext ctx;
  const std::vector<float> logits = {40.0f, 50.0f, -30.0f, 0.25f};
  const auto greedy = SampleToken(ctx, logits, SamplingParams{}, 0);
  ASSERT_TRUE(greedy.ok());
  EXPECT_EQ(greedy->token, 1);
  for (const float t : {1e-38f, 1e-37f}) {
    SamplingParams sp;
    sp.temperature = t;
    sp.top_p = 0.9f;
    sp.min_p = 0.1f;
    for (uint64_t i = 0; i < 64; ++i) {
      sp.seed = i;
      auto r = SampleToken(ctx, logits, sp, i);
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(r->token, greedy->token) << t << " " << i;
      EXPECT_EQ(r->logprob, greedy->logprob);
      EXPECT_EQ(r->sampling_logprob, 0.0f);
    }
  }
}

// Frequencies over a fixed set of draws follow the distribution (chi-square with 3 degrees of
// freedom; the draws are a deterministic function of the seeds, so this cannot flake).
TEST(SamplerTest, SampledFrequenciesFollowTheDistribution) {
  KernelContext ctx;
  const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
  const auto logits = Logits(p);
  SamplingParams sp;
  sp.temperature = 1.0f;
  sp.seed = 1234;
  std::vector<int> count(4, 0);
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    auto r = SampleToken(ctx, logits, sp, static_cast<uint64_t>(i));
    ASSERT_TRUE(r.ok());
    ++count[static_cast<size_t>(r->token)];
    ASSERT_NEAR(r->sampling_logprob, std::log(p[static_cast<size_t>(r->token)]), 1e-5);
  }
  double chi2 = 0;
  for (size_t i = 0; i < 4; ++i) {
    const double e = p[i] * n;
    chi2 += (count[i] - e) * (count[i] - e) / e;
  }
  EXPECT_LT(chi2, 16.27);  // p = 0.001 critical value for 3 degrees of freedom
}

TEST(SamplerTest, SameSeedSameTokensDifferentSeedDifferentTokens) {
  KernelContext ctx;
  const auto logits = testing::RandomFloats(512, 3, -2.f, 2.f);
  SamplingParams a;
  a.temperature = 0.8f;
  a.seed = 1;
  SamplingParams b = a;
  b.seed = 2;
  std::vector<int32_t> ta, ta2, tb;
  for (uint64_t t = 0; t < 64; ++t) {
    ta.push_back(SampleToken(ctx, logits, a, t)->token);
    ta2.push_back(SampleToken(ctx, logits, a, t)->token);
    tb.push_back(SampleToken(ctx, logits, b, t)->token);
  }
  EXPECT_EQ(ta, ta2);
  EXPECT_NE(ta, tb);
}

TEST(SamplerTest, FiltersKeepWhatTheyPromise) {
  KernelContext ctx;
  const auto logits = Logits({0.05, 0.5, 0.3, 0.15});
  SamplingParams sp;
  sp.temperature = 1.0f;
  for (uint64_t t = 0; t < 200; ++t) {
    sp.seed = t;
    sp.top_k = 1;
    EXPECT_EQ(SampleToken(ctx, logits, sp, t)->token, 1);
    sp.top_k = 2;
    const int32_t k2 = SampleToken(ctx, logits, sp, t)->token;
    EXPECT_TRUE(k2 == 1 || k2 == 2);
    sp.top_k = 0;
    sp.top_p = 0.75f;  // 0.5 + 0.3 reaches it
    const int32_t p = SampleToken(ctx, logits, sp, t)->token;
    EXPECT_TRUE(p == 1 || p == 2);
    sp.top_p = 1.0f;
    sp.min_p = 0.5f;  // keeps p >= 0.25: ids 1 and 2
    const int32_t m = SampleToken(ctx, logits, sp, t)->token;
    EXPECT_TRUE(m == 1 || m == 2);
    sp.min_p = 0.0f;
  }
}

TEST(SamplerTest, BadParametersAndNanLogitsAreErrorsNamingTheField) {
  KernelContext ctx;
  const std::vector<float> logits = {0.0f, 1.0f};
  auto msg = [&](SamplingParams p) {
    auto r = SampleToken(ctx, logits, p, 0);
    return r.ok() ? std::string("ok") : r.status().message();
  };
  SamplingParams p;
  p.temperature = -1.0f;
  EXPECT_NE(msg(p).find("temperature"), std::string::npos);
  p.temperature = NAN;
  EXPECT_NE(msg(p).find("temperature"), std::string::npos);
  p = {};
  p.top_p = 0.0f;
  EXPECT_NE(msg(p).find("top_p"), std::string::npos);
  p = {};
  p.min_p = 1.5f;
  EXPECT_NE(msg(p).find("min_p"), std::string::npos);
  p = {};
  p.top_k = -3;
  EXPECT_NE(msg(p).find("top_k"), std::string::npos);
  const std::vector<float> nan_logits = {0.0f, NAN};
  auto r = SampleToken(ctx, nan_logits, SamplingParams{}, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("token 1 is NaN"), std::string::npos);
}

}  // namespace
}  // namespace detinfer
