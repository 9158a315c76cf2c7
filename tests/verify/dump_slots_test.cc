// dump-slots: both paths' slots land in slots.npz in the storage dtype (read back by the
// independent parser), equal on a healthy model, different where a fault was planted.
#include "verify/slot_dump.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "model/model_test_util.h"
#include "model/random_model.h"
#include "verify/npz_reader.h"

namespace detinfer::verify {
namespace {

Transformer DumpModel() {
  ModelConfig c;
  c.arch = Arch::kLlama;
  c.dim = 32;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 8;
  c.ffn_dim = 40;
  c.vocab_size = 64;
  c.max_seq_len = 64;
  c.rope_style = RopeStyle::kRotateHalf;
  auto t = Transformer::Create(testing::RandomModel(c, 17));
  EXPECT_TRUE(t.ok());
  return std::move(t).value();
}

const std::vector<int32_t> kPrompt{1, 12, 40, 7, 3};

TEST(DumpSlotsTest, WritesBothPathsInTheStorageDtype) {
  Transformer model = DumpModel();
  KernelContext ctx;
  ctx.isa = BestIsa(DetectCpuFeatures());
  testing::TempDir bf, f32;
  auto a = DumpSlots(model, ctx, kPrompt, "", DType::kBF16, nullptr, bf.path(), "random", {});
  auto b = DumpSlots(model, ctx, kPrompt, "", DType::kF32, nullptr, f32.path(), "random", {});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_TRUE(a->all_equal());
  EXPECT_EQ(a->positions, 6);
  EXPECT_TRUE(std::filesystem::exists(bf.file("report.md")));
  EXPECT_TRUE(std::filesystem::exists(bf.file("manifest.json")));

  const auto za = testing::ReadNpz(bf.file("slots.npz"));
  const auto zb = testing::ReadNpz(f32.file("slots.npz"));
  ASSERT_TRUE(za.error.empty()) << za.error;
  ASSERT_TRUE(zb.error.empty()) << zb.error;
  const std::vector<int64_t> shape{2, 6, 2, 8};
  for (const char* name : {"prefill_decode_k", "prefill_decode_v", "one_pass_k", "one_pass_v"}) {
    EXPECT_EQ(za.arrays.at(name).descr, "<u2") << name;  // bf16 as raw bits
    EXPECT_EQ(zb.arrays.at(name).descr, "<f4") << name;
    EXPECT_EQ(za.arrays.at(name).shape, shape) << name;
    EXPECT_EQ(za.arrays.at(name).data.size(), 2u * 6 * 2 * 8 * 2) << name;
  }
  EXPECT_EQ(za.arrays.at("prefill_decode_k").data, za.arrays.at("one_pass_k").data);
  EXPECT_EQ(za.arrays.at("prefill_decode_v").data, za.arrays.at("one_pass_v").data);
  const auto& tokens = za.arrays.at("tokens");
  EXPECT_EQ(tokens.descr, "<i4");
  int32_t last = 0;
  std::memcpy(&last, tokens.data.data() + 5 * 4, 4);
  EXPECT_EQ(last, a->token);
  // Layer 0's K/V do not depend on the cache dtype before rounding: the bf16 slots are the f32
  // slots rounded once (core's F32ToBF16 is tested against its own oracle).
  const auto& kf = zb.arrays.at("one_pass_k").data;
  const auto& kb = za.arrays.at("one_pass_k").data;
  for (size_t i = 0; i < 6 * 2 * 8; ++i) {
    float f;
    uint16_t h;
    std::memcpy(&f, kf.data() + 4 * i, 4);
    std::memcpy(&h, kb.data() + 2 * i, 2);
    ASSERT_EQ(h, F32ToBF16(f)) << "element " << i;
  }
}

TEST(DumpSlotsTest, APlantedRopeFaultShowsInLayer0Keys) {
  Transformer model = DumpModel();
  model.InjectFault(Fault::kRopeOffByOne);
  KernelContext ctx;
  testing::TempDir dir;
  auto d = DumpSlots(model, ctx, kPrompt, "", DType::kBF16, nullptr, dir.path(), "random", {});
  model.InjectFault(Fault::kNone);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->all_equal());
  EXPECT_FALSE(d->layers[0].k_equal);  // RoPE rotates K...
  EXPECT_TRUE(d->layers[0].v_equal);   // ...but never V
  EXPECT_GT(d->layers[0].k_max_abs_diff, 0.0);
}

TEST(DumpSlotsTest, ErrorsNameWhatIsWrong) {
  Transformer model = DumpModel();
  KernelContext ctx;
  testing::TempDir dir;
  auto empty = DumpSlots(model, ctx, {}, "", DType::kBF16, nullptr, dir.path(), "m", {});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("prompt is empty"), std::string::npos);
  const std::vector<int32_t> full(64, 1);
  auto too_long = DumpSlots(model, ctx, full, "", DType::kBF16, nullptr, dir.path(), "m", {});
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.status().message().find("no room for the decoded token"), std::string::npos);
}

}  // namespace
}  // namespace detinfer::verify
