// RoPE scaling: the llama3, linear and yarn divisors against their closed forms, config errors that
// name the field, and one model read from config.json's rope_scaling and from the GGUF file it
// converts to (llama.cpp's rope_freqs.weight) computing the same logits bit for bit.
#include "model/rope_scaling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/gguf_writer.h"
#include "model/hf_writer.h"
#include "model/loader.h"
#include "model/random_init.h"
#include "model/transformer.h"
#include "model/model_test_util.h"
#include "model/writer_test_util.h"

namespace detinfer {
namespace {

using testing::FailsWith;
using testing::TempDir;

nlohmann::json Llama31Scaling() {
  // Llama-3.1-8B's config.json.
  return {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
          {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
}

TEST(RopeScalingTest, Llama3DivisorsFollowTheWavelength) {
  auto s = ParseHfRopeScaling(Llama31Scaling(), 128, 500000.0, "c");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->kind, RopeScaling::Kind::kLlama3);
  ASSERT_EQ(s->divisors.size(), 64u);
  int low = 0, high = 0, medium = 0;
  float prev = 0.0f;
  for (int i = 0; i < 64; ++i) {
    const double wavelen = 2 * M_PI * std::pow(500000.0, 2.0 * i / 128);
    const float d = s->divisors[size_t(i)];
    if (wavelen < 8192.0 / 4) {
      EXPECT_EQ(d, 1.0f) << i;  // short wavelengths keep their frequency
      ++high;
    } else if (wavelen > 8192.0 / 1) {
      EXPECT_EQ(d, 8.0f) << i;  // long ones are slowed by the factor
      ++low;
    } else {
      EXPECT_GT(d, 1.0f) << i;
      EXPECT_LT(d, 8.0f) << i;
      ++medium;
    }
    EXPECT_GE(d, prev) << i;  // longer wavelengths are never slowed less
    prev = d;
  }
  EXPECT_GT(high, 0);
  EXPECT_GT(low, 0);
  EXPECT_GT(medium, 0);

  // One medium frequency by hand: head_dim 2 has inv_freq 1 (wavelength 2 pi); with an original
  // context of 20 it lies between 20 / 4 and 20 / 1, at smooth = (20 / 2pi - 1) / 3.
  nlohmann::json small = Llama31Scaling();
  small["original_max_position_embeddings"] = 20;
  auto m = ParseHfRopeScaling(small, 2, 10000.0, "c");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const double smooth = (20.0 / (2 * M_PI) - 1.0) / 3.0;
  EXPECT_EQ(m->divisors[0], static_cast<float>(1.0 / ((1.0 - smooth) / 8.0 + smooth)));
}

TEST(RopeScalingTest, LinearDividesEveryFrequency) {
  auto s = ParseHfRopeScaling({{"type", "linear"}, {"factor", 2.5}}, 8, 10000.0, "c");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->divisors, std::vector<float>(4, 2.5f));
  auto none = ParseHfRopeScaling({{"rope_type", "default"}}, 8, 10000.0, "c");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->kind, RopeScaling::Kind::kNone);
  EXPECT_TRUE(none->divisors.empty());
}

TEST(RopeScalingTest, BadScalingsNameTheField) {
  struct Case {
    nlohmann::json obj;
    std::vector<std::string> says;
  };
  nlohmann::json extra = Llama31Scaling();
  extra["beta_fast"] = 32;
  nlohmann::json inverted = Llama31Scaling();
  inverted["high_freq_factor"] = 0.5;
  const Case cases[] = {
      {{{"rope_type", "ntk-by-parts"}, {"factor", 4.0}}, {"'ntk-by-parts'", "not supported"}},
      {{{"rope_type", "dynamic"}, {"factor", 2.0}}, {"'dynamic'", "how long its sequence"}},
      {{{"rope_type", "yarn"}}, {"needs \"factor\""}},
      {{{"rope_type", "yarn"}, {"factor", 4.0}, {"truncate", 1}}, {"\"truncate\" must be"}},
      {{{"rope_type", "yarn"}, {"factor", 4.0}, {"beta_fast", -2}}, {"\"beta_fast\""}},
      {{{"rope_type", "yarn"}, {"factor", 4.0}, {"low_freq_factor", 1}},
       {"\"low_freq_factor\"", "not used by type 'yarn'"}},
      {{{"factor", 2.0}}, {"names no rope_type"}},
      {{{"rope_type", "linear"}}, {"needs \"factor\""}},
      {{{"rope_type", "linear"}, {"factor", -1.0}}, {"\"factor\" must be a positive number"}},
      {extra, {"\"beta_fast\"", "not used by type 'llama3'"}},
      {inverted, {"must exceed low_freq_factor"}},
      {nlohmann::json::array(), {"must be an object"}},
  };
  for (const Case& c : cases) {
    const Status s = ParseHfRopeScaling(c.obj, 8, 10000.0, "dir/config.json", 128).status();
    EXPECT_TRUE(FailsWith(s, {"dir/config.json"})) << c.obj.dump();
    for (const std::string& w : c.says) EXPECT_TRUE(FailsWith(s, {w})) << c.obj.dump();
  }
}

// yarn against its closed form, worked by hand for rotary dim 8, theta 1e4 and an original
// context of 4096: the correction dims are 8 ln(4096 / (2 pi b)) / (2 ln 1e4) = 1.31 (b = 32)
// and 2.81 (b = 1), so the ramp runs from 1 to 3 (rounded outwards): frequencies 0 and 1 keep
// their speed, 2 is halfway (1 / (0.5 / 4 + 0.5)), 3 is slowed by the factor. With the original
// in rope_scaling the factor is the context ratio 16384 / 4096 = 4 whatever "factor" says, and
// the attention factor is 0.1 ln 4 + 1.
TEST(RopeScalingTest, YarnDivisorsAndAttentionFactorFollowTransformers) {
  auto s = ParseHfRopeScaling({{"rope_type", "yarn"}, {"factor", 7.0},
                               {"original_max_position_embeddings", 4096}},
                              8, 10000.0, "c", 16384);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->kind, RopeScaling::Kind::kYarn);
  EXPECT_EQ(s->factor, 4.0);
  EXPECT_EQ(s->divisors, (std::vector<float>{1.0f, 1.0f, static_cast<float>(1.0 / 0.625), 4.0f}));
  EXPECT_NEAR(s->attention_factor, 0.1 * std::log(4.0) + 1.0, 1e-7);
  // Not rounded outwards: the ramp is (i - 1.31) / 1.5; an explicit attention factor wins.
  auto u = ParseHfRopeScaling({{"rope_type", "yarn"}, {"factor", 4.0}, {"truncate", false},
                               {"attention_factor", 1.5}, {"original_max_position_embeddings", 4096}},
                              8, 10000.0, "c", 16384);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  const double low = 8 * std::log(4096 / (32 * 2 * M_PI)) / (2 * std::log(1e4));
  const double high = 8 * std::log(4096 / (2 * M_PI)) / (2 * std::log(1e4));
  for (int i = 0; i < 4; ++i) {
    const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
    EXPECT_NEAR(u->divisors[size_t(i)], 1.0 / (ramp / 4.0 + 1.0 - ramp), 1e-6) << i;
  }
  EXPECT_EQ(u->attention_factor, 1.5);
  // Without the original in rope_scaling: the config's context is the original, factor as given.
  auto c = ParseHfRopeScaling({{"rope_type", "yarn"}, {"factor", 2.0}}, 8, 10000.0, "c", 4096);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->factor, 2.0);
  EXPECT_EQ(c->original_max_positions, 4096);
  EXPECT_EQ(c->divisors[3], 2.0f);
  // config.json written back reads to the same divisors and attention factor.
  for (const RopeScaling& r : {*s, *u, *c}) {
    auto j = HfRopeScalingJson(r);
    ASSERT_TRUE(j.ok());
    auto back = ParseHfRopeScaling(*j, 8, 10000.0, "c", r.original_in_config ? 16384 : 4096);
    ASSERT_TRUE(back.ok()) << back.status().ToString() << " " << j->dump();
    EXPECT_EQ(back->divisors, r.divisors) << j->dump();
    EXPECT_EQ(back->attention_factor, r.attention_factor) << j->dump();
  }
}

