// Run receipts: the hash chain as documented (recomputed here from its definition), a receipt
// edited after the run caught at the step edited, and `generate --receipt` + `replay` on the
// shipped model across ISA paths, thread counts, chunk sizes and co-batched traffic.
#include "verify/receipt.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "cli_run.h"
#include "core/isa.h"
#include "engine/schedule_id.h"
#include "model/model_bundle.h"
#include "model/loader.h"

namespace detinfer {
namespace {

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// The chain written out from docs/receipts.md, independently of receipt.cc.
uint64_t ChainByDefinition(const std::string& sid, const std::vector<int32_t>& tokens,
                           const std::vector<float>& logprobs) {
  uint64_t h = XXH3_64bits(sid.data(), sid.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    unsigned char b[16];
    const uint32_t t = uint32_t(tokens[i]), l = Bits(logprobs[i]);
    for (int k = 0; k < 8; ++k) b[k] = static_cast<unsigned char>((h >> (8 * k)) & 0xff);
    for (int k = 0; k < 4; ++k) b[8 + k] = static_cast<unsigned char>((t >> (8 * k)) & 0xff);
    for (int k = 0; k < 4; ++k) b[12 + k] = static_cast<unsigned char>((l >> (8 * k)) & 0xff);
    h = XXH3_64bits(b, 16);
  }
  return h;
}

ReceiptRun SampleRun() {
  ReceiptRun run;
  run.model = "m.gguf";
  run.model_hash = 0x0123456789abcdefull;
  run.tokenizer_hash = 0xfedcba9876543210ull;
  run.schedule_id = "27b56eaef7638f09";
  run.kv_dtype = DType::kBF16;
  run.request.prompt = {1, 5, 9};
  run.request.max_new_tokens = 6;
  run.request.stop_ids = {2};
  run.request.stop_strings = {"\n\n"};
  run.request.sampling = {0.7f, 40, 0.9f, 0.05f, 18446744073709551615ull, {1.1f, 0.25f, -0.5f}};
  run.request.min_tokens = 2;
  run.result.tokens = {7, 7, 300, 2};
  // Logprobs whose decimal forms would not survive a careless round trip: the bits are kept.
  run.result.logprobs = {-0.1f, -1e-38f, -0.0f, -3.4e38f};
  run.result.finish = FinishReason::kStop;
  run.result.fingerprint = Fingerprint(run.result.tokens, run.result.logprobs);
  return run;
}

TEST(ReceiptTest, RoundTripsEveryFieldAndBit) {
  const ReceiptRun run = SampleRun();
  const nlohmann::json j = MakeReceipt(run);
  EXPECT_EQ(j["chain"], Hex64(ChainByDefinition(run.schedule_id, run.result.tokens,
                                                 run.result.logprobs)));
  auto back = ParseReceipt(nlohmann::json::parse(j.dump()));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  const ReceiptRun& r = back->run;
  EXPECT_EQ(r.model_hash, run.model_hash);
  EXPECT_EQ(r.tokenizer_hash, run.tokenizer_hash);
  EXPECT_EQ(r.kv_dtype, DType::kBF16);
  EXPECT_EQ(r.request.prompt, run.request.prompt);
  EXPECT_EQ(r.request.stop_ids, run.request.stop_ids);
  EXPECT_EQ(r.request.stop_strings, run.request.stop_strings);
  EXPECT_EQ(Bits(r.request.sampling.temperature), Bits(0.7f));
  EXPECT_EQ(Bits(r.request.sampling.top_p), Bits(0.9f));
  EXPECT_EQ(r.request.sampling.top_k, 40);
  EXPECT_EQ(r.request.sampling.seed, 18446744073709551615ull);
  EXPECT_EQ(Bits(r.request.sampling.penalties.repetition), Bits(1.1f));
  EXPECT_EQ(Bits(r.request.sampling.penalties.frequency), Bits(0.25f));
  EXPECT_EQ(Bits(r.request.sampling.penalties.presence), Bits(-0.5f));
  EXPECT_EQ(r.request.min_tokens, 2);
  ASSERT_EQ(r.result.tokens, run.result.tokens);
  for (size_t i = 0; i < run.result.logprobs.size(); ++i) {
    EXPECT_EQ(Bits(r.result.logprobs[i]), Bits(run.result.logprobs[i])) << i;
  }
  EXPECT_EQ(r.result.finish, FinishReason::kStop);
  EXPECT_TRUE(CompareReplay(*back, run.result).same);
}

// A version-1 receipt (written before penalties existed) is read with them neutral.
TEST(ReceiptTest, VersionOneReadsWithNeutralPenalties) {
  nlohmann::json j = MakeReceipt(SampleRun());
  j["version"] = 1;
  for (const char* k : {"repetition_penalty", "presence_penalty", "frequency_penalty", "min_tokens"}) {
    j["request"].erase(k);
  }
  auto r = ParseReceipt(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->run.request.sampling.penalties.repetition, 1.0f);
  EXPECT_EQ(r->run.request.sampling.penalties.presence, 0.0f);
  EXPECT_EQ(r->run.request.sampling.penalties.frequency, 0.0f);
  EXPECT_EQ(r->run.request.min_tokens, 0);
  j["version"] = 3;
  EXPECT_FALSE(ParseReceipt(j).ok());
}

TEST(ReceiptTest, AnEditIsCaughtAtTheStepEdited) {
  const nlohmann::json good = MakeReceipt(SampleRun());
  {  // one logprob bit at step 2
    nlohmann::json j = good;
    j["steps"][2]["logprob_bits"] = "00000001";
    auto r = ParseReceipt(j);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("step 2 "), std::string::npos) << r.status().message();
  }
  {  // one token at step 1
    nlohmann::json j = good;
    j["steps"][1]["token"] = 8;
    auto r = ParseReceipt(j);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("step 1 "), std::string::npos) << r.status().message();
  }
  {  // the last step removed
    nlohmann::json j = good;
    j["steps"].erase(3);
    auto r = ParseReceipt(j);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("chain"), std::string::npos) << r.status().message();
  }
  {  // malformed fields are named
    nlohmann::json j = good;
    j["request"]["prompt_ids"] = {1, -3};
    EXPECT_NE(ParseReceipt(j).status().message().find("request.prompt_ids"), std::string::npos);
    j = good;
    j["version"] = 99;
    EXPECT_NE(ParseReceipt(j).status().message().find("version"), std::string::npos);
    j = good;
    j["model_hash"] = "xyz";
    EXPECT_NE(ParseReceipt(j).status().message().find("model_hash"), std::string::npos);
  }
}

