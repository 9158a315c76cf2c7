// SentencePiece tokenizer.model files, checked against SentencePiece's own Python binding: the
// two tiny models under tests/data/tokenizers/spm (a Llama-2-style BPE with byte fallback and a
// T5-style Unigram with nmt_nfkc normalization) and their expected ids and decodes were written
// by scripts/spm-reference (spm_train and python3-sentencepiece 0.1.97), never by detinfer.
// Also: the special-token rules (with and without a tokenizer_config.json), TokenBytes, errors,
// and a Hugging Face model directory whose only tokenizer is a tokenizer.model.
#include "tokenizer/sentencepiece_model.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "model/model_bundle.h"
#include "model/tiny_model.h"
#include "tokenizer/streaming_decoder.h"

namespace detinfer {
namespace {

using nlohmann::json;
using testing::FailsWith;

const std::string kSpm = std::string(DETINFER_SOURCE_DIR) + "/tests/data/tokenizers/spm/";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<Tokenizer> LoadSp(const std::string& name, const SentencePieceOptions& o = {}) {
  auto t = LoadSentencePieceModel(kSpm + name, o);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

std::vector<int32_t> SpIds(const json& j) { return j.get<std::vector<int32_t>>(); }

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

// Every reference case of `model`: ids, pieces, the decode, the skip-special decode, the
// TokenBytes concatenation, streaming, and the round trip where SentencePiece's decode gives
// the text back.
void ExpectMatchesReference(const std::string& model) {
  const json expected = json::parse(ReadAll(kSpm + model + ".expected.json"));
  auto t = LoadSp(model + ".model");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->vocab_size(), expected["vocab_size"].get<int32_t>());
  EXPECT_EQ(t->bos_id(), expected["bos_id"].get<int32_t>());
  EXPECT_EQ(t->eos_id(), expected["eos_id"].get<int32_t>());
  EXPECT_EQ(t->unk_id(), expected["unk_id"].get<int32_t>());
  ASSERT_GT(expected["cases"].size(), 40u);
  size_t round_trips = 0;
  for (const json& c : expected["cases"]) {
    const std::string text = c["text"].get<std::string>();
    SCOPED_TRACE(model + ": text '" + text + "'");
    const std::vector<int32_t> want = SpIds(c["ids"]);
    auto ids = t->Encode(text, false);
    ASSERT_TRUE(ids.ok()) << ids.status().ToString();
    EXPECT_EQ(*ids, want);
    for (size_t i = 0; i < want.size(); ++i) {
      auto piece = t->TokenText(want[i]);
      ASSERT_TRUE(piece.ok());
      EXPECT_EQ(*piece, c["pieces"][i].get<std::string>());
    }
    // Decode: SentencePiece's DecodeIds, except that special pieces appear as their text
    // (DecodeIds drops control pieces and writes the unknown piece as " ⁇ ").
    bool has_special = false;
    bool has_control = false;
    for (int32_t id : want) {
      has_special = has_special || t->IsSpecial(id);
      has_control = has_control || (t->IsSpecial(id) && id != t->unk_id());
    }
    auto d = t->Decode(want);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    if (!has_special) {
      EXPECT_EQ(*d, c["decode"].get<std::string>());
    } else if (!has_control) {
      EXPECT_EQ(*d, ReplaceAll(c["decode"].get<std::string>(), " \xE2\x81\x87 ", "<unk>"));
    }
    auto skip = t->Decode(want, Tokenizer::DecodeOptions{.skip_special_tokens = true});
    ASSERT_TRUE(skip.ok());
    EXPECT_EQ(*skip, c["decode_skip"].get<std::string>());
    // TokenBytes, concatenated, is Decode (before U+FFFD replacement; all valid here).
    std::string bytes;
    int32_t prev = -1;
    for (int32_t id : want) {
      auto b = t->TokenBytes(id, prev);
      ASSERT_TRUE(b.ok());
      bytes += *b;
      prev = id;
    }
    EXPECT_EQ(bytes, *d);
    StreamingDecoder stream(*t);
    std::string streamed;
    for (int32_t id : want) {
      auto piece = stream.Push(id);
      ASSERT_TRUE(piece.ok());
      streamed += *piece;
    }
    streamed += stream.Finish();
    EXPECT_EQ(streamed, *d);
    if (c["decode"] == text) {
      ++round_trips;
      EXPECT_EQ(*d, text);
    }
  }
  EXPECT_GT(round_trips, 20u);
}

TEST(SentencePieceModel, BpeByteFallbackMatchesSentencePiece) { ExpectMatchesReference("bpe"); }

TEST(SentencePieceModel, UnigramNmtNfkcMatchesSentencePiece) {
  ExpectMatchesReference("unigram");
}

TEST(SentencePieceModel, ByteFallbackAndUnknownPieces) {
  auto bpe = LoadSp("bpe.model");
  ASSERT_NE(bpe, nullptr);
  // '龘' is not a piece: three byte pieces, each TokenBytes one byte.
  auto ids = bpe->Encode("\xE9\xBE\x98", false);
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->size(), 4u);  // "▁" then <0xE9> <0xBE> <0x98>
  EXPECT_EQ(*bpe->TokenText((*ids)[1]), "<0xE9>");
  EXPECT_EQ(*bpe->TokenBytes((*ids)[1], -1), "\xE9");
  EXPECT_EQ(*bpe->TokenBytes((*ids)[2], (*ids)[1]), "\xBE");
  EXPECT_FALSE(bpe->IsSpecial((*ids)[1]));
  // A lone continuation byte and a truncated character: one U+FFFD per maximal subpart.
  const int32_t e9 = (*ids)[1], be = (*ids)[2];
  const std::vector<int32_t> bad = {be, e9, be};
  EXPECT_EQ(*bpe->Decode(bad), "\xEF\xBF\xBD\xEF\xBF\xBD");

