// Engine::Pause / Resume around weight updates (docs/engine.md, "Weight updates"): abort ends
// requests with what they generated, retract recomputes their K/V under the new weights,
// in_place keeps it. Expectations come from fresh engines, never from the paused one.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/storage_format.h"
#include "engine/engine.h"
#include "engine_test_util.h"
#include "model/arch.h"
#include "model/random_init.h"
#include "model/tensor_roles.h"

namespace detinfer {
namespace {

using testing::SameBits;

Transformer PauseTestModel(uint64_t seed) {
  auto w = InitRandomModel(testing::TinyEngineConfig(Arch::kQwen3), seed, DType::kF32);
  EXPECT_TRUE(w.ok());
  auto t = Transformer::Create(std::move(w).value());
  EXPECT_TRUE(t.ok());
  return std::move(t).value();
}

Request PauseTestRequest(const std::string& id, int32_t first, float temperature) {
  Request r;
  r.id = id;
  for (int32_t k = 0; k < 19; ++k) r.prompt.push_back((first + 5 * k) % 64);
  r.max_new_tokens = 10;
  r.sampling.temperature = temperature;
  r.sampling.seed = static_cast<uint64_t>(first);
  return r;
}

EngineOptions PauseTestOptions() {
  EngineOptions o;
  o.chunk_size = 8;
  o.block_size = 4;
  return o;
}

std::vector<RequestResult> PauseTestFresh(const Transformer& m, std::vector<Request> rs) {
  auto e = Engine::Create(m, KernelContext{}, PauseTestOptions());
  EXPECT_TRUE(e.ok());
  return (*e)->Generate(std::move(rs));
}

// Steps until every active request has generated at least one token (and none finished).
void StepUntilPauseTestDecodes(Engine& e) {
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(e.Step().ok());
  ASSERT_TRUE(e.TakeFinished().empty());
}

std::vector<RequestResult> DrainPausedEngine(Engine& e) {
  std::vector<RequestResult> out;
  while (e.HasWork()) {
    const Status st = e.Step();
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (!st.ok()) break;  // a failing step would leave the work there: stop, not spin
    for (RequestResult& r : e.TakeFinished()) out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(),
            [](const RequestResult& a, const RequestResult& b) { return a.submission < b.submission; });
  return out;
}

std::vector<NamedTensor> AllPauseTestTensors(const Transformer& m) {
  std::vector<NamedTensor> out;
  ModelWeights& w = const_cast<ModelWeights&>(m.weights());
  for (const auto& [role, layer] : ListFileRoles(w.config)) {
    const TensorView& v = *MutableViewOf(w, role, layer);
    out.push_back({HfTensorName(w.config.arch, role, layer), v.dtype,
                   std::vector<int64_t>(v.shape, v.shape + v.rank),
                   std::span(static_cast<const uint8_t*>(v.data), StorageBytes(v.dtype, v.numel()))});
  }
  return out;
}

TEST(PauseTest, AbortEndsRequestsWithWhatTheyGenerated) {
  Transformer model = PauseTestModel(1);
  const std::vector<Request> rs = {PauseTestRequest("a", 3, 0.9f), PauseTestRequest("b", 8, 0.0f)};
  const std::vector<RequestResult> full = PauseTestFresh(model, rs);
  auto e = Engine::Create(model, KernelContext{}, PauseTestOptions());
  ASSERT_TRUE(e.ok());
  for (const Request& r : rs) ASSERT_TRUE((*e)->Submit(r).ok());
  StepUntilPauseTestDecodes(**e);
  ASSERT_TRUE((*e)->Pause(Engine::PauseMode::kAbort).ok());
  EXPECT_EQ((*e)->active(), 0u);
  std::vector<RequestResult> got = (*e)->TakeFinished();
  ASSERT_EQ(got.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(got[i].finish, FinishReason::kAbort);
    const size_t n = got[i].tokens.size();
    ASSERT_GT(n, 0u);
    ASSERT_LT(n, full[i].tokens.size());
    // A prefix of the uninterrupted run, bit for bit.
    EXPECT_EQ(got[i].tokens, std::vector<int32_t>(full[i].tokens.begin(), full[i].tokens.begin() + long(n)));
    EXPECT_TRUE(testing::BitsEqual(got[i].logprobs, std::vector<float>(full[i].logprobs.begin(),
                                                                       full[i].logprobs.begin() + long(n))));
    EXPECT_EQ(got[i].fingerprint, Fingerprint(got[i].tokens, got[i].logprobs));
  }
  // Paused: Step runs nothing, Generate refuses; after Resume all is as before.
  EXPECT_TRUE((*e)->paused());
  EXPECT_FALSE((*e)->Generate({rs[0]})[0].status.ok());
  (*e)->Resume();
  EXPECT_TRUE(SameBits((*e)->Generate({rs[0]})[0], full[0]));
}

TEST(PauseTest, InPlacePauseWithoutAnUpdateChangesNoBit) {
  Transformer model = PauseTestModel(1);
  const std::vector<Request> rs = {PauseTestRequest("a", 3, 0.9f), PauseTestRequest("b", 8, 0.0f)};
  const std::vector<RequestResult> full = PauseTestFresh(model, rs);
  for (const auto mode : {Engine::PauseMode::kInPlace, Engine::PauseMode::kRetract}) {
    auto e = Engine::Create(model, KernelContext{}, PauseTestOptions());
    ASSERT_TRUE(e.ok());
    for (const Request& r : rs) ASSERT_TRUE((*e)->Submit(r).ok());
    StepUntilPauseTestDecodes(**e);
    ASSERT_TRUE((*e)->Pause(mode).ok());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*e)->Step().ok());  // runs nothing
    ASSERT_TRUE((*e)->FlushCache().ok());
    (*e)->Resume();
    const std::vector<RequestResult> got = DrainPausedEngine(**e);
    ASSERT_EQ(got.size(), 2u);
    for (size_t i = 0; i < 2; ++i) EXPECT_TRUE(SameBits(got[i], full[i])) << i;
  }
}

