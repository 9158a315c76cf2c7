// Groups (engine/sample_group.h): n samples of a prompt are, bit for bit, n single requests with
// the derived seeds, each run alone in a fresh engine; the prompt's K/V are computed once.
#include "engine/sample_group.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "engine/engine.h"
#include "engine_test_util.h"
#include "model/model_bundle.h"
#include "model/model_test_util.h"
#include "model/random_model.h"
#include "test_util.h"

namespace detinfer {
namespace {

using testing::SameBits;

Request GroupRequest(const std::string& id, size_t prompt_len, uint64_t seed, float temperature,
                     int32_t max_new) {
  std::mt19937_64 rng(seed * 7919 + prompt_len);
  Request r;
  r.id = id;
  for (size_t i = 0; i < prompt_len; ++i) r.prompt.push_back(static_cast<int32_t>(rng() % 64));
  r.max_new_tokens = max_new;
  r.sampling.temperature = temperature;
  r.sampling.top_p = temperature > 0 ? 0.95f : 1.0f;
  r.sampling.seed = seed;
  r.top_logprobs = 2;
  return r;
}

// The single request a sample must equal, written out here rather than taken from SampleOf.
Request WithSeed(Request r, uint64_t seed) {
  r.sampling.seed = seed;
  return r;
}

RequestResult AloneInFreshEngine(const Transformer& m, const Request& r,
                                 const Tokenizer* tok = nullptr) {
  auto h = testing::MakeContext(Isa::kScalar, 1);
  auto e = Engine::Create(m, h.ctx, {}, tok);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return (*e)->Generate({r})[0];
}

// SplitMix64 as its authors publish it, for the documented seed derivation.
uint64_t ReferenceSplitMix64(uint64_t state) {
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

TEST(SampleGroupTest, SeedDerivationIsTheDocumentedFunction) {
  for (uint64_t seed : {0ull, 1ull, 42ull, 0xFFFFFFFFFFFFFFFFull}) {
    EXPECT_EQ(SampleSeed(seed, 0), seed);
    for (int32_t i : {1, 2, 7, 127}) {
      EXPECT_EQ(SampleSeed(seed, i),
                ReferenceSplitMix64(seed + static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull));
    }
  }
  EXPECT_NE(SampleSeed(5, 1), SampleSeed(5, 2));
  EXPECT_NE(SampleSeed(5, 1), SampleSeed(6, 1));
}

TEST(SampleGroupTest, BadSampleCountsAreRefusedNamingN) {
  for (int64_t n : {0ll, -1ll, static_cast<long long>(kMaxSamplesPerPrompt) + 1}) {
    const Status s = ValidateSampleCount(n);
    EXPECT_FALSE(s.ok()) << n;
    EXPECT_NE(s.message().find("n (samples per prompt)"), std::string::npos) << s.message();
  }
  EXPECT_TRUE(ValidateSampleCount(1).ok());
  EXPECT_TRUE(ValidateSampleCount(kMaxSamplesPerPrompt).ok());
  auto m = Transformer::Create(testing::RandomModel(testing::TinyEngineConfig(Arch::kLlama), 3));
  ASSERT_TRUE(m.ok());
  auto h = testing::MakeContext(Isa::kScalar, 1);
  auto e = Engine::Create(*m, h.ctx, {});
  ASSERT_TRUE(e.ok());
  const auto out = GenerateSamples(**e, {GroupRequest("r", 10, 1, 1.0f, 4)}, 0);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].size(), 1u);
  EXPECT_FALSE(out[0][0].status.ok());
  EXPECT_FALSE((*e)->HasWork());
}

// Every family: n sampled samples equal n single requests with the derived seeds run alone;
// they differ from each other; samples 1..n-1 reuse the prompt's full blocks.
TEST(SampleGroupTest, SamplesEqualSingleRequestsWithDerivedSeeds) {
  constexpr int32_t kN = 4;
  for (Arch arch : {Arch::kLlama, Arch::kQwen2, Arch::kQwen3, Arch::kPhi3}) {
    auto m = Transformer::Create(testing::RandomModel(testing::TinyEngineConfig(arch), 31));
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    // 40 prompt tokens: two full 16-token blocks to share and a partial one.
    const Request r = GroupRequest("group", 40, 9, 0.9f, 24);
    auto h = testing::MakeContext(testing::TestableIsas().back(), 2);
    EngineOptions opts;
    opts.chunk_size = 16;
    auto e = Engine::Create(*m, h.ctx, opts);
    ASSERT_TRUE(e.ok());
    const auto out = GenerateSamples(**e, {r}, kN);
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[0].size(), static_cast<size_t>(kN));
    for (int32_t i = 0; i < kN; ++i) {
      const uint64_t weyl = r.sampling.seed + static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull;
      const uint64_t seed = i == 0 ? r.sampling.seed : ReferenceSplitMix64(weyl);
      const RequestResult alone = AloneInFreshEngine(*m, WithSeed(r, seed));
      ASSERT_TRUE(alone.status.ok()) << alone.status.ToString();
      const RequestResult& got = out[0][static_cast<size_t>(i)];
      EXPECT_TRUE(SameBits(got, alone)) << ArchName(arch) << " sample " << i;
      EXPECT_EQ(got.cached_tokens, i == 0 ? 0 : 32) << ArchName(arch) << " sample " << i;
      EXPECT_EQ(alone.cached_tokens, 0);
    }
    for (int32_t i = 0; i < kN; ++i) {
      for (int32_t j = i + 1; j < kN; ++j) {
        EXPECT_NE(out[0][size_t(i)].tokens, out[0][size_t(j)].tokens)
            << ArchName(arch) << " samples " << i << " and " << j;
      }
    }
    // The prompt's two full blocks were computed once: three later samples hit them.
    EXPECT_EQ((*e)->cache().prefix_stats().hit_tokens, 32 * (kN - 1));
  }
}