  auto uni = LoadSp("unigram.model");
  ASSERT_NE(uni, nullptr);
  auto u = uni->Encode("\xE9\xBE\x98", false);  // not in the T5-style vocabulary
  ASSERT_TRUE(u.ok());
  ASSERT_FALSE(u->empty());
  EXPECT_EQ(u->back(), uni->unk_id());
  EXPECT_TRUE(uni->IsSpecial(uni->unk_id()));
  EXPECT_EQ(*uni->TokenText(uni->unk_id()), "<unk>");
}

TEST(SentencePieceModel, SpecialTokensDefaultRules) {
  auto bpe = LoadSp("bpe.model");  // Llama style: <unk> 0, <s> 1, </s> 2
  ASSERT_NE(bpe, nullptr);
  EXPECT_EQ(bpe->bos_id(), 1);
  EXPECT_EQ(bpe->eos_id(), 2);
  EXPECT_EQ(bpe->unk_id(), 0);
  auto plain = bpe->Encode("Hello", false);
  auto with = bpe->Encode("Hello", true);
  ASSERT_TRUE(plain.ok() && with.ok());
  std::vector<int32_t> want = {1};
  want.insert(want.end(), plain->begin(), plain->end());
  EXPECT_EQ(*with, want);  // BOS, no EOS (LlamaTokenizer's defaults)
  EXPECT_EQ(*bpe->Encode("", true), std::vector<int32_t>{1});
  EXPECT_EQ(*bpe->Encode("", false), std::vector<int32_t>{});
  for (int32_t id : {0, 1, 2}) EXPECT_TRUE(bpe->IsSpecial(id)) << id;
  EXPECT_FALSE(bpe->IsSpecial((*plain)[0]));
  EXPECT_FALSE(bpe->IsSpecial(-1));
  EXPECT_FALSE(bpe->IsSpecial(bpe->vocab_size()));
  // Special pieces decode as their text; skip_special_tokens leaves them out, and the first
  // piece then kept loses its dummy-prefix space, as DecodeIds gives.
  auto d = bpe->Decode(*with);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, "<s> Hello");
  EXPECT_EQ(*bpe->Decode(*with, {.skip_special_tokens = true}), "Hello");
  // Special-token strings in the text are their ids; "<|user|>" is a user-defined piece
  // (SentencePiece matches it itself), not special.
  auto s = bpe->Encode("<s>Hello</s>", false);
  ASSERT_TRUE(s.ok());
  ASSERT_GE(s->size(), 3u);
  EXPECT_EQ(s->front(), 1);
  EXPECT_EQ(s->back(), 2);
  auto user = bpe->Encode("<|user|>", false);
  ASSERT_TRUE(user.ok());
  ASSERT_EQ(user->size(), 2u);
  EXPECT_EQ(*bpe->TokenText((*user)[1]), "<|user|>");
  EXPECT_FALSE(bpe->IsSpecial((*user)[1]));

