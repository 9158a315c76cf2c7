// Engine::Cancel: a cancelled request's KV blocks return to the cache at once, it reports no
// result, and the requests beside it keep their bits.
#include <gtest/gtest.h>

#include <cstring>

#include "engine/engine.h"
#include "engine_test_util.h"
#include "model/random_model.h"

namespace detinfer {
namespace {

const Transformer& CancelModel() {
  static const Transformer* m = [] {
    auto t =
        Transformer::Create(testing::RandomModel(testing::TinyEngineConfig(Arch::kLlama), 5));
    return new Transformer(std::move(t).value());
  }();
  return *m;
}

Request Req(const std::string& id, int32_t first, int32_t max_new) {
  Request r;
  r.id = id;
  for (int32_t i = 0; i < 40; ++i) r.prompt.push_back((first + i * 7) % 64);
  r.max_new_tokens = max_new;
  r.sampling.temperature = 0.9f;
  r.sampling.seed = uint64_t(first);
  return r;
}

TEST(EngineCancelTest, CancelReturnsEveryBlockAndLeavesOthersUntouched) {
  for (const bool prefix_cache : {false, true}) {
    EngineOptions o;
    o.prefix_cache = prefix_cache;
    o.chunk_size = 16;
    auto e = Engine::Create(CancelModel(), KernelContext{}, o);
    ASSERT_TRUE(e.ok());
    Engine& engine = **e;
    const int32_t total = engine.cache().num_blocks();
    const uint64_t victim = engine.next_submission();
    ASSERT_TRUE(engine.Submit(Req("victim", 3, 100)).ok());
    ASSERT_TRUE(engine.Submit(Req("other", 11, 20)).ok());
    for (int i = 0; i < 8; ++i) ASSERT_TRUE(engine.Step().ok());  // both prefilled, decoding
    EXPECT_LT(engine.cache().available_blocks(), total);
    EXPECT_TRUE(engine.Cancel(victim));
    EXPECT_FALSE(engine.Cancel(victim));  // already gone
    EXPECT_EQ(engine.active(), 1u);
    std::vector<RequestResult> done;
    while (engine.HasWork()) {
      ASSERT_TRUE(engine.Step().ok());
      for (auto& r : engine.TakeFinished()) done.push_back(std::move(r));
    }
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].id, "other");
    // Nothing is held by a sequence any more: every block is free or (prefix cache) reusable.
    EXPECT_EQ(engine.cache().available_blocks(), total) << "prefix cache " << prefix_cache;
    if (!prefix_cache) {
      EXPECT_EQ(engine.cache().free_blocks(), total);
    }
    // The survivor's bits are those it gets alone.
    auto alone = Engine::Create(CancelModel(), KernelContext{}, o);
    ASSERT_TRUE(alone.ok());
    const RequestResult ref = (*alone)->Generate({Req("other", 11, 20)})[0];
    EXPECT_EQ(done[0].tokens, ref.tokens);
    EXPECT_EQ(done[0].fingerprint, ref.fingerprint);
  }
}

TEST(EngineCancelTest, TokenEventsCarryTheReportedLogprobs) {
  auto e = Engine::Create(CancelModel(), KernelContext{}, EngineOptions{});
  ASSERT_TRUE(e.ok());
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::vector<size_t> indices;
  (*e)->SetOnTokenEvent([&](const TokenEvent& ev) {
    tokens.push_back(ev.token);
    logprobs.push_back(ev.logprob);
    indices.push_back(ev.index);
    EXPECT_NE(ev.top, nullptr);
  });
  Request r = Req("a", 9, 12);
  r.top_logprobs = 2;
  const RequestResult res = (*e)->Generate({r})[0];
  EXPECT_EQ(tokens, res.tokens);
  ASSERT_EQ(logprobs.size(), res.logprobs.size());
  for (size_t i = 0; i < logprobs.size(); ++i) {
    EXPECT_EQ(std::memcmp(&logprobs[i], &res.logprobs[i], sizeof(float)), 0);
    EXPECT_EQ(indices[i], i);
  }
}

}  // namespace
}  // namespace detinfer
