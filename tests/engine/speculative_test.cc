// Speculative decoding (SPEC §A10): whatever the guesses and however many are accepted, a
// request's ids, logprobs (raw, sampling, top-n), text, finish reason and fingerprint are those
// of plain decoding, bit for bit — every comparison below is against a plain engine run.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>

#include "engine/engine.h"
#include "engine/speculative.h"
#include "engine_test_util.h"
#include "model/model_bundle.h"
#include "model/model_test_util.h"
#include "model/random_model.h"

namespace detinfer {
namespace {

using testing::SameBits;

const Transformer& FamilyModel(Arch arch) {
  static std::map<Arch, std::unique_ptr<Transformer>> models;
  auto& m = models[arch];
  if (!m) {
    auto t = Transformer::Create(
        testing::RandomModel(testing::TinyEngineConfig(arch), 210 + uint64_t(arch)));
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    m = std::make_unique<Transformer>(std::move(t).value());
  }
  return *m;
}
const Transformer& SpecModel() { return FamilyModel(Arch::kQwen3); }

Request SpecRequest(const std::string& id, size_t prompt_len, uint64_t seed, float temperature,
                    int32_t max_new) {
  std::mt19937_64 rng(seed);
  Request r;
  r.id = id;
  for (size_t i = 0; i < prompt_len; ++i) r.prompt.push_back(static_cast<int32_t>(3 + rng() % 61));
  r.max_new_tokens = max_new;
  r.sampling.temperature = temperature;
  r.sampling.top_p = temperature > 0 ? 0.9f : 1.0f;
  r.sampling.seed = seed;
  r.top_logprobs = 3;
  return r;
}

EngineOptions Lookup(int32_t k = 4) {
  EngineOptions o;
  o.speculative.source = DraftSource::kLookup;
  o.speculative.max_guesses = k;
  return o;
}

RequestResult RunOne(const Transformer& m, const Request& r, const EngineOptions& opts = {},
                     const Tokenizer* tok = nullptr) {
  auto h = testing::MakeContext(Isa::kScalar, 1);
  auto e = Engine::Create(m, h.ctx, opts, tok);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return (*e)->Generate({r})[0];
}

// The requests the identity tests run: greedy, sampled with top-p, sampled with top-k and
// min-p, one with prompt logprobs; prompts with repeats (so lookup finds something) and without.
std::vector<Request> Targets() {
  std::vector<Request> out;
  Request greedy = SpecRequest("greedy", 20, 1, 0.0f, 40);
  Request sampled = SpecRequest("sampled", 24, 2, 0.9f, 40);
  Request topk = SpecRequest("topk", 9, 3, 0.7f, 30);
  topk.sampling.top_k = 5;
  topk.sampling.min_p = 0.05f;
  Request prompt_lp = SpecRequest("prompt-logprobs", 30, 4, 0.0f, 25);
  prompt_lp.prompt_logprobs = true;
  // A prompt that says the same thing twice.
  Request twice = SpecRequest("twice", 16, 5, 0.0f, 40);
  twice.prompt.insert(twice.prompt.end(), twice.prompt.begin(), twice.prompt.end());
  for (Request* r : {&greedy, &sampled, &topk, &prompt_lp, &twice}) out.push_back(*r);
  return out;
}

TEST(SpeculativeTest, LookupGivesPlainBitsOnEveryFamilyForEverySampling) {
  for (Arch arch : {Arch::kLlama, Arch::kQwen2, Arch::kQwen3}) {
    const Transformer& m = FamilyModel(arch);
    int64_t accepted = 0, proposed = 0;
    for (const Request& r : Targets()) {
      const RequestResult plain = RunOne(m, r);
      ASSERT_TRUE(plain.status.ok()) << plain.status.ToString();
      EXPECT_EQ(plain.speculative.proposed, 0);
      for (int32_t k : {1, 4, 16}) {
        const RequestResult spec = RunOne(m, r, Lookup(k));
        EXPECT_TRUE(SameBits(spec, plain)) << ArchName(arch) << " " << r.id << " k=" << k;
        EXPECT_LE(spec.speculative.accepted, spec.speculative.proposed);
        EXPECT_LE(spec.speculative.proposed, k * spec.speculative.verify_passes);
        accepted += spec.speculative.accepted;
        proposed += spec.speculative.proposed;
      }
    }
    // Random models fall into loops that lookup predicts: the test exercised acceptance, and
    // rejection too.
    EXPECT_GT(accepted, 0) << ArchName(arch);
    EXPECT_LT(accepted, proposed) << ArchName(arch);
  }
}

// §R1 still holds: the logprobs speculative generation reports are the teacher-forced ones.
TEST(SpeculativeTest, GenerateThenRescoreIsBitIdentical) {
  auto h = testing::MakeContext(testing::TestableIsas().back(), 2);
  for (const Request& r : Targets()) {
    auto e = Engine::Create(SpecModel(), h.ctx, Lookup(8));
    const RequestResult got = (*e)->Generate({r})[0];
    ASSERT_TRUE(got.status.ok());
    auto scored = (*e)->Score(r.prompt, got.tokens);
    ASSERT_TRUE(scored.ok()) << scored.status().ToString();
    EXPECT_TRUE(testing::BitsEqual(*scored, got.logprobs)) << r.id;
  }
}

// Guesses from an oracle that knows plain decoding's output: all right, all wrong (each guess
// one id off), or right for a while then wrong. The output is plain decoding's every time; the
// counts say the guesses were what they were meant to be.
TEST(SpeculativeTest, GuessesAllRightAllWrongOrMixedGivePlainBits) {
  for (const Request& r : {SpecRequest("greedy", 12, 7, 0.0f, 40), SpecRequest("sampled", 12, 8, 1.0f, 40)}) {
    const RequestResult plain = RunOne(SpecModel(), r);
    ASSERT_TRUE(plain.status.ok());
    std::vector<int32_t> truth = r.prompt;  // prompt + plain decoding's tokens
    truth.insert(truth.end(), plain.tokens.begin(), plain.tokens.end());
    enum Kind { kRight, kWrong, kMixed };
    for (Kind kind : {kRight, kWrong, kMixed}) {
      EngineOptions o;
      o.speculative.source = DraftSource::kCustom;
      o.speculative.max_guesses = 5;
      o.speculative.custom = [&](const Request&, std::span<const int32_t> tokens, int32_t k) {
        EXPECT_TRUE(std::equal(tokens.begin(), tokens.end(), truth.begin()));
        std::vector<int32_t> g;
        for (size_t i = tokens.size(); i < truth.size() && g.size() < size_t(k); ++i) {
          const bool right = kind == kRight || (kind == kMixed && g.size() < tokens.size() % 3);
          g.push_back(right ? truth[i] : (truth[i] + 1) % 64);
        }
        return g;
      };
      const RequestResult spec = RunOne(SpecModel(), r, o);
      EXPECT_TRUE(SameBits(spec, plain)) << r.id << " kind " << kind;
      const SpeculativeStats& st = spec.speculative;
      EXPECT_GT(st.proposed, 0);
      if (kind == kRight) {
        EXPECT_EQ(st.accepted, st.proposed);
        // One token from the prompt's pass, then 1 + k per pass.
        EXPECT_EQ(st.verify_passes, (39 + 5) / 6);
      } else if (kind == kWrong) {
        EXPECT_EQ(st.accepted, 0);
      } else {
        EXPECT_GT(st.accepted, 0);
        EXPECT_LT(st.accepted, st.proposed);
      }
    }
  }
}

// Out-of-vocabulary and surplus guesses from a custom guesser are dropped, not fed.
TEST(SpeculativeTest, GuessesOutsideTheVocabularyAreDropped) {
  const Request r = SpecRequest("r", 10, 9, 0.0f, 20);
  EngineOptions o;
  o.speculative.source = DraftSource::kCustom;
  o.speculative.max_guesses = 3;
  o.speculative.custom = [](const Request&, std::span<const int32_t> tokens, int32_t) {
    return tokens.size() % 2 ? std::vector<int32_t>{5, 6, 7, 8, 9, 10} : std::vector<int32_t>{5, 64, 6};
  };
  const RequestResult spec = RunOne(SpecModel(), r, o);
  EXPECT_TRUE(SameBits(spec, RunOne(SpecModel(), r)));
  EXPECT_LE(spec.speculative.proposed, 3 * spec.speculative.verify_passes);
}

// §A1/§A2 with speculation: speculating requests among plain ones (opted out) of different
// lengths, sampling and arrival steps, in an engine whose KV capacity forces preemption; each
// request has its solo plain bits. Then cache off, chunk sizes, threads and ISAs.
TEST(SpeculativeTest, CoBatchedWithPlainTrafficUnderPreemption) {
  std::vector<Request> reqs;
  for (int i = 0; i < 8; ++i) {
    std::string id = "r";
    id += std::to_string(i);
    Request r = SpecRequest(id, 6 + 9 * size_t(i), 30 + uint64_t(i), i % 3 ? 0.8f : 0.0f, 36);
    r.speculative = i % 4 != 1;  // two of them never guess
    reqs.push_back(r);
  }
  for (int64_t capacity : {4096, 160}) {
    auto h = testing::MakeContext(testing::TestableIsas().back(), 2);
    EngineOptions o = Lookup(6);
    o.kv_capacity_tokens = capacity;
    o.chunk_size = 16;
    auto e = Engine::Create(SpecModel(), h.ctx, o);
    ASSERT_TRUE(e.ok());
    std::vector<RequestResult> done;
    size_t next = 0;
    for (int step = 0; next < reqs.size() || (*e)->HasWork(); ++step) {
      if (step % 3 == 0 && next < reqs.size()) {
        ASSERT_TRUE((*e)->Submit(reqs[next++]).ok());
      }
      ASSERT_TRUE((*e)->Step().ok());
      for (auto& r : (*e)->TakeFinished()) done.push_back(std::move(r));
    }
    ASSERT_EQ(done.size(), reqs.size());
    int64_t preemptions = 0;
    for (const RequestResult& got : done) {
      const Request& r = reqs[got.submission];
      EXPECT_TRUE(SameBits(got, RunOne(SpecModel(), r))) << r.id << " capacity " << capacity;
      if (!r.speculative) {
        EXPECT_EQ(got.speculative.verify_passes, 0) << r.id;
      }
      preemptions += got.preemptions;
    }
    EXPECT_GT((*e)->speculative_stats().accepted, 0);
    if (capacity == 160) {
      EXPECT_GT(preemptions, 0) << "the capacity was meant to force preemption";
    }
  }
}

TEST(SpeculativeTest, CacheOffChunkingThreadsAndIsaGivePlainBits) {
  for (const Request& r : Targets()) {
    const RequestResult plain = RunOne(SpecModel(), r);
    EngineOptions nocache = Lookup(4);
    nocache.no_cache = true;
    EXPECT_TRUE(SameBits(RunOne(SpecModel(), r, nocache), plain)) << r.id << " no cache";
    for (int64_t chunk : {1, 7}) {
      EngineOptions o = Lookup(4);
      o.chunk_size = chunk;
      EXPECT_TRUE(SameBits(RunOne(SpecModel(), r, o), plain)) << r.id << " chunk " << chunk;
    }
    for (Isa isa : testing::TestableIsas()) {
      auto h = testing::MakeContext(isa, 3);
      auto e = Engine::Create(SpecModel(), h.ctx, Lookup(4));
      EXPECT_TRUE(SameBits((*e)->Generate({r})[0], plain)) << r.id << " " << testing::IsaString(isa);
    }
  }
}

// §A4: prefix-cache hits before speculation (on prompt blocks) and after it (on blocks written
// while speculating: only accepted positions are ever published).
TEST(SpeculativeTest, PrefixCacheHitsBeforeAndAfterSpeculationGiveColdBits) {
  auto h = testing::MakeContext(testing::TestableIsas().back(), 2);
  EngineOptions cold_opts;
  cold_opts.prefix_cache = false;
  auto cold = Engine::Create(SpecModel(), h.ctx, cold_opts);
  auto warm = Engine::Create(SpecModel(), h.ctx, Lookup(6));
  Request first = Targets()[4];  // the repeated prompt: lookup accepts from the start
  first.max_new_tokens = 60;
  const RequestResult a = (*warm)->Generate({first})[0];
  ASSERT_TRUE(a.status.ok());
  EXPECT_GT(a.speculative.accepted, 0);
  EXPECT_TRUE(SameBits(a, (*cold)->Generate({first})[0]));
  // Hits on the first prompt's blocks, at and off block boundaries, then speculating.
  for (size_t shared : {16u, 20u, 32u}) {
    Request r = SpecRequest("shared", 5, 50 + shared, shared % 3 ? 0.6f : 0.0f, 30);
    r.prompt.insert(r.prompt.begin(), first.prompt.begin(), first.prompt.begin() + long(shared));
    const RequestResult got = (*warm)->Generate({r})[0];
    EXPECT_GT(got.cached_tokens, 0);
    EXPECT_TRUE(SameBits(got, (*cold)->Generate({r})[0])) << shared;
  }
  // A next turn: the first prompt, its whole speculative generation and more. Its hit covers
  // blocks of generated tokens written by verify passes.
  Request turn2 = SpecRequest("turn2", 7, 60, 0.8f, 20);
  std::vector<int32_t> history = first.prompt;
  history.insert(history.end(), a.tokens.begin(), a.tokens.end());
  turn2.prompt.insert(turn2.prompt.begin(), history.begin(), history.end());
  const RequestResult got = (*warm)->Generate({turn2})[0];
  EXPECT_EQ(got.cached_tokens, static_cast<int64_t>(history.size() - 1) / 16 * 16);
  EXPECT_GT(got.cached_tokens, static_cast<int64_t>(first.prompt.size()));
  EXPECT_TRUE(SameBits(got, (*cold)->Generate({turn2})[0]));
}

// An oracle guesser with k = 8: after the prompt's pass, each verify pass reports up to 9
// tokens, so a stop, a stop id or max_tokens falls inside an accepted run.
EngineOptions Oracle(const std::vector<int32_t>* truth) {
  EngineOptions o;
  o.speculative.source = DraftSource::kCustom;
  o.speculative.max_guesses = 8;
  o.speculative.custom = [truth](const Request&, std::span<const int32_t> tokens, int32_t k) {
    std::vector<int32_t> g;
    for (size_t i = tokens.size(); i < truth->size() && g.size() < size_t(k); ++i) g.push_back((*truth)[i]);
    return g;
  };
  return o;
}

TEST(SpeculativeTest, StopsAndMaxTokensInsideAnAcceptedRunEndAsInPlainDecoding) {
  const auto tok = testing::CharTokenizer();
  Request r = SpecRequest("free", 6, 3, 0.0f, 40);
  const RequestResult full = RunOne(SpecModel(), r, {}, tok.get());
  ASSERT_TRUE(full.status.ok());
  ASSERT_EQ(full.tokens.size(), 40u);
  std::vector<int32_t> truth = r.prompt;
  truth.insert(truth.end(), full.tokens.begin(), full.tokens.end());
  auto both = [&](const Request& q, const char* what) {
    const RequestResult plain = RunOne(SpecModel(), q, {}, tok.get());
    std::string streamed;
    int lasts = 0;
    auto h = testing::MakeContext(Isa::kScalar, 1);
    auto e = Engine::Create(SpecModel(), h.ctx, Oracle(&truth), tok.get());
    (*e)->SetOnTokenEvent([&](const TokenEvent& ev) {
      streamed += ev.text;
      lasts += ev.last;
      for (const std::string& s : q.stop_strings) EXPECT_EQ(streamed.find(s), std::string::npos);
    });
    const RequestResult spec = (*e)->Generate({q})[0];
    EXPECT_TRUE(SameBits(spec, plain)) << what;
    EXPECT_EQ(streamed, spec.text) << what;
    EXPECT_EQ(lasts, 1) << what;
    return spec;
  };
  // A stop string completed by a generated token among 5-8 (inside the first verify pass, which
  // reports tokens 1-9): the last two characters of the text so far, found nowhere before.
  {
    const Tokenizer::DecodeOptions skip{.skip_special_tokens = true};
    Request q = r;
    size_t j = 5;
    for (; j <= 8; ++j) {
      const std::string head = *tok->Decode(std::span(full.tokens).first(j + 1), skip);
      const std::string before = *tok->Decode(std::span(full.tokens).first(j), skip);
      if (head.size() < 2 || head.size() == before.size()) continue;
      q.stop_strings.assign(1, head.substr(head.size() - 2));
      if (head.find(q.stop_strings[0]) == head.size() - 2) break;
    }
    ASSERT_LE(j, 8u) << "no stop string to try in this text";
    const RequestResult spec = both(q, "stop string");
    EXPECT_EQ(spec.finish, FinishReason::kStop);
    EXPECT_EQ(spec.tokens.size(), j + 1);
    EXPECT_EQ(spec.speculative.verify_passes, 1);
    EXPECT_EQ(spec.speculative.proposed, 8);
    EXPECT_EQ(spec.speculative.accepted, static_cast<int64_t>(j));  // every token it reported
  }
  // A stop id at generated token 13 (inside the second pass: tokens 10-18).
  {
    Request q = r;
    q.stop_ids = {full.tokens[13]};
    const size_t at = size_t(std::find(full.tokens.begin(), full.tokens.end(), full.tokens[13]) -
                             full.tokens.begin());
    const RequestResult spec = both(q, "stop id");
    EXPECT_EQ(spec.finish, FinishReason::kStop);
    EXPECT_EQ(spec.tokens.size(), at + 1);
  }
  // max_tokens 14: the first pass reports tokens 1-9, the second may guess only 3 (it draws one
  // more) and ends exactly at the limit.
  {
    Request q = r;
    q.max_new_tokens = 14;
    const RequestResult spec = both(q, "max tokens");
    EXPECT_EQ(spec.finish, FinishReason::kLength);
    EXPECT_EQ(spec.speculative.proposed, 8 + 3);
    EXPECT_EQ(spec.speculative.accepted, 8 + 3);
  }
}

// The context limit inside a run: the shipped verbs model has a 64-token context.
TEST(SpeculativeTest, TheContextLimitInsideARunEndsAsInPlainDecoding) {
  auto b = LoadModelBundle(std::string(DETINFER_SOURCE_DIR) + "/models/verbs");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  auto ids = b->tokenizer->Encode("Yesterday I cooked pasta . Yesterday I", true);
  ASSERT_TRUE(ids.ok());
  for (float temperature : {0.0f, 0.8f}) {
    Request r;
    r.id = "verbs";
    r.prompt = *ids;
    r.max_new_tokens = 200;  // more than the context holds
    r.sampling.temperature = temperature;
    r.sampling.seed = 11;
    r.top_logprobs = 2;
    const RequestResult plain = RunOne(*b->model, r, {}, b->tokenizer.get());
    ASSERT_TRUE(plain.status.ok()) << plain.status.ToString();
    for (int32_t k : {3, 8}) {
      const RequestResult spec = RunOne(*b->model, r, Lookup(k), b->tokenizer.get());
      EXPECT_TRUE(SameBits(spec, plain)) << "temperature " << temperature << " k " << k;
    }
    // Plain decoding's own text as the prompt's second half: lookup guesses it all.
    Request again = r;
    again.prompt.insert(again.prompt.end(), plain.tokens.begin(), plain.tokens.end());
    again.prompt.resize(std::min<size_t>(again.prompt.size(), 40));
    again.prompt.insert(again.prompt.end(), r.prompt.begin(), r.prompt.end());
    again.prompt.resize(std::min<size_t>(again.prompt.size(), 50));
    const RequestResult plain2 = RunOne(*b->model, again, {}, b->tokenizer.get());
    EXPECT_TRUE(SameBits(RunOne(*b->model, again, Lookup(4), b->tokenizer.get()), plain2));
  }
}

// The real stories260K model: its own greedy text as the prompt's first part and the prompt
// again after it (an editing task); greedy and sampled, lookup vs plain.
TEST(SpeculativeTest, Stories260KLookupGivesPlainBits) {
  DETINFER_REQUIRE_STORIES();
  auto b = LoadModelBundle(testing::StoriesDir() + "/gguf/stories260K-f32.gguf");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_NE(b->tokenizer, nullptr);
  auto start = b->tokenizer->Encode("Once upon a time, there was a little girl", true);
  ASSERT_TRUE(start.ok());
  Request seed;
  seed.id = "seed";
  seed.prompt = *start;
  seed.max_new_tokens = 40;
  const RequestResult greedy = RunOne(*b->model, seed);
  ASSERT_TRUE(greedy.status.ok());
  Request r = seed;
  r.id = "copy";
  r.prompt.insert(r.prompt.end(), greedy.tokens.begin(), greedy.tokens.end());
  r.prompt.insert(r.prompt.end(), start->begin() + 1, start->end());
  r.top_logprobs = 2;
  r.max_new_tokens = 60;  // the context is 128 tokens
  int64_t accepted = 0;
  for (float temperature : {0.0f, 0.8f}) {
    r.sampling.temperature = temperature;
    r.sampling.seed = 5;
    const RequestResult plain = RunOne(*b->model, r, {}, b->tokenizer.get());
    ASSERT_TRUE(plain.status.ok());
    for (int32_t k : {2, 8}) {
      const RequestResult spec = RunOne(*b->model, r, Lookup(k), b->tokenizer.get());
      EXPECT_TRUE(SameBits(spec, plain)) << "temperature " << temperature << " k " << k;
      accepted += spec.speculative.accepted;
    }
  }
  EXPECT_GT(accepted, 0);
}


// ---- draft-model guesses ----------------------------------------------------------------------

// A draft of another shape and family than the target (Qwen3, dim 32, 2 layers): Llama, dim 16,
// one layer, the same 64-token vocabulary.
const Transformer& SmallDraft() {
  static const Transformer* m = [] {
    ModelConfig c = testing::TinyEngineConfig(Arch::kLlama);
    c.dim = 16;
    c.n_layers = 1;
    c.n_heads = 2;
    c.n_kv_heads = 1;
    c.ffn_dim = 24;
    auto t = Transformer::Create(testing::RandomModel(c, 77));
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return new Transformer(std::move(t).value());
  }();
  return *m;
}

EngineOptions Drafted(const Transformer& draft, int32_t k = 4) {
  EngineOptions o;
  o.speculative.source = DraftSource::kModel;
  o.speculative.draft_model = &draft;
  o.speculative.max_guesses = k;
  return o;
}

TEST(DraftModelTest, ADraftOfAnotherShapeGivesPlainBits) {
  int64_t proposed = 0;
  for (const Request& r : Targets()) {
    const RequestResult plain = RunOne(SpecModel(), r);
    for (int32_t k : {1, 4, 8}) {
      const RequestResult spec = RunOne(SpecModel(), r, Drafted(SmallDraft(), k));
      EXPECT_TRUE(SameBits(spec, plain)) << r.id << " k=" << k;
      EXPECT_LE(spec.speculative.accepted, spec.speculative.proposed);
      proposed += spec.speculative.proposed;
    }
  }
  EXPECT_GT(proposed, 0);
}

// The model as its own draft guesses greedy decoding's next tokens exactly: every guess of a
// greedy request is accepted (and a sampled request still gets its own draws).
TEST(DraftModelTest, TheModelAsItsOwnDraftGuessesGreedyTextExactly) {
  for (const Request& r : Targets()) {
    const RequestResult plain = RunOne(SpecModel(), r);
    const RequestResult spec = RunOne(SpecModel(), r, Drafted(SpecModel(), 4));
    EXPECT_TRUE(SameBits(spec, plain)) << r.id;
    if (r.sampling.temperature == 0.0f) {
      EXPECT_GT(spec.speculative.proposed, 0) << r.id;
      EXPECT_EQ(spec.speculative.accepted, spec.speculative.proposed) << r.id;
      // The prompt's pass gives one token, then 5 per pass (the last pass may be shorter).
      EXPECT_EQ(spec.speculative.verify_passes, (r.max_new_tokens - 1 + 4) / 5) << r.id;
    }
  }
}

// Among plain traffic, under KV pressure that preempts, with the cache off, and with prefix-cache
// hits on blocks a drafted generation wrote.
TEST(DraftModelTest, CoBatchedPreemptedCacheOffAndPrefixHitsGivePlainBits) {
  std::vector<Request> reqs;
  for (int i = 0; i < 6; ++i) {
    std::string id = "d";
    id += std::to_string(i);
    Request r = SpecRequest(id, 5 + 13 * size_t(i), 70 + uint64_t(i), i % 2 ? 0.9f : 0.0f, 30);
    r.speculative = i != 3;
    reqs.push_back(r);
  }
  for (int64_t capacity : {4096, 128}) {
    auto h = testing::MakeContext(testing::TestableIsas().back(), 2);
    EngineOptions o = Drafted(SpecModel(), 5);
    o.kv_capacity_tokens = capacity;
    o.chunk_size = 16;
    auto e = Engine::Create(SpecModel(), h.ctx, o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    const auto got = (*e)->Generate(reqs);
    for (size_t i = 0; i < reqs.size(); ++i) {
      EXPECT_TRUE(SameBits(got[i], RunOne(SpecModel(), reqs[i]))) << reqs[i].id << " " << capacity;
    }
    EXPECT_GT((*e)->speculative_stats().accepted, 0);
  }
  EngineOptions nocache = Drafted(SmallDraft(), 3);
  nocache.no_cache = true;
  EXPECT_TRUE(SameBits(RunOne(SpecModel(), reqs[2], nocache), RunOne(SpecModel(), reqs[2])));

  auto h = testing::MakeContext(Isa::kScalar, 1);
  auto warm = Engine::Create(SpecModel(), h.ctx, Drafted(SpecModel(), 4));
  const RequestResult first = (*warm)->Generate({reqs[4]})[0];
  Request turn2 = SpecRequest("turn2", 6, 99, 0.0f, 20);
  std::vector<int32_t> history = reqs[4].prompt;
  history.insert(history.end(), first.tokens.begin(), first.tokens.end());
  turn2.prompt.insert(turn2.prompt.begin(), history.begin(), history.end());
  const RequestResult hit = (*warm)->Generate({turn2})[0];
  EXPECT_GT(hit.cached_tokens, static_cast<int64_t>(reqs[4].prompt.size()));
  EXPECT_TRUE(SameBits(hit, RunOne(SpecModel(), turn2)));
}

// A draft KV cache too small for a request: it makes no guesses (and others still do).
TEST(DraftModelTest, ADraftCacheWithoutRoomMakesNoGuessesAndChangesNothing) {
  EngineOptions o = Drafted(SpecModel(), 4);
  o.speculative.draft_kv_capacity_tokens = 48;  // 3 blocks
  auto h = testing::MakeContext(Isa::kScalar, 1);
  auto e = Engine::Create(SpecModel(), h.ctx, o);
  const Request big = SpecRequest("big", 60, 5, 0.0f, 12), small = SpecRequest("small", 8, 6, 0.0f, 12);
  const auto got = (*e)->Generate({big, small});
  EXPECT_TRUE(SameBits(got[0], RunOne(SpecModel(), big)));
  EXPECT_TRUE(SameBits(got[1], RunOne(SpecModel(), small)));
  EXPECT_EQ(got[0].speculative.proposed, 0);
  EXPECT_GT(got[1].speculative.proposed, 0);
}

// A stop string and max_tokens inside an accepted run of the model's own guesses.
TEST(DraftModelTest, StopsAndMaxTokensInsideARunEndAsInPlainDecoding) {
  const auto tok = testing::CharTokenizer();
  Request r = SpecRequest("free", 6, 3, 0.0f, 40);
  const RequestResult full = RunOne(SpecModel(), r, {}, tok.get());
  ASSERT_TRUE(full.status.ok());
  Request stop = r;
  stop.stop_ids = {full.tokens[7]};
  Request length = r;
  length.max_new_tokens = 9;
  for (const Request* q : {&stop, &length}) {
    const RequestResult spec = RunOne(SpecModel(), *q, Drafted(SpecModel(), 8), tok.get());
    EXPECT_TRUE(SameBits(spec, RunOne(SpecModel(), *q, {}, tok.get())));
    // Tokens 1-8 come from one pass (the first from the prompt's): the end falls inside it.
    EXPECT_LE(spec.speculative.verify_passes, 1);
  }
}

TEST(DraftModelTest, ADraftWithAnotherVocabularyIsRefused) {
  ModelConfig c = testing::TinyEngineConfig(Arch::kLlama);
  c.vocab_size = 32;
  auto other = Transformer::Create(testing::RandomModel(c, 1));
  ASSERT_TRUE(other.ok());
  auto h = testing::MakeContext(Isa::kScalar, 1);
  auto e = Engine::Create(SpecModel(), h.ctx, Drafted(*other));
  EXPECT_TRUE(testing::FailsWith(e.status(), {"draft model's vocabulary is 32", "64"}));
  EngineOptions none = Drafted(SpecModel());
  none.speculative.draft_model = nullptr;
  EXPECT_TRUE(testing::FailsWith(Engine::Create(SpecModel(), h.ctx, none).status(), {"draft model"}));
}

// stories260K as its own draft: greedy guesses all accepted; sampled, its own draws.
TEST(DraftModelTest, Stories260KAsItsOwnDraftGivesPlainBits) {
  DETINFER_REQUIRE_STORIES();
  auto b = LoadModelBundle(testing::StoriesDir() + "/gguf/stories260K-f32.gguf");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  Request r;
  r.id = "stories";
  r.prompt = *b->tokenizer->Encode("Once upon a time", true);
  r.max_new_tokens = 60;
  r.top_logprobs = 2;
  for (float temperature : {0.0f, 0.9f}) {
    r.sampling.temperature = temperature;
    r.sampling.seed = 8;
    const RequestResult plain = RunOne(*b->model, r, {}, b->tokenizer.get());
    const RequestResult spec = RunOne(*b->model, r, Drafted(*b->model, 5), b->tokenizer.get());
    EXPECT_TRUE(SameBits(spec, plain)) << temperature;
    if (temperature == 0.0f) {
      EXPECT_GT(spec.speculative.proposed, 0);
      EXPECT_EQ(spec.speculative.accepted, spec.speculative.proposed);
    }
  }
}

}  // namespace
}  // namespace detinfer