  auto uni = LoadSp("unigram.model");  // T5 style: <pad> 0, </s> 1, <unk> 2, no BOS
  ASSERT_NE(uni, nullptr);
  EXPECT_EQ(uni->bos_id(), -1);
  EXPECT_EQ(uni->eos_id(), 1);
  EXPECT_EQ(*uni->Encode("Hello", true), *uni->Encode("Hello", false));  // no BOS to add
  EXPECT_TRUE(uni->IsSpecial(0));  // <pad>, a control piece
}

TEST(SentencePieceModel, SpecialTokensFromTokenizerConfig) {
  auto plain = LoadSp("bpe.model")->Encode("Hello", false).value();
  auto with_ids = [&](std::vector<int32_t> before, std::vector<int32_t> after) {
    before.insert(before.end(), plain.begin(), plain.end());
    before.insert(before.end(), after.begin(), after.end());
    return before;
  };
  SentencePieceOptions o;
  o.add_eos_token = true;
  EXPECT_EQ(*LoadSp("bpe.model", o)->Encode("Hello", true), with_ids({1}, {2}));
  o.add_bos_token = false;
  EXPECT_EQ(*LoadSp("bpe.model", o)->Encode("Hello", true), with_ids({}, {2}));
  o.add_eos_token = false;
  EXPECT_EQ(*LoadSp("bpe.model", o)->Encode("Hello", true), plain);
  // Names from tokenizer_config.json pick the pieces (and make them special).
  SentencePieceOptions names;
  names.bos_token = "</s>";
  names.eos_token = "<s>";
  names.add_eos_token = true;
  auto swapped = LoadSp("bpe.model", names);
  EXPECT_EQ(swapped->bos_id(), 2);
  EXPECT_EQ(swapped->eos_id(), 1);
  EXPECT_EQ(*swapped->Encode("Hello", true), with_ids({2}, {1}));
  SentencePieceOptions user;
  user.eos_token = "<|user|>";
  auto u = LoadSp("bpe.model", user);
  EXPECT_TRUE(u->IsSpecial(u->eos_id()));
  SentencePieceOptions missing;
  missing.bos_token = "<|begin_of_text|>";
  EXPECT_TRUE(FailsWith(LoadSentencePieceModel(kSpm + "bpe.model", missing).status(),
                        {kSpm + "bpe.model", "'<|begin_of_text|>'", "not a piece"}));
  // T5Tokenizer appends EOS and ignores the flags.
  SentencePieceOptions t5;
  t5.tokenizer_class = "T5Tokenizer";
  t5.add_bos_token = true;
  auto uni = LoadSp("unigram.model", t5);
  auto ids = uni->Encode("Hello", true);
  ASSERT_TRUE(ids.ok());
  auto want = *uni->Encode("Hello", false);
  want.push_back(1);
  EXPECT_EQ(*ids, want);
}

TEST(SentencePieceModel, TokenBytesDropsOnlyTheFirstDummyPrefix) {
  auto bpe = LoadSp("bpe.model");
  ASSERT_NE(bpe, nullptr);
  auto ids = bpe->Encode("The end", false);
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(*bpe->TokenText((*ids)[0]), "\xE2\x96\x81The");
  EXPECT_EQ(*bpe->TokenBytes((*ids)[0], -1), "The");
  EXPECT_EQ(*bpe->TokenBytes((*ids)[0], 1), " The");  // after BOS: the space stays
  EXPECT_EQ(*bpe->TokenBytes((*ids)[0], (*ids)[0]), " The");
  EXPECT_TRUE(FailsWith(bpe->TokenBytes(bpe->vocab_size(), -1).status(), {"outside"}));
  EXPECT_TRUE(FailsWith(bpe->TokenText(-1).status(), {"outside"}));
  EXPECT_TRUE(FailsWith(bpe->Decode(std::vector<int32_t>{5, 600}).status(),
                        {"600", "size 600"}));
}