TEST(ReceiptTest, ComparisonNamesTheFirstDifferingStep) {
  auto receipt = ParseReceipt(MakeReceipt(SampleRun()));
  ASSERT_TRUE(receipt.ok());
  RequestResult other = SampleRun().result;
  other.logprobs[2] = 0.0f;  // +0 vs the receipt's -0: one bit
  ReplayComparison c = CompareReplay(*receipt, other);
  EXPECT_FALSE(c.same);
  EXPECT_EQ(c.first_divergent_step, 2);
  EXPECT_NE(c.detail.find("step 2"), std::string::npos) << c.detail;
  other = SampleRun().result;
  other.tokens.pop_back();
  other.logprobs.pop_back();
  c = CompareReplay(*receipt, other);
  EXPECT_EQ(c.first_divergent_step, 3);
}

// The CLI end to end on the shipped model: a sampled run's receipt replays on every ISA path
// this machine has, with other thread counts, chunk sizes and co-batched requests; an edited
// receipt fails at the edited step; another model is refused by its hash.
TEST(ReceiptCliTest, GenerateReceiptReplaysAnywhereAndEditsAreCaught) {
  const std::string model = std::string(DETINFER_SOURCE_DIR) + "/models/verbs";
  const std::string path = ::testing::TempDir() + "receipt_cli_test.json";
  auto gen = testing::Cli("generate " + model + " --prompt 'Yesterday I' --max-tokens 12 "
                          "--temperature 0.9 --seed 5 --threads 2 --receipt " + path);
  ASSERT_EQ(gen.rc, 0) << gen.out;
  for (Isa isa : SupportedIsas(DetectCpuFeatures())) {
    const std::string env = "DETINFER_ISA=" + std::string(IsaName(isa)) + " ";
    auto r = testing::Cli("replay " + path + " --model " + model +
                              " --threads 1 --chunk 2 --co-batch 4", false, env);
    EXPECT_EQ(r.rc, 0) << IsaName(isa) << ": " << r.out;
    EXPECT_NE(r.out.find("replay: OK"), std::string::npos) << r.out;
  }
  std::ifstream in(path);
  nlohmann::json j = nlohmann::json::parse(in);
  ASSERT_GE(j["steps"].size(), 3u);
  // Edited consistently (bits and chain recomputed from step 1 on): the receipt itself is
  // well-formed, and the replay names step 1 as the first that differs.
  const float lp = -0.5f;
  uint64_t chain = ReceiptChainStep(std::stoull(j["steps"][0]["chain"].get<std::string>(),
                                                nullptr, 16),
                                    j["steps"][1]["token"].get<int32_t>(), lp);
  char bits[9];
  std::snprintf(bits, sizeof bits, "%08x", Bits(lp));
  j["steps"][1]["logprob_bits"] = bits;
  j["steps"][1]["chain"] = Hex64(chain);
  for (size_t i = 2; i < j["steps"].size(); ++i) {
    uint64_t b = std::stoull(j["steps"][i]["logprob_bits"].get<std::string>(), nullptr, 16);
    float f;
    const uint32_t b32 = static_cast<uint32_t>(b);
    std::memcpy(&f, &b32, 4);
    chain = ReceiptChainStep(chain, j["steps"][i]["token"].get<int32_t>(), f);
    j["steps"][i]["chain"] = Hex64(chain);
  }
  j["chain"] = Hex64(chain);
  const std::string edited = ::testing::TempDir() + "receipt_cli_test_edited.json";
  std::ofstream(edited) << j.dump();
  auto bad = testing::Cli("replay " + edited + " --model " + model);
  EXPECT_EQ(bad.rc, 1) << bad.out;
  EXPECT_NE(bad.out.find("DIFFERENT: step 1:"), std::string::npos) << bad.out;
  // Another model: refused by content hash, naming both.
  const std::string other_model = ::testing::TempDir() + "receipt_other.gguf";
  ASSERT_EQ(testing::Cli("init --arch llama --dim 32 --layers 1 --heads 4 --kv-heads 4 --ffn 64 "
                         "--vocab 200 --seed 1 --dtype f32 --format gguf --out " + other_model)
                .rc, 0);
  auto other = testing::Cli("replay " + path + " --model " + other_model);
  EXPECT_EQ(other.rc, 1) << other.out;
  EXPECT_NE(other.out.find("content hash"), std::string::npos) << other.out;
  EXPECT_NE(other.out.find(j["model_hash"].get<std::string>()), std::string::npos) << other.out;
}

