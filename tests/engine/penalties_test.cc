// Penalties and min_tokens (engine/penalties.h): the logits they give against a double-precision
// reading of vLLM's definitions, the sampler drawing from exactly that distribution while the
// raw logprob stays the model's, and every invariance of the engine kept (they read only the
// request's own tokens).
#include "engine/penalties.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "engine/engine.h"
#include "engine/sampler.h"
#include "engine_test_util.h"
#include "model/random_model.h"
#include "test_util.h"

namespace detinfer {
namespace {

using testing::SameBits;

// The definitions, read independently: a token's count among the generated tokens, whether it
// occurs anywhere in prompt + output, and the three rules in vLLM's order, each result rounded
// to fp32 as the logits are fp32.
std::vector<float> PenalisedByDefinition(const std::vector<float>& logits, const PenaltyParams& p,
                                         const std::vector<int32_t>& prompt,
                                         const std::vector<int32_t>& generated,
                                         const std::vector<int32_t>& suppressed) {
  std::vector<float> out = logits;
  for (size_t i = 0; i < out.size(); ++i) {
    const int32_t id = static_cast<int32_t>(i);
    const auto c = std::count(generated.begin(), generated.end(), id);
    const bool seen = c > 0 || std::count(prompt.begin(), prompt.end(), id) > 0;
    double l = out[i];
    if (seen && p.repetition != 1.0f) {
      l = static_cast<float>(l > 0 ? l / double(p.repetition) : l * double(p.repetition));
    }
    if (c > 0) {
      l = static_cast<float>(l - static_cast<double>(static_cast<float>(double(p.frequency) * double(c))));
      l = static_cast<float>(l - double(p.presence));
    }
    if (std::count(suppressed.begin(), suppressed.end(), id) > 0) {
      l = -std::numeric_limits<double>::infinity();
    }
    out[i] = static_cast<float>(l);
  }
  return out;
}

std::vector<float> RandomLogits(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(PenaltiesTest, LogitsAreTheDefinitions) {
  const std::vector<int32_t> prompt = {3, 3, 7, 11, 40};
  const std::vector<int32_t> generated = {7, 7, 7, 12, 3, 50, 50};
  for (const PenaltyParams p : {PenaltyParams{1.3f, 0.0f, 0.0f}, PenaltyParams{1.0f, 0.4f, 0.0f},
                                PenaltyParams{1.0f, 0.0f, -1.5f}, PenaltyParams{0.7f, -0.3f, 0.9f}}) {
    for (uint64_t seed : {1u, 2u, 3u}) {
      const std::vector<float> logits = RandomLogits(64, seed);
      std::vector<float> got = logits;
      ApplyPenalties(p, {prompt, generated, {}}, got);
      EXPECT_TRUE(testing::BitsEqual(got, PenalisedByDefinition(logits, p, prompt, generated, {})))
          << p.repetition << " " << p.frequency << " " << p.presence;
      // Tokens the request never saw keep their logit, bit for bit.
      EXPECT_EQ(testing::Bits(got[20]), testing::Bits(logits[20]));
    }
  }
  // Presence and frequency read only the generated tokens; repetition the prompt too.
  std::vector<float> only_prompt = RandomLogits(64, 9);
  const std::vector<float> before = only_prompt;
  ApplyPenalties({1.0f, 1.0f, 1.0f}, {prompt, {}, {}}, only_prompt);
  EXPECT_TRUE(testing::BitsEqual(only_prompt, before));
  EXPECT_FALSE(ChangesLogits({1.0f, 1.0f, 1.0f}, {prompt, {}, {}}));
  EXPECT_TRUE(ChangesLogits({1.1f, 0.0f, 0.0f}, {prompt, {}, {}}));
}

TEST(PenaltiesTest, OutOfRangeValuesAreRefusedNamingTheField) {
  for (const auto& [p, field] : std::vector<std::pair<PenaltyParams, const char*>>{
           {{0.0f, 0.0f, 0.0f}, "repetition_penalty"},
           {{std::numeric_limits<float>::infinity(), 0.0f, 0.0f}, "repetition_penalty"},
           {{1.0f, 2.5f, 0.0f}, "frequency_penalty"},
           {{1.0f, 0.0f, -2.01f}, "presence_penalty"},
           {{1.0f, std::nanf(""), 0.0f}, "frequency_penalty"}}) {
    const Status s = ValidatePenalties(p);
    ASSERT_FALSE(s.ok()) << field;
    EXPECT_NE(s.message().find(field), std::string::npos) << s.message();
  }
  EXPECT_TRUE(ValidatePenalties({2.0f, -2.0f, 2.0f}).ok());
}

// The sampler: greedy takes the argmax of the penalised logits, a draw's sampling logprob is the
// penalised tempered distribution's (a float64 log-softmax), and the raw logprob is the model's
// own, the same bits as without any penalty.
TEST(PenaltiesTest, SamplerDrawsFromThePenalisedDistributionAndReportsRawLogprobs) {
  auto h = testing::MakeContext(Isa::kScalar, 1);
  std::vector<float> logits = RandomLogits(64, 5);
  const int32_t top = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) -
                                           logits.begin());
  const std::vector<int32_t> prompt = {1, 2};
  const std::vector<int32_t> generated = {top, top, top};
  SamplingParams plain;
  SamplingParams pen = plain;
  pen.penalties = {1.0f, 2.0f, 2.0f};  // the top token loses 8: no longer the argmax
  const std::vector<float> z = PenalisedByDefinition(logits, pen.penalties, prompt, generated, {});
  const int32_t want = static_cast<int32_t>(std::max_element(z.begin(), z.end()) - z.begin());
  ASSERT_NE(want, top);
  auto g = SampleToken(h.ctx, logits, pen, 3, {prompt, generated, {}});
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->token, want);
  auto raw = SampleToken(h.ctx, logits, plain, 3);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->token, top);
  // The raw logprob of `want` without penalties: the same bits.
  std::vector<int32_t> all_but_want;
  for (int32_t i = 0; i < 64; ++i) {
    if (i != want) all_but_want.push_back(i);
  }
  auto only = SampleToken(h.ctx, logits, plain, 3, {prompt, {}, all_but_want});
  ASSERT_TRUE(only.ok());
  EXPECT_EQ(only->token, want);
  EXPECT_EQ(testing::Bits(only->logprob), testing::Bits(g->logprob));

  pen.temperature = 0.8f;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    pen.seed = seed;
    auto t = SampleToken(h.ctx, logits, pen, 7, {prompt, generated, {}});
    ASSERT_TRUE(t.ok());
    double m = -1e300, s = 0;
    for (float x : z) m = std::max(m, double(x) / 0.8);
    for (float x : z) s += std::exp(double(x) / 0.8 - m);
    const double want_lp = double(z[size_t(t->token)]) / 0.8 - m - std::log(s);
    EXPECT_NEAR(t->sampling_logprob, want_lp, 1e-5) << seed;
    auto r = SampleToken(h.ctx, logits, plain, 7);
    ASSERT_TRUE(r.ok());
    double mr = -1e300, sr = 0;
    for (float x : logits) mr = std::max(mr, double(x));
    for (float x : logits) sr += std::exp(double(x) - mr);
    EXPECT_NEAR(t->logprob, double(logits[size_t(t->token)]) - mr - std::log(sr), 1e-5);
  }
}