TEST(SentencePieceModel, InvalidUtf8NamesTheOffset) {
  auto bpe = LoadSp("bpe.model");
  ASSERT_NE(bpe, nullptr);
  EXPECT_TRUE(FailsWith(bpe->Encode(std::string("ab\xC3(", 4), false).status(),
                        {"bpe.model", "byte offset 2"}));
  EXPECT_TRUE(FailsWith(bpe->Encode(std::string("<s>\xFF", 4), true).status(), {"byte offset 3"}));
}

TEST(SentencePieceModel, BrokenFilesNameTheFile) {
  testing::TempDir dir;
  const std::string good = ReadAll(kSpm + "bpe.model");
  const std::string truncated = dir.file("truncated.model");
  testing::WriteText(truncated, good.substr(0, good.size() / 2 + 3));
  EXPECT_TRUE(FailsWith(LoadSentencePieceModel(truncated).status(),
                        {truncated, "not a SentencePiece model"}));
  const std::string garbage = dir.file("garbage.model");
  testing::WriteText(garbage, "this is not a protobuf \xFF\xFF\xFF\xFF\x01");
  EXPECT_TRUE(FailsWith(LoadSentencePieceModel(garbage).status(),
                        {garbage, "not a SentencePiece model"}));
  const std::string empty = dir.file("empty.model");
  testing::WriteText(empty, "");
  EXPECT_TRUE(FailsWith(LoadSentencePieceModel(empty).status(), {empty, "empty"}));
  EXPECT_TRUE(FailsWith(LoadSentencePieceModel(dir.file("absent.model")).status(),
                        {dir.file("absent.model")}));
}

TEST(SentencePieceModel, RecognisedByItsFirstBytes) {
  EXPECT_TRUE(LooksLikeSentencePieceModel(ReadAll(kSpm + "bpe.model").substr(0, 64)));
  EXPECT_TRUE(LooksLikeSentencePieceModel(ReadAll(kSpm + "unigram.model").substr(0, 64)));
  EXPECT_FALSE(LooksLikeSentencePieceModel(""));
  EXPECT_FALSE(LooksLikeSentencePieceModel("{\"model\": {}}"));
  EXPECT_FALSE(LooksLikeSentencePieceModel(std::string("\x1b\0\0\0\0\0\0\0", 8)));  // llama2.c
  EXPECT_FALSE(LooksLikeSentencePieceModel(std::string("\x0a\x03\x0a\x05<unk>", 9)));
}

