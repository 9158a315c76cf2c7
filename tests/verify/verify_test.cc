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
  // bf16: the rounding-once rule is checked too (kv-dtype-skip-rounding needs it).
  o.kv_dtype = DType::kBF16;
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
  const auto all = AllAxes(SupportedIsas(DetectCpuFeatures()), BestIsa(DetectCpuFeatures()),
                           SmallRun().long_tokens);
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

TEST(VerifyOptionsTest, KvDTypeDefaultsToF32AsTheEngineDoes) {
  EXPECT_EQ(VerifyOptions{}.kv_dtype, DType::kF32);
}

TEST(FitToContextTest, DefaultsThatDoNotFitAreShortenedWithANote) {
  VerifyOptions o;  // 64 tokens, long axis 256 tokens
  auto note = FitToContext(&o, 64, false, false, "models/verbs");
  ASSERT_TRUE(note.ok()) << note.status().ToString();
  EXPECT_EQ(*note,
            "models/verbs has a 64-token context; generating 48 tokens per prompt "
            "(--max-tokens), 48 on the long axis (--long-tokens)");
  EXPECT_EQ(o.max_tokens, 48);
  EXPECT_EQ(o.long_tokens, 48);
  EXPECT_EQ(o.max_tokens_shortened_from, 64);
  EXPECT_EQ(o.long_tokens_shortened_from, 256);
}

TEST(FitToContextTest, DefaultsThatFitAreKept) {
  VerifyOptions o;
  auto note = FitToContext(&o, 512, false, false, "m");
  ASSERT_TRUE(note.ok());
  EXPECT_EQ(*note, "");
  EXPECT_EQ(o.max_tokens, 64);
  EXPECT_EQ(o.long_tokens, 256);
  EXPECT_EQ(o.max_tokens_shortened_from, 0);
  EXPECT_EQ(o.long_tokens_shortened_from, 0);
}

TEST(FitToContextTest, TheLongAxisIsLeftAloneWhenItDoesNotRun) {
  VerifyOptions o;
  o.max_tokens = 8;
  o.axes = {"cache-off"};
  auto note = FitToContext(&o, 64, true, false, "m");
  ASSERT_TRUE(note.ok());
  EXPECT_EQ(*note, "");
  EXPECT_EQ(o.long_tokens_shortened_from, 0);
  o.axes = {"long"};
  o.long_prompts = 0;
  EXPECT_EQ(*FitToContext(&o, 64, true, false, "m"), "");
}

TEST(FitToContextTest, GivenValuesThatCannotFitNameTheFlagAndTheLimit) {
  VerifyOptions o;
  auto r = FitToContext(&o, 64, true, false, "m");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("--max-tokens 64 leaves no room"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("(at most 63)"), std::string::npos) << r.status().message();
  o = VerifyOptions{};
  o.max_tokens = 8;
  r = FitToContext(&o, 64, true, true, "m");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--long-tokens 256 leaves no room"), std::string::npos)
      << r.status().message();
  // A given value that fits, however close, is kept.
  o = VerifyOptions{};
  o.max_tokens = 63;
  o.long_tokens = 63;
  ASSERT_TRUE(FitToContext(&o, 64, true, true, "m").ok());
  EXPECT_EQ(o.max_tokens, 63);
  EXPECT_EQ(o.long_tokens, 63);
}

TEST(LongAxisTest, IsNamedByItsLengthAndSelectableAsLongOrLong256) {
  EXPECT_EQ(LongAxisName(48), "long-48");
  for (const char* name : {"long", "long-256", "long-40"}) {
    EXPECT_TRUE(IsLongAxisName(name, 40)) << name;
  }
  EXPECT_FALSE(IsLongAxisName("long-41", 40));
  Transformer model = MakeModel(false, 5);
  for (const char* name : {"long", "long-256", "long-40"}) {
    VerifyOptions o = SmallRun();
    o.prompts = 1;
    o.axes = {name};
    auto report = RunVerify(model, nullptr, o);
    ASSERT_TRUE(report.ok()) << name << ": " << report.status().ToString();
    ASSERT_EQ(report->results.size(), 1u) << name;
    EXPECT_EQ(report->results[0].axis, "long-40");
    EXPECT_GT(report->results[0].steps_compared, 0);
  }
}

TEST(LongAxisTest, AGivenLengthBeyondTheContextIsRefusedNotCut) {
  Transformer model = MakeModel(false, 5);  // context 128
  VerifyOptions o = SmallRun();
  o.long_tokens = 128;
  auto report = RunVerify(model, nullptr, o);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("--long-tokens 128 leaves no room"), std::string::npos)
      << report.status().message();
}

VerifyReport FakeReport(const std::string& long_axis) {
  VerifyReport r;
  r.context = 64;
  r.axes = {"cache-off", long_axis};
  for (int i = 0; i < 2; ++i) {
    for (const std::string& axis : r.axes) {
      CaseResult c;
      c.case_index = i;
      c.axis = axis;
      c.section = "A5";
      c.pass = true;
      r.results.push_back(c);
    }
  }
  return r;
}

TEST(SummaryTableTest, NamesTheLongAxisByItsActualCountsAndSaysWhatWasShortened) {
  VerifyOptions o;
  o.prompts = 2;
  ASSERT_TRUE(FitToContext(&o, 64, false, false, "m").ok());
  const std::string s = SummaryTable(FakeReport("long-48"), o);
  EXPECT_NE(s.find("long-48            A5"), std::string::npos) << s;
  EXPECT_NE(s.find("2 prompts x 48 tokens (long-48: all 2 prompts x 48 tokens)"), std::string::npos)
      << s;
  EXPECT_NE(s.find("defaults shortened to fit the model's 64-token context: --max-tokens 64 -> 48, "
                   "--long-tokens 256 -> 48"),
            std::string::npos)
      << s;
  EXPECT_EQ(s.find("256 tokens"), std::string::npos) << s;

  VerifyOptions given;
  given.prompts = 5;
  given.max_tokens = 10;
  given.long_prompts = 3;
  given.long_tokens = 30;
  const std::string g = SummaryTable(FakeReport("long-30"), given);
  EXPECT_NE(g.find("5 prompts x 10 tokens (long-30: first 3 prompts x 30 tokens)"),
            std::string::npos)
      << g;
  EXPECT_EQ(g.find("shortened"), std::string::npos) << g;
  const auto manifest = ManifestJson(FakeReport("long-48"), o, "m", {});
  EXPECT_EQ(manifest["configuration"]["max_tokens_default_shortened_from"], 64);
  EXPECT_EQ(manifest["configuration"]["long_tokens_default_shortened_from"], 256);
  EXPECT_TRUE(ManifestJson(FakeReport("long-30"), given, "m", {})["configuration"]
                  ["max_tokens_default_shortened_from"].is_null());
}

TEST(ProgressTextTest, ShowsTheEstimatedTimeRemaining) {
  EXPECT_EQ(ProgressText(0, 10, "case 0 cache-off", 0.0), "[0/10 0%] case 0 cache-off, ETA --");
  // 1 of 4 done in 20 s: 3 more at that rate.
  EXPECT_EQ(ProgressText(1, 4, "case 0 chunk", 20.0), "[1/4 25%] case 0 chunk, ETA 1m00s");
  EXPECT_EQ(ProgressText(3, 4, "x", 30.0), "[3/4 75%] x, ETA 10s");
  EXPECT_EQ(ProgressText(1, 1000, "x", 10.0), "[1/1000 0%] x, ETA 2h46m");
  EXPECT_EQ(ProgressText(4, 4, "done", 83.0), "[4/4 100%] done, done in 1m23s");
}

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
