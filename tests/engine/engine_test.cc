// Engine tests: a request's bits do not depend on what else runs, how it is chunked, whether
// the cache is on, KV pressure (preemption), threads or ISA; generation and re-scoring agree.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "engine_test_util.h"
#include "model/random_model.h"
#include "test_util.h"

namespace detinfer {
namespace {

using testing::SameBits;

const Transformer& Model() {
  static const Transformer* m = [] {
    auto t = Transformer::Create(testing::RandomModel(testing::TinyEngineConfig(Arch::kQwen3), 21));
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return new Transformer(std::move(t).value());
  }();
  return *m;
}

Request MakeRequest(const std::string& id, size_t prompt_len, uint64_t seed, float temperature,
                    int32_t max_new) {
  std::mt19937_64 rng(seed);
  Request r;
  r.id = id;
  for (size_t i = 0; i < prompt_len; ++i) r.prompt.push_back(static_cast<int32_t>(rng() % 64));
  r.max_new_tokens = max_new;
  r.sampling.temperature = temperature;
  r.sampling.top_p = temperature > 0 ? 0.9f : 1.0f;
  r.sampling.seed = seed;
  r.top_logprobs = 3;
  r.prompt_logprobs = true;
  r.prompt_top_logprobs = 2;
  return r;
}

RequestResult Solo(const Request& r, EngineOptions opts = {}) {
  auto h = testing::MakeContext(Isa::kScalar, 1);
  auto e = Engine::Create(Model(), h.ctx, opts);
  EXPECT_TRUE(e.ok());
  return (*e)->Generate({r})[0];
}

const Request kTargets[] = {MakeRequest("greedy", 23, 1, 0.0f, 20),
                            MakeRequest("sampled", 40, 2, 0.9f, 24)};

// §A1/§A2: alone vs among other traffic of different lengths, sampling and arrival steps.
TEST(EngineTest, CoBatchedTrafficNeverChangesARequest) {
  for (const Request& target : kTargets) {
    const RequestResult alone = Solo(target);
    ASSERT_TRUE(alone.status.ok()) << alone.status.ToString();
    EXPECT_EQ(alone.tokens.size(), 20u + (target.id == "sampled" ? 4u : 0u));
    auto h = testing::MakeContext(testing::TestableIsas().back(), 2);
    EngineOptions opts;
    opts.chunk_size = 16;
    auto e = Engine::Create(Model(), h.ctx, opts);
    ASSERT_TRUE(e.ok());
    // Two requests before, the target, then three more arriving over the next steps.
    ASSERT_TRUE((*e)->Submit(MakeRequest("a", 50, 10, 0.7f, 30)).ok());
    ASSERT_TRUE((*e)->Submit(MakeRequest("b", 5, 11, 0.0f, 8)).ok());
    ASSERT_TRUE((*e)->Step().ok());
    ASSERT_TRUE((*e)->Submit(target).ok());
    std::vector<RequestResult> done;
    for (int step = 0; (*e)->HasWork(); ++step) {
      if (step == 2) {
        ASSERT_TRUE((*e)->Submit(MakeRequest("c", 70, 12, 1.0f, 12)).ok());
      }
      if (step == 5) {
        ASSERT_TRUE((*e)->Submit(MakeRequest("d", 1, 13, 0.5f, 40)).ok());
      }
      ASSERT_TRUE((*e)->Step().ok());
      for (auto& r : (*e)->TakeFinished()) done.push_back(std::move(r));
    }
    bool found = false;
    for (const auto& r : done) {
      if (r.id == target.id) {
        found = true;
        EXPECT_TRUE(SameBits(r, alone)) << target.id;
      }
    }
    EXPECT_TRUE(found);
  }
}

// §A3/§A5: chunk sizes and cache off; threads and ISA (§A6/§A7).
TEST(EngineTest, ChunkingCacheOffThreadsAndIsaNeverChangeARequest) {
  for (const Request& target : kTargets) {
    const RequestResult alone = Solo(target);
    for (int64_t chunk : {1, 3, 16, 64, 1000}) {
      EngineOptions opts;
      opts.chunk_size = chunk;
      EXPECT_TRUE(SameBits(Solo(target, opts), alone)) << "chunk " << chunk;
    }
    EngineOptions nocache;
    nocache.no_cache = true;
    nocache.chunk_size = 7;
    EXPECT_TRUE(SameBits(Solo(target, nocache), alone)) << "no cache";
    for (Isa isa : testing::TestableIsas()) {
      for (int threads : {2, 3}) {
        auto h = testing::MakeContext(isa, threads);
        auto e = Engine::Create(Model(), h.ctx, EngineOptions{});
        EXPECT_TRUE(SameBits((*e)->Generate({target})[0], alone)) << testing::IsaString(isa);
      }
    }
  }
}

// Preemption forced by a tiny KV capacity (recompute from tokens) changes nothing.
TEST(EngineTest, PreemptionUnderKvPressureChangesNothing) {
  std::vector<Request> reqs;
  for (int i = 0; i < 5; ++i) reqs.push_back(MakeRequest("r" + std::to_string(i), 20 + 7 * i, 30 + i, i % 2 ? 0.8f : 0.0f, 20));
  std::vector<RequestResult> alone;
  for (const auto& r : reqs) alone.push_back(Solo(r));
  auto h = testing::MakeContext(testing::TestableIsas().back(), 2);
  EngineOptions tight;
  tight.kv_capacity_tokens = 96;  // 6 blocks of 16 for five requests of up to 68 tokens
  tight.chunk_size = 8;
  auto e = Engine::Create(Model(), h.ctx, tight);
  ASSERT_TRUE(e.ok());
  const auto got = (*e)->Generate(reqs);
  int64_t preemptions = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_TRUE(SameBits(got[i], alone[i])) << reqs[i].id;
    preemptions += got[i].preemptions;
  }
  EXPECT_GT(preemptions, 0) << "the capacity was meant to force preemption";
}

// §R1: the logprob reported for each generated token equals the teacher-forced re-score.
TEST(EngineTest, GenerateThenRescoreIsBitIdentical) {
  for (const Request& target : kTargets) {
    auto h = testing::MakeContext(testing::TestableIsas().back(), 2);
    EngineOptions opts;
    opts.chunk_size = 5;  // generation fed in chunks of 5, re-score in chunks of 64
    auto e = Engine::Create(Model(), h.ctx, opts);
    const RequestResult r = (*e)->Generate({target})[0];
    ASSERT_TRUE(r.status.ok());
    EngineOptions score_opts;
    score_opts.chunk_size = 64;
    auto s = Engine::Create(Model(), h.ctx, score_opts);
    auto scored = (*s)->Score(target.prompt, r.tokens);
    ASSERT_TRUE(scored.ok()) << scored.status().ToString();
    EXPECT_TRUE(testing::BitsEqual(*scored, r.logprobs)) << target.id;
    // The prompt's own logprobs agree with scoring the prompt as a completion of its first token.
    auto prompt_scored = (*s)->Score({target.prompt[0]},
                                     std::vector<int32_t>(target.prompt.begin() + 1, target.prompt.end()));
    EXPECT_TRUE(testing::BitsEqual(*prompt_scored, r.prompt_logprobs));
  }
}

// Prompt ranks and alternatives, against the full rows of the teacher-forced pass: the rank is
// 1 + the ids with a greater logprob, the alternatives are the row's most likely ids (lower id
// first on ties) with those rows' logprob bits.
TEST(EngineTest, PromptRanksAndAlternativesAreThoseOfTheFullRows) {
  auto h = testing::MakeContext(Isa::kScalar, 1);
  Request r = MakeRequest("ranks", 30, 9, 0.0f, 2);
  r.prompt_top_logprobs = 5;
  auto e = Engine::Create(Model(), h.ctx, {});
  ASSERT_TRUE(e.ok());
  const RequestResult got = (*e)->Generate({r})[0];
  ASSERT_TRUE(got.status.ok());
  ASSERT_EQ(got.prompt_ranks.size(), r.prompt.size() - 1);
  ASSERT_EQ(got.prompt_top_logprobs.size(), r.prompt.size() - 1);
  // Every row of the prompt, each scored as the completion of the tokens before it.
  const int64_t vocab = Model().config().vocab_size;
  for (size_t p = 1; p < r.prompt.size(); ++p) {
    std::vector<float> row(static_cast<size_t>(vocab));
    for (int32_t id = 0; id < vocab; ++id) {
      auto lp = (*e)->Score(std::vector<int32_t>(r.prompt.begin(), r.prompt.begin() + long(p)), {id});
      ASSERT_TRUE(lp.ok());
      row[size_t(id)] = (*lp)[0];
    }
    const float mine = row[size_t(r.prompt[p])];
    EXPECT_EQ(testing::Bits(got.prompt_logprobs[p - 1]), testing::Bits(mine));
    int32_t rank = 1;
    for (float x : row) rank += x > mine ? 1 : 0;
    EXPECT_EQ(got.prompt_ranks[p - 1], rank) << p;
    std::vector<int32_t> ids(row.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(i);
    std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return row[size_t(a)] > row[size_t(b)]; });
    ASSERT_EQ(got.prompt_top_logprobs[p - 1].size(), 5u);
    for (size_t k = 0; k < 5; ++k) {
      EXPECT_EQ(got.prompt_top_logprobs[p - 1][k].token, ids[k]) << p << " " << k;
      EXPECT_EQ(testing::Bits(got.prompt_top_logprobs[p - 1][k].logprob),
                testing::Bits(row[size_t(ids[k])]));
    }
  }
}