TEST(PauseTest, RetractRecomputesKvUnderTheNewWeights) {
  // Greedy, so the continuation under the new weights is what a fresh engine on them generates
  // after the prompt and the tokens already drawn.
  Transformer model = PauseTestModel(1);
  const Transformer next = PauseTestModel(2);
  const Request req = PauseTestRequest("g", 5, 0.0f);
  const RequestResult old_full = PauseTestFresh(model, {req})[0];
  auto e = Engine::Create(model, KernelContext{}, PauseTestOptions());
  ASSERT_TRUE(e.ok());
  size_t drawn = 0;  // tokens reported so far
  (*e)->SetOnTokenEvent([&drawn](const TokenEvent&) { ++drawn; });
  ASSERT_TRUE((*e)->Submit(req).ok());
  StepUntilPauseTestDecodes(**e);
  const size_t k = drawn;  // drawn under the old weights
  ASSERT_GT(k, 0u);
  ASSERT_TRUE((*e)->Pause(Engine::PauseMode::kRetract).ok());
  ASSERT_TRUE((*e)->UpdateWeightsFromTensors(AllPauseTestTensors(next)).ok());
  (*e)->Resume();
  const std::vector<RequestResult> got = DrainPausedEngine(**e);
  ASSERT_EQ(got.size(), 1u);
  const RequestResult& r = got[0];
  EXPECT_TRUE(r.mixed_weights);
  EXPECT_EQ(r.weight_version.counter, 1u);
  EXPECT_EQ(r.weight_version.hash, next.weight_hash());
  ASSERT_EQ(r.tokens.size(), old_full.tokens.size());
  ASSERT_LT(k, r.tokens.size());
  // The tokens drawn before the update keep their old-weight values...
  EXPECT_EQ(std::vector<int32_t>(r.tokens.begin(), r.tokens.begin() + long(k)),
            std::vector<int32_t>(old_full.tokens.begin(), old_full.tokens.begin() + long(k)));
  EXPECT_TRUE(testing::BitsEqual(std::vector<float>(r.logprobs.begin(), r.logprobs.begin() + long(k)),
                                 std::vector<float>(old_full.logprobs.begin(),
                                                    old_full.logprobs.begin() + long(k))));
  // ...and the rest is what the new weights generate after prompt + those tokens.
  Request cont = req;
  cont.prompt.insert(cont.prompt.end(), r.tokens.begin(), r.tokens.begin() + long(k));
  cont.max_new_tokens = req.max_new_tokens - static_cast<int32_t>(k);
  const RequestResult fresh = PauseTestFresh(next, {cont})[0];
  EXPECT_EQ(std::vector<int32_t>(r.tokens.begin() + long(k), r.tokens.end()), fresh.tokens);
  EXPECT_TRUE(testing::BitsEqual(std::vector<float>(r.logprobs.begin() + long(k), r.logprobs.end()),
                                 fresh.logprobs));
}

TEST(PauseTest, InPlaceUpdateKeepsEarlierTokensAndMarksTheResultMixed) {
  Transformer model = PauseTestModel(1);
  const Transformer next = PauseTestModel(2);
  const Request req = PauseTestRequest("p", 6, 0.9f);
  const RequestResult old_full = PauseTestFresh(model, {req})[0];
  auto e = Engine::Create(model, KernelContext{}, PauseTestOptions());
  ASSERT_TRUE(e.ok());
  size_t drawn = 0;
  (*e)->SetOnTokenEvent([&drawn](const TokenEvent&) { ++drawn; });
  ASSERT_TRUE((*e)->Submit(req).ok());
  StepUntilPauseTestDecodes(**e);
  const size_t k = drawn;
  ASSERT_GT(k, 0u);
  ASSERT_TRUE((*e)->Pause(Engine::PauseMode::kInPlace).ok());
  ASSERT_TRUE((*e)->UpdateWeightsFromTensors(AllPauseTestTensors(next)).ok());
  (*e)->Resume();
  const std::vector<RequestResult> got = DrainPausedEngine(**e);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].mixed_weights);
  EXPECT_EQ(got[0].weight_version.counter, 1u);
  EXPECT_EQ(got[0].preemptions, 0) << "in_place keeps the K/V";
  ASSERT_GE(got[0].tokens.size(), k);
  EXPECT_EQ(std::vector<int32_t>(got[0].tokens.begin(), got[0].tokens.begin() + long(k)),
            std::vector<int32_t>(old_full.tokens.begin(), old_full.tokens.begin() + long(k)));
  EXPECT_NE(got[0].fingerprint, old_full.fingerprint) << "the new weights changed nothing";
}

}  // namespace
}  // namespace detinfer