std::vector<float> Logits(ModelWeights w) {
  auto t = Transformer::Create(std::move(w));
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  std::vector<float> logits;
  const std::vector<int32_t> ids = {1, 5, 9, 3, 7, 2, 11, 4, 6, 8, 10, 12};
  const Status st = t->ForwardNoCache(KernelContext{}, ids, &logits, DType::kF32);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return logits;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// A random Llama (head_dim 8, theta 1e4: wavelengths 2pi, 20pi, 200pi, 2000pi) with a llama3
// scaling over an original context of 1000: two frequencies kept, one blended, one slowed by 8.
TEST(RopeScalingTest, HuggingFaceAndGgufComputeTheSameBits) {
  auto w = InitRandomModel(testing::SmallConfig(Arch::kLlama), 7, DType::kF32);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  nlohmann::json scaling = Llama31Scaling();
  scaling["original_max_position_embeddings"] = 1000;
  auto s = ParseHfRopeScaling(scaling, w->config.head_dim, w->config.rope_theta, "c");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->divisors.size(), 4u);
  EXPECT_EQ(s->divisors[0], 1.0f);
  EXPECT_EQ(s->divisors[1], 1.0f);
  EXPECT_GT(s->divisors[2], 1.0f);
  EXPECT_LT(s->divisors[2], 8.0f);
  EXPECT_EQ(s->divisors[3], 8.0f);
  w->config.rope_scaling = *s;

  TempDir out;
  ASSERT_TRUE(WriteHuggingFace(*w, out.file("hf")).ok());
  auto h = LoadModel(out.file("hf"));  // read back through config.json's rope_scaling
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->config.rope_scaling.kind, RopeScaling::Kind::kLlama3);
  EXPECT_EQ(h->config.rope_scaling.original_max_positions, 1000);
  EXPECT_EQ(h->config.rope_scaling.divisors, s->divisors);
  ASSERT_TRUE(WriteGguf(*h, out.file("m.gguf")).ok());
  auto g = LoadModel(out.file("m.gguf"));  // through rope_freqs.weight
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->config.rope_scaling.kind, RopeScaling::Kind::kFreqFactors);
  EXPECT_EQ(g->config.rope_scaling.divisors, s->divisors);
  // GGUF's bare divisors have no config.json form: refused, not dropped.
  EXPECT_TRUE(FailsWith(WriteHuggingFace(*g, out.file("hf2")), {"rope_freqs.weight"}));

  auto plain = InitRandomModel(testing::SmallConfig(Arch::kLlama), 7, DType::kF32);
  ASSERT_TRUE(plain.ok());
  const std::vector<float> a = Logits(std::move(*h)), b = Logits(std::move(*g)),
                           c = Logits(std::move(*w)), unscaled = Logits(std::move(*plain));
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(SameBits(a, b)) << "HF and GGUF differ";
  EXPECT_TRUE(SameBits(a, c)) << "the written model and the one in memory differ";
  EXPECT_FALSE(SameBits(a, unscaled)) << "the scaling changed nothing";
}

}  // namespace
}  // namespace detinfer