// One tokenizer serves many threads (the interface's promise; SentencePiece's Encode is const
// and keeps no state between calls).
TEST(SentencePieceModel, SharedBetweenThreads) {
  const json expected = json::parse(ReadAll(kSpm + "bpe.expected.json"));
  auto t = LoadSp("bpe.model");
  ASSERT_NE(t, nullptr);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (size_t k = 0; k < mismatches.size(); ++k) {
    threads.emplace_back([&, k] {
      for (int round = 0; round < 20; ++round) {
        for (const json& c : expected["cases"]) {
          auto ids = t->Encode(c["text"].get<std::string>(), false);
          if (!ids.ok() || *ids != SpIds(c["ids"])) ++mismatches[k];
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

// A Hugging Face model directory with a tokenizer.model and no tokenizer.json: the tiny model
// with its embedding grown to the BPE model's 600 pieces.
void WriteHfDirWithVocab600(const std::string& dir) {
  std::vector<testing::TinyTensor> tensors = testing::TinyTensors(Arch::kLlama, true);
  ASSERT_EQ(tensors[0].name, "model.embed_tokens.weight");
  tensors[0].shape = {600, testing::kTinyDim};
  tensors[0].values = testing::RandomFloats(static_cast<size_t>(600 * testing::kTinyDim), 7);
  std::string config = testing::TinyHfConfig(Arch::kLlama);
  const std::string from = "\"vocab_size\": 16";
  const size_t at = config.find(from);
  ASSERT_NE(at, std::string::npos);
  config.replace(at, from.size(), "\"vocab_size\": 600");
  testing::WriteText(dir + "/config.json", config);
  testing::WriteFile(dir + "/model.safetensors", testing::TinySafetensors(tensors));
  std::filesystem::copy_file(kSpm + "bpe.model", dir + "/tokenizer.model");
}

TEST(SentencePieceModel, HuggingFaceDirectoryFindsTokenizerModel) {
  testing::TempDir dir;
  WriteHfDirWithVocab600(dir.path());
  auto b = LoadModelBundle(dir.path());
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_NE(b->tokenizer, nullptr);
  EXPECT_EQ(b->tokenizer_path, dir.file("tokenizer.model"));
  EXPECT_EQ(b->tokenizer_source, "beside the model");
  EXPECT_NE(b->tokenizer_hash, 0u);
  auto ref = LoadSp("bpe.model");
  EXPECT_EQ(*b->tokenizer->Encode("Hello world", true), *ref->Encode("Hello world", true));

  // tokenizer_config.json beside it is read as for tokenizer.json.
  testing::WriteText(dir.file("tokenizer_config.json"),
                     R"({"tokenizer_class": "LlamaTokenizer", "add_bos_token": false,
                         "add_eos_token": true, "eos_token": {"content": "</s>"}})");
  auto t = LoadModelTokenizer(dir.path());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  auto ids = t->tokenizer->Encode("Hello", true);
  ASSERT_TRUE(ids.ok());
  auto want = *ref->Encode("Hello", false);
  want.push_back(2);
  EXPECT_EQ(*ids, want);

  // A tokenizer.json wins over tokenizer.model.
  std::filesystem::remove(dir.file("tokenizer_config.json"));
  testing::WriteText(dir.file("tokenizer.json"),
                     R"({"model": {"type": "WordLevel", "vocab": {"<unk>": 0, "a": 1},
                         "unk_token": "<unk>"}, "pre_tokenizer": {"type": "WhitespaceSplit"},
                         "added_tokens": []})");
  auto j = LoadModelTokenizer(dir.path());
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ(j->path, dir.file("tokenizer.json"));
  EXPECT_EQ(j->tokenizer->vocab_size(), 2);
}

TEST(SentencePieceModel, TokenizerFlagAcceptsModelFiles) {
  testing::TempDir dir;
  WriteHfDirWithVocab600(dir.path());
  std::filesystem::remove(dir.file("tokenizer.model"));
  // Recognised by content under any name.
  const std::string renamed = dir.file("spm.bin");
  std::filesystem::copy_file(kSpm + "bpe.model", renamed);
  auto t = LoadModelTokenizer(dir.path(), renamed);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->source, "--tokenizer");
  EXPECT_EQ(t->tokenizer->vocab_size(), 600);
  // A broken .model file: the SentencePiece error, naming the file and what was tried.
  const std::string broken = dir.file("broken.model");
  testing::WriteText(broken, std::string("\x01\x02\x03garbage", 10));
  EXPECT_TRUE(FailsWith(LoadModelTokenizer(dir.path(), broken).status(),
                        {broken, "not a SentencePiece model", "because of its name"}));
  // Starts like a ModelProto but is not one, and not a .model name: both formats are named.
  const std::string odd = dir.file("odd.bin");
  testing::WriteText(odd, std::string("\x0a\x08\x0a\x02xy\x15\x00\x00\x00\x00\xff\xff", 13));
  EXPECT_TRUE(FailsWith(LoadModelTokenizer(dir.path(), odd).status(),
                        {odd, "llama2.c", "SentencePiece"}));
  // The unigram model (300 pieces) fits the 600-row embedding too; the tiny 16-token model
  // would not take either (FindModelTokenizer's vocabulary check).
  auto small = FindModelTokenizer(dir.path(), ModelFormat::kHuggingFace, 16, kSpm + "bpe.model");
  EXPECT_TRUE(FailsWith(small.status(), {"has 600 tokens", "vocabulary of 16"}));
}

}  // namespace
}  // namespace detinfer
