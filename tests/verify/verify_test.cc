// `verify` on healthy random models passes every axis; each planted fault is caught and the
// localiser names the layer and op where it was planted; the localiser's ordering; taps do
// not change a bit.
#include "verify/verify.h"

#include <gtest/gtest.h>

#include <cstring>
#include <ostream>
#include <set>

#include "model/random_model.h"
#include "verify/axes.h"

namespace detinfer::verify {
namespace {

ModelConfig SmallConfig(bool qwen3) {
  ModelConfig c;
  c.arch = qwen3 ? Arch::kQwen3 : Arch::kLlama;
  c.dim = 32;
  c.n_layers = 3;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 8;
  c.ffn_dim = 48;
  c.vocab_size = 96;
  c.max_seq_len = 128;
  c.rope_style = RopeStyle::kRotateHalf;
  c.qk_norm = qwen3;
  return c;
}

Transformer MakeModel(bool qwen3, uint64_t seed) {
  auto t = Transformer::Create(testing::RandomModel(SmallConfig(qwen3), seed));
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(t).value();
}

VerifyOptions SmallRun() {
  VerifyOptions o;
  o.prompts = 3;
  o.max_tokens = 6;
  o.long_prompts = 1;
  o.long_tokens = 40;
  o.threads = 2;
  return o;
}

class HealthyModelTest : public ::testing::TestWithParam<bool> {};

TEST_P(HealthyModelTest, EveryAxisPasses) {
  Transformer model = MakeModel(GetParam(), 5);
  auto report = RunVerify(model, nullptr, SmallRun());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  std::set<std::string> seen;
  for (const CaseResult& r : report->results) {
    EXPECT_TRUE(r.pass) << "case " << r.case_index << " " << r.axis << " step "
                        << r.first_divergence_step << " " << r.error;
    EXPECT_GT(r.steps_compared, 0) << r.axis;
    seen.insert(r.axis);
  }
  const auto all = AllAxes(SupportedIsas(DetectCpuFeatures()), BestIsa(DetectCpuFeatures()));
  for (const AxisDef& a : all) EXPECT_TRUE(seen.count(a.name)) << a.name << " never ran";
  EXPECT_EQ(report->failed(), 0);
  EXPECT_EQ(model.fault(), Fault::kNone);
}

INSTANTIATE_TEST_SUITE_P(LlamaAndQwen3, HealthyModelTest, ::testing::Values(false, true));

struct Planted {
  Fault fault;
  int64_t layer;  // -1: the last layer
  const char* op;
};

// Named, so that gtest does not print the struct's padding bytes.
void PrintTo(const Planted& p, std::ostream* os) { *os << FaultName(p.fault); }

class FaultTest : public ::testing::TestWithParam<Planted> {};

TEST_P(FaultTest, IsCaughtAndLocalisedToWhereItWasPlanted) {
  const Planted p = GetParam();
  Transformer model = MakeModel(true, 9);
  VerifyOptions o = SmallRun();
  o.prompts = 2;
  o.fault = p.fault;
  o.axes = {"cache-off", "token-by-token", "rescore", "slot-identity"};
  auto report = RunVerify(model, nullptr, o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  const int64_t layer = p.layer < 0 ? model.config().n_layers - 1 : p.layer;
  int failed = 0;
  for (const CaseResult& r : report->results) {
    if (r.pass) continue;
    ++failed;
    ASSERT_TRUE(r.error.empty()) << r.error;
    ASSERT_TRUE(r.where.has_value()) << r.axis << ": " << r.localiser_note;
    EXPECT_EQ(r.where->layer, layer) << r.axis;
    EXPECT_EQ(r.where->op, p.op) << r.axis;
    EXPECT_GE(r.where->head, 0);
    EXPECT_GT(r.where->max_abs_diff, 0.0);
  }
  EXPECT_GT(failed, 0) << FaultName(p.fault) << " went unnoticed";
  EXPECT_EQ(model.fault(), Fault::kNone);  // reset after the run
}

INSTANTIATE_TEST_SUITE_P(
    AllFaults, FaultTest,
    ::testing::Values(Planted{Fault::kKvWriteBeforeAttend, 0, "attention"},
                      Planted{Fault::kRopeOffByOne, 0, "q"},
                      Planted{Fault::kStaleLayerCache, -1, "attention"},
                      Planted{Fault::kKvDtypeSkipRounding, 0, "attention"}),
    [](const auto& param_info) {
      std::string n(FaultName(param_info.param.fault));
      for (char& ch : n) ch = ch == '-' ? '_' : ch;
      return n;
    });

TEST(FaultNamesTest, ParseRoundTripsAndUnknownNamesAreErrors) {
  for (Fault f : AllFaults()) EXPECT_EQ(*ParseFault(FaultName(f)), f);
  auto bad = ParseFault("rope-off-by-two");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("unknown fault 'rope-off-by-two'"), std::string::npos);
}

TEST(VerifyOptionsTest, UnknownAxisIsAnErrorNamingIt) {
  Transformer model = MakeModel(false, 1);
  VerifyOptions o = SmallRun();
  o.axes = {"cache-of"};
  auto r = RunVerify(model, nullptr, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unknown axis 'cache-of'"), std::string::npos);
}

TraceRow Row(std::vector<float> v, int64_t head_dim = 0) { return TraceRow{std::move(v), head_dim}; }

TEST(LocaliserTest, FirstDifferenceIsInLayerThenOpThenPositionOrder) {
  Trace a, b;
  const int q = static_cast<int>(TapOp::kQ), attn = static_cast<int>(TapOp::kAttention);
  a[{0, q, 5}] = Row({1, 2, 3, 4}, 2);
  b[{0, q, 5}] = Row({1, 2, 3, 4}, 2);
  a[{0, attn, 9}] = Row({1, 2, 3, 4}, 2);
  b[{0, attn, 9}] = Row({1, 2, 3, 4.5f}, 2);  // head 1, |diff| 0.5
  a[{1, q, 2}] = Row({7, 7}, 2);  // a later layer at an earlier position: a consequence
  b[{1, q, 2}] = Row({8, 7}, 2);
  a[{0, attn, 12}] = Row({0, 0}, 2);  // only in one trace: not compared
  int64_t rows = 0;
  const auto d = FirstDifference(a, b, &rows);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->layer, 0);
  EXPECT_EQ(d->op, "attention");
  EXPECT_EQ(d->position, 9);
  EXPECT_EQ(d->head, 1);
  EXPECT_EQ(d->max_abs_diff, 0.5);
  EXPECT_EQ(d->differing_elements, 1);
  b[{0, attn, 9}] = a[{0, attn, 9}];
  b[{1, q, 2}] = a[{1, q, 2}];
  EXPECT_FALSE(FirstDifference(a, b, &rows).has_value());
  EXPECT_EQ(rows, 3);
}

TEST(LocaliserTest, RecorderSeparatesSequencesByTheirTokens) {
  TraceRecorder rec;
  const float v0[2] = {1, 2}, v1[2] = {3, 4};
  const TapRow r0[1] = {{0, 0, 7}}, r1[1] = {{0, 0, 8}};  // one seq id reused for other tokens
  rec.OnTap({0, TapOp::kAttnNorm, v0, 2, 2, 0, r0});
  rec.OnTap({0, TapOp::kAttnNorm, v1, 2, 2, 0, r1});
  const std::vector<int32_t> seven{7}, eight{8};
  EXPECT_EQ(rec.TraceOf(seven).at({0, 0, 0}).values, (std::vector<float>{1, 2}));
  EXPECT_EQ(rec.TraceOf(eight).at({0, 0, 0}).values, (std::vector<float>{3, 4}));
}

TEST(LocaliserTest, TapsDoNotChangeABit) {
  Transformer model = MakeModel(true, 3);
  const std::vector<int32_t> ids{1, 5, 9, 33, 2, 80, 17};
  std::vector<float> plain, tapped;
  KernelContext ctx;
  ctx.isa = BestIsa(DetectCpuFeatures());
  ASSERT_TRUE(model.ForwardNoCache(ctx, ids, &plain, DType::kBF16).ok());
  TraceRecorder rec;
  model.SetObserver(&rec);
  ASSERT_TRUE(model.ForwardNoCache(ctx, ids, &tapped, DType::kBF16).ok());
  model.SetObserver(nullptr);
  ASSERT_EQ(plain.size(), tapped.size());
  EXPECT_EQ(std::memcmp(plain.data(), tapped.data(), plain.size() * 4), 0);
  // Every op of every layer was tapped for every position, plus the last position's logits.
  const Trace t = rec.TraceOf(ids);
  EXPECT_EQ(t.size(), static_cast<size_t>(model.config().n_layers * (kNumTapOps - 1)) * ids.size() + 1);
}

}  // namespace
}  // namespace detinfer::verify