TEST(SampleGroupTest, NEqualOneIsThePlainRequest) {
  auto m = Transformer::Create(testing::RandomModel(testing::TinyEngineConfig(Arch::kQwen2), 5));
  ASSERT_TRUE(m.ok());
  const Request r = GroupRequest("one", 21, 77, 1.0f, 12);
  auto h = testing::MakeContext(Isa::kScalar, 1);
  auto e = Engine::Create(*m, h.ctx, {});
  ASSERT_TRUE(e.ok());
  const auto out = GenerateSamples(**e, {r}, 1);
  ASSERT_EQ(out[0].size(), 1u);
  EXPECT_TRUE(SameBits(out[0][0], AloneInFreshEngine(*m, r)));
}

TEST(SampleGroupTest, GreedySamplesAreIdentical) {
  auto m = Transformer::Create(testing::RandomModel(testing::TinyEngineConfig(Arch::kLlama), 8));
  ASSERT_TRUE(m.ok());
  const Request r = GroupRequest("greedy", 35, 4, 0.0f, 16);
  auto h = testing::MakeContext(Isa::kScalar, 1);
  auto e = Engine::Create(*m, h.ctx, {});
  ASSERT_TRUE(e.ok());
  const auto out = GenerateSamples(**e, {r}, 3);
  const RequestResult alone = AloneInFreshEngine(*m, r);
  for (const RequestResult& s : out[0]) EXPECT_TRUE(SameBits(s, alone));
}