TEST(PenaltiesTest, SuppressedIdsAreNeverDrawnAndAllSuppressedIsAnError) {
  auto h = testing::MakeContext(Isa::kScalar, 1);
  std::vector<float> logits(16, 0.0f);
  logits[4] = 30.0f;  // all but certain
  const std::vector<int32_t> suppressed = {4, 9};
  SamplingParams p;
  p.temperature = 1.0f;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    p.seed = seed;
    auto t = SampleToken(h.ctx, logits, p, 0, {{}, {}, suppressed});
    ASSERT_TRUE(t.ok());
    EXPECT_NE(t->token, 4);
    EXPECT_NE(t->token, 9);
  }
  std::vector<int32_t> every(16);
  for (int32_t i = 0; i < 16; ++i) every[size_t(i)] = i;
  auto t = SampleToken(h.ctx, logits, p, 0, {{}, {}, every});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("suppressed"), std::string::npos);
}

const Transformer& PenaltyModel() {
  static auto* m = [] {
    auto t = Transformer::Create(
        testing::RandomModel(testing::TinyEngineConfig(Arch::kLlama), 4242));
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return new Transformer(std::move(t).value());
  }();
  return *m;
}

Request PenaltyRequest(const std::string& id, uint64_t seed, float temperature) {
  std::mt19937_64 rng(seed);
  Request r;
  r.id = id;
  for (int i = 0; i < 12; ++i) r.prompt.push_back(static_cast<int32_t>(3 + rng() % 61));
  r.prompt.insert(r.prompt.end(), r.prompt.begin(), r.prompt.begin() + 6);
  r.max_new_tokens = 30;
  r.sampling.temperature = temperature;
  r.sampling.seed = seed;
  r.sampling.penalties = {1.2f, 0.3f, 0.5f};
  r.top_logprobs = 2;
  return r;
}

std::vector<RequestResult> RunAll(const std::vector<Request>& rs, EngineOptions o, int threads) {
  auto h = testing::MakeContext(Isa::kScalar, threads);
  auto e = Engine::Create(PenaltyModel(), h.ctx, o);
  EXPECT_TRUE(e.ok());
  return (*e)->Generate(rs);
}