TEST(EngineTest, BadRequestsFailAloneAndOthersContinue) {
  auto h = testing::MakeContext(Isa::kScalar, 1);
  EngineOptions opts;
  opts.kv_capacity_tokens = 64;
  auto e = Engine::Create(Model(), h.ctx, opts);
  Request empty = MakeRequest("empty", 0, 1, 0, 4);
  Request bad_id = MakeRequest("bad-id", 3, 1, 0, 4);
  bad_id.prompt[1] = 64;
  Request zero = MakeRequest("zero", 3, 1, 0, 0);
  Request nan_t = MakeRequest("nan", 3, 1, 0, 4);
  nan_t.sampling.temperature = NAN;
  Request huge = MakeRequest("huge", 300, 1, 0, 4);
  Request too_big = MakeRequest("too-big", 100, 1, 0, 4);
  const Request good = MakeRequest("good", 9, 5, 0.0f, 6);
  const auto out = (*e)->Generate({empty, bad_id, zero, nan_t, huge, too_big, good});
  const char* expect[] = {"empty prompt", "id 64", "max_tokens must be >= 1", "temperature",
                          "context length", "KV capacity"};
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_FALSE(out[i].status.ok()) << out[i].id;
    EXPECT_NE(out[i].status.message().find(expect[i]), std::string::npos) << out[i].status.message();
    EXPECT_NE(out[i].status.message().find(out[i].id), std::string::npos);
  }
  EXPECT_TRUE(SameBits(out[6], Solo(good)));
}

}  // namespace
}  // namespace detinfer