// Groups of several prompts among other traffic (submitted before, finishing during), with
// small chunks and a small step budget: every sample still equals its single request.
TEST(SampleGroupTest, GroupsCoBatchedWithOtherTrafficKeepTheirBits) {
  auto m = Transformer::Create(testing::RandomModel(testing::TinyEngineConfig(Arch::kQwen3), 12));
  ASSERT_TRUE(m.ok());
  auto h = testing::MakeContext(testing::TestableIsas().back(), 3);
  EngineOptions opts;
  opts.chunk_size = 8;
  opts.step_token_budget = 40;
  auto e = Engine::Create(*m, h.ctx, opts);
  ASSERT_TRUE(e.ok());
  const Request other1 = GroupRequest("other1", 50, 100, 0.7f, 30);
  const Request other2 = GroupRequest("other2", 3, 101, 0.0f, 6);
  ASSERT_TRUE((*e)->Submit(other1).ok());
  ASSERT_TRUE((*e)->Submit(other2).ok());
  ASSERT_TRUE((*e)->Step().ok());
  const std::vector<Request> prompts = {GroupRequest("p0", 33, 1, 0.8f, 20),
                                        GroupRequest("p1", 7, 2, 1.0f, 10),
                                        GroupRequest("p2", 64, 3, 0.6f, 18)};
  std::vector<RequestResult> others;
  const auto out = GenerateSamples(**e, prompts, 3, &others);
  ASSERT_EQ(out.size(), prompts.size());
  for (size_t p = 0; p < prompts.size(); ++p) {
    ASSERT_EQ(out[p].size(), 3u);
    for (int32_t i = 0; i < 3; ++i) {
      const RequestResult alone =
          AloneInFreshEngine(*m, WithSeed(prompts[p], SampleSeed(prompts[p].sampling.seed, i)));
      EXPECT_TRUE(SameBits(out[p][size_t(i)], alone)) << prompts[p].id << " sample " << i;
    }
  }
  // p0 (33 tokens) shares 32, p2 (64 tokens) 48: at most prompt - 1 tokens, in whole blocks.
  EXPECT_EQ(out[0][1].cached_tokens, 32);
  EXPECT_EQ(out[2][2].cached_tokens, 48);
  EXPECT_EQ(out[1][1].cached_tokens, 0);  // 7 tokens: no full block to share
  while ((*e)->HasWork()) {
    ASSERT_TRUE((*e)->Step().ok());
    for (auto& r : (*e)->TakeFinished()) others.push_back(std::move(r));
  }
  ASSERT_EQ(others.size(), 2u);
  for (const RequestResult& r : others) {
    EXPECT_TRUE(SameBits(r, AloneInFreshEngine(*m, r.id == "other1" ? other1 : other2))) << r.id;
  }
}

// The real stories260K model: a sampled group of 4 on a story opening.
TEST(SampleGroupTest, Stories260KSamplesEqualSingleRequests) {
  DETINFER_REQUIRE_STORIES();
  auto b = LoadModelBundle(testing::StoriesDir() + "/gguf/stories260K-f32.gguf");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_NE(b->tokenizer, nullptr);
  auto ids = b->tokenizer->Encode(
      "Once upon a time, there was a little girl named Lily. She loved to play outside", true);
  ASSERT_TRUE(ids.ok());
  ASSERT_GT(ids->size(), 16u);
  Request r;
  r.id = "story";
  r.prompt = *ids;
  r.max_new_tokens = 30;
  r.sampling.temperature = 1.0f;
  r.sampling.seed = 2026;
  auto h = testing::MakeContext(testing::TestableIsas().back(), 2);
  auto e = Engine::Create(*b->model, h.ctx, {}, b->tokenizer.get());
  ASSERT_TRUE(e.ok());
  const auto out = GenerateSamples(**e, {r}, 4);
  const int64_t shared = (static_cast<int64_t>(r.prompt.size()) - 1) / 16 * 16;
  for (int32_t i = 0; i < 4; ++i) {
    const RequestResult alone = AloneInFreshEngine(
        *b->model, WithSeed(r, SampleSeed(r.sampling.seed, i)), b->tokenizer.get());
    EXPECT_TRUE(SameBits(out[0][size_t(i)], alone)) << "sample " << i;
    EXPECT_EQ(out[0][size_t(i)].cached_tokens, i == 0 ? 0 : shared);
  }
  EXPECT_NE(out[0][0].text, out[0][1].text);
}

}  // namespace
}  // namespace detinfer