// Receipts written before the model hash was computed piecewise (ModelFilesHash) name the model
// by its one-stream XXH3 (ModelFilesHashV1) and carry the schedule id and chain made from it:
// such a receipt still replays, and the same receipt with any other model hash is refused.
TEST(ReceiptCliTest, AReceiptNamingTheModelByItsOneStreamHashStillReplays) {
  const std::string model = std::string(DETINFER_SOURCE_DIR) + "/models/verbs";
  const std::string path = ::testing::TempDir() + "receipt_v1_hash.json";
  ASSERT_EQ(testing::Cli("generate " + model + " --prompt 'Yesterday I' --max-tokens 6 "
                         "--temperature 0.9 --seed 7 --threads 2 --receipt " + path)
                .rc,
            0);
  nlohmann::json j = nlohmann::json::parse(std::ifstream(path));
  auto w = LoadModel(model);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  // The old function, written out from its definition: one XXH3-64 stream over the files.
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  for (const MappedFile& f : w->files) XXH3_64bits_update(st, f.data(), f.size());
  const uint64_t v1 = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  ASSERT_EQ(ModelFilesHashV1(w->files), v1);
  ASSERT_NE(Hex64(v1), j["model_hash"].get<std::string>());
  const auto rewrite = [&](uint64_t model_hash) {
    nlohmann::json e = j;
    const uint64_t tok = std::stoull(j["tokenizer_hash"].get<std::string>(), nullptr, 16);
    const std::string sid = ScheduleId({Isa::kScalar, DType::kF32, model_hash, tok});
    e["model_hash"] = Hex64(model_hash);
    e["schedule_id"] = sid;
    uint64_t chain = ReceiptChainStart(sid);
    for (auto& step : e["steps"]) {
      const auto b = static_cast<uint32_t>(
          std::stoull(step["logprob_bits"].get<std::string>(), nullptr, 16));
      float f;
      std::memcpy(&f, &b, 4);
      chain = ReceiptChainStep(chain, step["token"].get<int32_t>(), f);
      step["chain"] = Hex64(chain);
    }
    e["chain"] = Hex64(chain);
    const std::string out = ::testing::TempDir() + "receipt_v1_hash_" + Hex64(model_hash) + ".json";
    std::ofstream(out) << e.dump();
    return out;
  };
  auto ok = testing::Cli("replay " + rewrite(v1) + " --model " + model);
  EXPECT_EQ(ok.rc, 0) << ok.out;
  EXPECT_NE(ok.out.find("replay: OK"), std::string::npos) << ok.out;
  auto bad = testing::Cli("replay " + rewrite(v1 ^ 1) + " --model " + model);
  EXPECT_EQ(bad.rc, 1) << bad.out;
  EXPECT_NE(bad.out.find("content hash"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace detinfer