namespace detinfer {
namespace {

// §A4: a cold prefill vs a prefix-cache hit at every boundary 0..2 blocks + 3 (on and off block
// boundaries), and a hit on blocks written while decoding (an earlier request's generation).
TEST(EngineTest, PrefixCacheHitsAtAnyBoundaryGiveColdBits) {
  auto h = testing::MakeContext(testing::TestableIsas().back(), 2);
  EngineOptions cold_opts;
  cold_opts.prefix_cache = false;
  auto cold = Engine::Create(Model(), h.ctx, cold_opts);
  auto warm = Engine::Create(Model(), h.ctx, EngineOptions{});
  ASSERT_TRUE(cold.ok() && warm.ok());
  Request first = MakeRequest("first", 45, 40, 0.0f, 24);
  first.prompt_logprobs = false;
  const RequestResult a = (*warm)->Generate({first})[0];
  ASSERT_TRUE(a.status.ok());
  const int64_t bs = EngineOptions{}.block_size;
  for (int64_t shared = 0; shared <= 2 * bs + 3; ++shared) {
    Request r = MakeRequest("shared" + std::to_string(shared), 12, 100 + static_cast<uint64_t>(shared),
                            shared % 2 ? 0.7f : 0.0f, 6);
    r.prompt_logprobs = false;
    r.prompt.insert(r.prompt.begin(), first.prompt.begin(), first.prompt.begin() + shared);
    const int64_t hits_before = (*warm)->cache().prefix_stats().hit_tokens;
    const RequestResult got = (*warm)->Generate({r})[0];
    EXPECT_TRUE(SameBits(got, (*cold)->Generate({r})[0])) << "shared " << shared;
    const int64_t reused = (*warm)->cache().prefix_stats().hit_tokens - hits_before;
    EXPECT_EQ(reused, std::min(shared, static_cast<int64_t>(r.prompt.size()) - 1) / bs * bs)
        << "shared " << shared;
    EXPECT_EQ(got.cached_tokens, reused);
  }
  // Multi-turn: the next prompt is the first prompt, its whole generation and a new turn.
  Request turn2 = MakeRequest("turn2", 9, 41, 0.8f, 10);
  turn2.prompt_logprobs = false;
  std::vector<int32_t> history = first.prompt;
  history.insert(history.end(), a.tokens.begin(), a.tokens.end());
  turn2.prompt.insert(turn2.prompt.begin(), history.begin(), history.end());
  const int64_t hits_before = (*warm)->cache().prefix_stats().hit_tokens;
  EXPECT_TRUE(SameBits((*warm)->Generate({turn2})[0], (*cold)->Generate({turn2})[0]));
  // 45 prompt + 24 generated = 69 tokens, of which 68 were fed: 4 whole blocks (64 tokens),
  // the last of them holding generated tokens only.
  EXPECT_EQ((*warm)->cache().prefix_stats().hit_tokens - hits_before, 64);
}

// A prefix cache under pressure: cached blocks are evicted (least recently used first) to make
// room, and nothing changes.
TEST(EngineTest, PrefixCacheEvictionUnderPressureChangesNothing) {
  auto h = testing::MakeContext(testing::TestableIsas().back(), 2);
  EngineOptions tight;
  tight.kv_capacity_tokens = 128;
  auto warm = Engine::Create(Model(), h.ctx, tight);
  EngineOptions cold_opts;
  cold_opts.prefix_cache = false;
  auto cold = Engine::Create(Model(), h.ctx, cold_opts);
  std::vector<Request> reqs;
  for (int i = 0; i < 6; ++i) {
    // Pairs share a seed, hence a prompt prefix: the second of a pair hits the first.
    // (The id is appended, not built by "p" + to_string: GCC 12 -O3 warns wrongly on that.)
    std::string id = "p";
    id += std::to_string(i);
    Request r = MakeRequest(id, 40 + 5 * i, 60 + static_cast<uint64_t>(i / 2), 0.5f, 12);
    r.prompt_logprobs = false;
    reqs.push_back(r);
  }
  for (const Request& r : reqs) {
    EXPECT_TRUE(SameBits((*warm)->Generate({r})[0], (*cold)->Generate({r})[0])) << r.id;
  }
  EXPECT_GT((*warm)->cache().prefix_stats().evictions, 0);
  EXPECT_GT((*warm)->cache().prefix_stats().hit_tokens, 0);
}

// Many requests that share prompt prefixes (so their KV blocks are shared through the prefix
// cache) under a capacity that fits a few of them at a time: preempting one must not count
// blocks it shares with another as freed. Every accepted request completes with its solo bits.
TEST(EngineTest, SharedPrefixBlocksUnderPreemptionLoseNoRequest) {
  auto h = testing::MakeContext(testing::TestableIsas().back(), 2);
  EngineOptions tight;
  tight.kv_capacity_tokens = 160;  // 10 blocks; each request needs up to 4
  tight.chunk_size = 16;
  auto e = Engine::Create(Model(), h.ctx, tight);
  ASSERT_TRUE(e.ok());
  std::vector<Request> reqs;
  const Request base = MakeRequest("base", 40, 77, 0.0f, 1);
  for (int i = 0; i < 24; ++i) {
    std::string id = "s";
    id += std::to_string(i);
    Request r = MakeRequest(id, 4, 100 + static_cast<uint64_t>(i),
                            i % 3 ? 0.7f : 0.0f, 16);
    // 32 or 40 shared leading tokens (two or more whole blocks), then the request's own.
    r.prompt.insert(r.prompt.begin(), base.prompt.begin(), base.prompt.begin() + (i % 2 ? 40 : 32));
    r.prompt_logprobs = false;
    reqs.push_back(r);
  }
  const auto got = (*e)->Generate(reqs);
  ASSERT_EQ(got.size(), reqs.size());
  int64_t preemptions = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_TRUE(SameBits(got[i], Solo(reqs[i]))) << reqs[i].id;
    preemptions += got[i].preemptions;
  }
  EXPECT_GT(preemptions, 0) << "the capacity was meant to force preemption";
  EXPECT_GT((*e)->cache().prefix_stats().hit_tokens, 0) << "the prompts were meant to share blocks";
}

}  // namespace
}  // namespace detinfer