// Alone, batched with other traffic, chunked, cache off, speculating: the same bits, and the raw
// logprobs are still the teacher-forced ones (SPEC §R1).
TEST(PenaltiesTest, PenalisedRequestsKeepEveryInvariance) {
  std::vector<Request> reqs = {PenaltyRequest("greedy", 1, 0.0f), PenaltyRequest("hot", 2, 1.0f),
                               PenaltyRequest("plain", 3, 0.7f)};
  reqs[2].sampling.penalties = {};
  reqs[1].min_tokens = 5;
  std::vector<RequestResult> solo;
  for (const Request& r : reqs) solo.push_back(RunAll({r}, {}, 1)[0]);
  EngineOptions chunked;
  chunked.chunk_size = 5;
  EngineOptions no_cache;
  no_cache.no_cache = true;
  EngineOptions spec;
  spec.speculative.source = DraftSource::kLookup;
  for (const auto& [name, opts, threads] :
       std::vector<std::tuple<const char*, EngineOptions, int>>{
           {"batched", EngineOptions{}, 2}, {"chunked", chunked, 1}, {"no-cache", no_cache, 1},
           {"speculative", spec, 2}}) {
    const std::vector<RequestResult> got = RunAll(reqs, opts, threads);
    for (size_t i = 0; i < reqs.size(); ++i) {
      EXPECT_TRUE(SameBits(got[i], solo[i])) << name << " " << reqs[i].id;
    }
  }
  auto h = testing::MakeContext(Isa::kScalar, 1);
  auto e = Engine::Create(PenaltyModel(), h.ctx, {});
  ASSERT_TRUE(e.ok());
  for (size_t i = 0; i < reqs.size(); ++i) {
    auto scored = (*e)->Score(reqs[i].prompt, solo[i].tokens);
    ASSERT_TRUE(scored.ok());
    EXPECT_TRUE(testing::BitsEqual(*scored, solo[i].logprobs)) << reqs[i].id;
  }
  // The penalties did something: the penalised greedy run differs from the plain greedy one.
  Request unpenalised = reqs[0];
  unpenalised.sampling.penalties = {};
  EXPECT_NE(RunAll({unpenalised}, {}, 1)[0].tokens, solo[0].tokens);
}

// min_tokens: the stop id that greedy decoding would end on at its second token cannot be drawn
// before min_tokens, and nothing else changes: the request reports the model's raw logprobs.
TEST(PenaltiesTest, MinTokensHoldsBackStopIds) {
  Request r;
  r.id = "min";
  r.prompt = {5, 9, 14, 20};
  r.max_new_tokens = 12;
  const RequestResult free_run = RunAll({r}, {}, 1)[0];
  ASSERT_TRUE(free_run.status.ok());
  const int32_t stop = free_run.tokens[1];
  ASSERT_NE(free_run.tokens[0], stop);
  r.stop_ids = {stop};
  const RequestResult stopped = RunAll({r}, {}, 1)[0];
  EXPECT_EQ(stopped.finish, FinishReason::kStop);
  EXPECT_EQ(stopped.tokens.size(), 2u);
  r.min_tokens = 6;
  const RequestResult held = RunAll({r}, {}, 1)[0];
  ASSERT_TRUE(held.status.ok()) << held.status.ToString();
  ASSERT_GE(held.tokens.size(), 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_NE(held.tokens[i], stop) << i;
  if (held.finish == FinishReason::kStop) {
    EXPECT_EQ(held.tokens.back(), stop);
  }
  EXPECT_EQ(held.tokens[0], free_run.tokens[0]);
  auto h = testing::MakeContext(Isa::kScalar, 1);
  auto e = Engine::Create(PenaltyModel(), h.ctx, {});
  ASSERT_TRUE(e.ok());
  auto scored = (*e)->Score(r.prompt, held.tokens);
  ASSERT_TRUE(scored.ok());
  EXPECT_TRUE(testing::BitsEqual(*scored, held.logprobs));
  // min_tokens above max_tokens is refused naming the field.
  r.min_tokens = 13;
  const RequestResult bad = RunAll({r}, {}, 1)[0];
  ASSERT_FALSE(bad.status.ok());
  EXPECT_NE(bad.status.message().find("min_tokens"), std::string::npos);
}

// Stop strings too are not looked for before min_tokens (vLLM's rule): with the character
// vocabulary, a stop string completed by the first token ends the request only without it.
TEST(PenaltiesTest, MinTokensHoldsBackStopStrings) {
  auto tok = testing::CharTokenizer();
  auto h = testing::MakeContext(Isa::kScalar, 1);
  auto e = Engine::Create(PenaltyModel(), h.ctx, {}, tok.get());
  ASSERT_TRUE(e.ok());
  Request r;
  r.id = "s";
  r.prompt = {5, 9, 14, 20};
  r.max_new_tokens = 10;
  const RequestResult free_run = (*e)->Generate({r})[0];
  ASSERT_TRUE(free_run.status.ok());
  ASSERT_FALSE(free_run.text.empty());
  r.stop_strings = {free_run.text.substr(0, 1)};
  const RequestResult stopped = (*e)->Generate({r})[0];
  EXPECT_EQ(stopped.finish, FinishReason::kStop);
  EXPECT_EQ(stopped.tokens.size(), 1u);
  r.min_tokens = 3;
  const RequestResult held = (*e)->Generate({r})[0];
  ASSERT_TRUE(held.status.ok());
  EXPECT_GE(held.tokens.size(), 3u);
  EXPECT_EQ(held.tokens[0], free_run.tokens[0]);
}

}  // namespace
}  // namespace detinfer