namespace detinfer {
namespace {

using testing::CharTokenizer;

TEST(EngineTest, StopStringsEndGenerationAndTrimTheText) {
  const auto tok = CharTokenizer();
  auto h = testing::MakeContext(Isa::kScalar, 1);
  auto e = Engine::Create(Model(), h.ctx, EngineOptions{}, tok.get());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Request r = MakeRequest("free", 6, 3, 0.0f, 30);
  const RequestResult full = (*e)->Generate({r})[0];
  ASSERT_TRUE(full.status.ok());
  // The text is the decoded ids with the special tokens (</s> here) left out, unless asked to
  // keep them; the ids are the same either way.
  const Tokenizer::DecodeOptions skip{.skip_special_tokens = true};
  ASSERT_EQ(*tok->Decode(full.tokens, skip), full.text);
  {
    Request keep = r;
    keep.skip_special_tokens = false;
    const RequestResult kept = (*e)->Generate({keep})[0];
    EXPECT_EQ(kept.tokens, full.tokens);
    EXPECT_EQ(*tok->Decode(kept.tokens), kept.text);
  }
  const std::string stop = full.text.substr(10, 2);
  const size_t at = full.text.find(stop);
  r.stop_strings = {"never-there", stop};
  const RequestResult cut = (*e)->Generate({r})[0];
  ASSERT_TRUE(cut.status.ok());
  EXPECT_EQ(cut.finish, FinishReason::kStop);
  EXPECT_EQ(cut.text, full.text.substr(0, at));
  // The token that completed the stop string is the last one reported.
  size_t k = 1;
  while (tok->Decode(std::span(full.tokens).first(k), skip)->find(stop) == std::string::npos) ++k;
  ASSERT_EQ(cut.tokens.size(), k);
  EXPECT_TRUE(std::equal(cut.tokens.begin(), cut.tokens.end(), full.tokens.begin()));
  // Stop strings without a tokenizer, or empty ones, are errors for that request.
  auto bare = Engine::Create(Model(), h.ctx, EngineOptions{});
  EXPECT_NE((*bare)->Submit(r).message().find("need a tokenizer"), std::string::npos);
  r.stop_strings = {""};
  EXPECT_NE((*e)->Submit(r).message().find("empty stop string"), std::string::npos);
}

// What is streamed is what is returned: the TokenEvent texts of a request concatenate to its
// result text, with and without stop strings, and text that could begin a stop string is held
// back until it cannot (so nothing past the stop is ever streamed).
TEST(EngineTest, StreamedTextEqualsTheResultTextAndNeverPassesAStop) {
  const auto tok = CharTokenizer();
  auto h = testing::MakeContext(Isa::kScalar, 1);
  auto e = Engine::Create(Model(), h.ctx, EngineOptions{}, tok.get());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Request r = MakeRequest("free", 6, 3, 0.0f, 30);
  const RequestResult full = (*e)->Generate({r})[0];
  ASSERT_TRUE(full.status.ok());
  ASSERT_GE(full.text.size(), 14u);
  for (const std::vector<std::string>& stops :
       {std::vector<std::string>{}, {full.text.substr(10, 3)}, {"zzzzzz", full.text.substr(4, 2)}}) {
    r.stop_strings = stops;
    std::string streamed;
    int lasts = 0;
    (*e)->SetOnTokenEvent([&](const TokenEvent& ev) {
      streamed += ev.text;
      lasts += ev.last;
      // Nothing streamed so far may contain a stop string.
      for (const std::string& s : stops) EXPECT_EQ(streamed.find(s), std::string::npos);
    });
    const RequestResult got = (*e)->Generate({r})[0];
    ASSERT_TRUE(got.status.ok());
    EXPECT_EQ(streamed, got.text) << stops.size() << " stop strings";
    EXPECT_EQ(lasts, 1);
  }
}

// A stop id ends generation without adding its text: the id is the last token reported, the
// text is the decoded text of the tokens before it (an end-of-sequence "</s>" never shows).
TEST(EngineTest, AStopIdIsReportedButItsTextIsNot) {
  const auto tok = CharTokenizer();
  auto h = testing::MakeContext(Isa::kScalar, 1);
  auto e = Engine::Create(Model(), h.ctx, EngineOptions{}, tok.get());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Request r = MakeRequest("free", 6, 3, 0.0f, 30);
  const RequestResult full = (*e)->Generate({r})[0];
  ASSERT_TRUE(full.status.ok());
  const size_t k = 7;  // stop at the 8th token's id
  r.stop_ids = {full.tokens[k]};
  const size_t first = static_cast<size_t>(
      std::find(full.tokens.begin(), full.tokens.end(), full.tokens[k]) - full.tokens.begin());
  std::string streamed;
  (*e)->SetOnTokenEvent([&](const TokenEvent& ev) { streamed += ev.text; });
  const RequestResult cut = (*e)->Generate({r})[0];
  ASSERT_TRUE(cut.status.ok());
  EXPECT_EQ(cut.finish, FinishReason::kStop);
  ASSERT_EQ(cut.tokens.size(), first + 1);
  EXPECT_EQ(cut.tokens.back(), full.tokens[k]);
  EXPECT_EQ(cut.text, *tok->Decode(std::span(full.tokens).first(first), {.skip_special_tokens = true}));
  EXPECT_EQ(streamed, cut.text);
}

}  // namespace
}  // namespace detinfer

namespace detinfer {
namespace {

// Results are matched to requests by submission, not by id: repeated ids are fine, and a
// request submitted earlier through Submit() is still reported by TakeFinished().
TEST(EngineTest, GenerateMatchesResultsBySubmissionEvenWithRepeatedIds) {
  auto h = testing::MakeContext(Isa::kScalar, 1);
  auto e = Engine::Create(Model(), h.ctx, EngineOptions{});
  const Request early = MakeRequest("same", 5, 90, 0.0f, 3);
  ASSERT_TRUE((*e)->Submit(early).ok());
  const Request a = MakeRequest("same", 7, 91, 0.0f, 4), b = MakeRequest("same", 9, 92, 0.7f, 6);
  const auto got = (*e)->Generate({a, b});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(SameBits(got[0], Solo(a)));
  EXPECT_TRUE(SameBits(got[1], Solo(b)));
  const auto rest = (*e)->TakeFinished();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].submission, 0u);
  EXPECT_TRUE(SameBits(rest[0], Solo(early)));
}

}  // namespace
}  // namespace detinfer
