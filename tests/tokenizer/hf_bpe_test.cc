// Hugging Face tokenizer.json byte-level BPE: hand-derived merges on a tiny vocabulary, the
// GPT-2 / Llama-3 / Qwen2 split regexes, special tokens, round trips and malformed files.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "tokenizer/tokenizer_test_util.h"
#include "tokenizer/hf_tokenizer_json.h"
#include "tokenizer/regex_split.h"

namespace detinfer {
namespace {

using nlohmann::json;
using testing::ByteChar;
using testing::MakeHfJson;

const std::string kG = ByteChar(' ');  // "Ġ"

// Extra tokens 256.. and the merges that make them, in rank order.
std::vector<std::string> Extra() {
  return {kG + "t", "he", kG + "the", "lo", "ll", "hel", "hello", "aa"};
}
json Merges() {
  return json::array({kG + " t", "h e", kG + "t he", "l o", "l l", "he l", "hel lo", "a a"});
}
constexpr int32_t kGt = 256, kHe = 257, kGthe = 258, kLo = 259, kLl = 260, kHel = 261,
                  kHello = 262, kAa = 263, kEot = 264, kImStart = 265, kImEnd = 266;

json WithSpecials(json j) {
  j["added_tokens"] = json::array(
      {{{"id", kEot}, {"content", "<|endoftext|>"}, {"special", true}},
       {{"id", kImStart}, {"content", "<|im_start|>"}, {"special", true}},
       {{"id", kImEnd}, {"content", "<|im_end|>"}, {"special", true}}});
  return j;
}

HfTokenizerOptions Opts(std::string bos, std::string eos) {
  HfTokenizerOptions o;
  o.bos_token = std::move(bos);
  o.eos_token = std::move(eos);
  return o;
}

std::unique_ptr<Tokenizer> Load(const json& j, HfTokenizerOptions opt = {}) {
  auto t = ParseHfTokenizerJson(j.dump(), "tok.json", opt);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

std::vector<int32_t> BpeEnc(const Tokenizer& t, std::string_view s, bool bos = false) {
  auto r = t.Encode(s, bos);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::vector<int32_t>{};
}

Status LoadError(const json& j) {
  auto t = ParseHfTokenizerJson(j.dump(), "tok.json");
  return t.ok() ? Status::Internal("loaded") : t.status();
}

#define EXPECT_ERROR_MENTIONS(status, text)                                  \
  do {                                                                       \
    const Status s_ = (status);                                              \
    EXPECT_FALSE(s_.ok());                                                   \
    EXPECT_NE(s_.message().find(text), std::string::npos) << s_.ToString();  \
  } while (0)

// "hello": h e l l o. Ranks: "h e"=1 -> he l l o; then "l o"=3 beats "l l"=4 and "he l"=5 ->
// he l lo; "he l"=5 -> hel lo; "hel lo"=6 -> hello. Merging "l l" first (wrong order) could
// never reach "hello".
TEST(HfBpeTest, MergesByLowestRank) {
  auto t = Load(WithSpecials(MakeHfJson(Extra(), Merges(), testing::Gpt2PreTokenizer())));
  ASSERT_TRUE(t);
  EXPECT_EQ(BpeEnc(*t, "hello"), (std::vector<int32_t>{kHello}));
  // " the" -> Ġ t h e -> Ġt h e (rank 0) -> Ġt he (1) -> Ġthe (2).
  EXPECT_EQ(BpeEnc(*t, "hello the"), (std::vector<int32_t>{kHello, kGthe}));
  // Ties go to the leftmost pair: a a a -> aa a.
  EXPECT_EQ(BpeEnc(*t, "aaa"), (std::vector<int32_t>{kAa, 'a'}));
  // No merge applies: one token per byte, ids = byte values (é = C3 A9).
  EXPECT_EQ(BpeEnc(*t, "\xC3\xA9"), (std::vector<int32_t>{0xC3, 0xA9}));
  // "hell": h e l l -> he l l; "l l"=4 beats "he l"=5 -> he ll.
  EXPECT_EQ(BpeEnc(*t, "hell"), (std::vector<int32_t>{kHe, kLl}));
  EXPECT_EQ(BpeEnc(*t, "hel"), (std::vector<int32_t>{kHel}));
  // Pieces " t" and " lo": Ġ t -> Ġt; Ġ l o -> Ġ lo (Ġ is byte ' ', id 32).
  EXPECT_EQ(BpeEnc(*t, " t lo"), (std::vector<int32_t>{kGt, ' ', kLo}));
}

TEST(HfBpeTest, MergesAsPairsEqualMergesAsStrings) {
  json pairs = json::array();
  for (const auto& m : Merges()) {
    const std::string s = m.get<std::string>();
    const size_t sp = s.find(' ', 1);
    pairs.push_back({s.substr(0, sp), s.substr(sp + 1)});
  }
  auto a = Load(MakeHfJson(Extra(), Merges(), testing::Gpt2PreTokenizer()));
  auto b = Load(MakeHfJson(Extra(), pairs, testing::Gpt2PreTokenizer()));
  ASSERT_TRUE(a && b);
  for (const std::string& s : testing::RoundTripStrings()) EXPECT_EQ(BpeEnc(*a, s), BpeEnc(*b, s)) << s;
}

TEST(HfBpeTest, SpecialTokensMatchVerbatimBeforePreTokenization) {
  auto t = Load(WithSpecials(MakeHfJson(Extra(), Merges(), testing::Gpt2PreTokenizer())));
  ASSERT_TRUE(t);
  EXPECT_EQ(BpeEnc(*t, "hello<|endoftext|> the"), (std::vector<int32_t>{kHello, kEot, kGthe}));
  EXPECT_EQ(BpeEnc(*t, "<|im_start|>hello<|im_end|>"),
            (std::vector<int32_t>{kImStart, kHello, kImEnd}));
  // A broken special token is plain text.
  EXPECT_EQ(BpeEnc(*t, "<|im_sta").size(), 8u);
  EXPECT_EQ(*t->Decode(std::vector<int32_t>{kImStart, kHello, kEot}),
            "<|im_start|>hello<|endoftext|>");
}

TEST(HfBpeTest, LstripRstripTakeWhitespace) {
  json j = MakeHfJson(Extra(), Merges(), testing::Gpt2PreTokenizer());
  j["added_tokens"] = json::array(
      {{{"id", kEot}, {"content", "<m>"}, {"lstrip", true}, {"rstrip", true}, {"special", true}}});
  auto t = Load(j);
  ASSERT_TRUE(t);
  EXPECT_EQ(BpeEnc(*t, "hello  <m>\n hello"), (std::vector<int32_t>{kHello, kEot, kHello}));
}

TEST(HfBpeTest, BosFromTemplateAndOptions) {
  json j = WithSpecials(MakeHfJson(Extra(), Merges(), testing::Gpt2PreTokenizer()));
  j["post_processor"] = {
      {"type", "Sequence"},
      {"processors",
       {{{"type", "ByteLevel"}},
        {{"type", "TemplateProcessing"},
         {"single",
          {{{"SpecialToken", {{"id", "<|im_start|>"}, {"type_id", 0}}}},
           {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}}}}}};
  auto t = Load(j, Opts("", "<|im_end|>"));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->bos_id(), kImStart);
  EXPECT_EQ(t->eos_id(), kImEnd);
  EXPECT_EQ(BpeEnc(*t, "hello", true), (std::vector<int32_t>{kImStart, kHello}));
  auto plain = Load(MakeHfJson(Extra(), Merges(), testing::Gpt2PreTokenizer()));
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->bos_id(), -1);
  EXPECT_EQ(BpeEnc(*plain, "hello", true), (std::vector<int32_t>{kHello}));  // no BOS: nothing added
  auto bad = ParseHfTokenizerJson(j.dump(), "tok.json", Opts("<nope>", ""));
  EXPECT_ERROR_MENTIONS(bad.status(), "<nope>");
}

TEST(HfBpeTest, IgnoreMergesTakesWholeWordsFromTheVocabulary) {
  // "hlo" is in the vocabulary but no merge builds it.
  std::vector<std::string> extra = Extra();
  extra.push_back("hlo");
  json j = MakeHfJson(extra, Merges(), testing::Gpt2PreTokenizer());
  auto without = Load(j);
  j["model"]["ignore_merges"] = true;
  auto with = Load(j);
  ASSERT_TRUE(without && with);
  EXPECT_EQ(BpeEnc(*without, "hlo"), (std::vector<int32_t>{'h', kLo}));
  EXPECT_EQ(BpeEnc(*with, "hlo"), (std::vector<int32_t>{kEot}));  // id 264 = "hlo" here
}

TEST(HfBpeTest, NfcNormalizerComposes) {
  json j = MakeHfJson(Extra(), Merges(), testing::SplitThenByteLevel(std::string(kQwen2Pattern)));
  j["normalizer"] = {{"type", "NFC"}};
  auto t = Load(j);
  ASSERT_TRUE(t);
  EXPECT_EQ(BpeEnc(*t, "e\xCC\x81"), (std::vector<int32_t>{0xC3, 0xA9}));  // e + U+0301 -> é
}

// Each pattern on text whose split follows from the regex by hand.
std::vector<std::string> SplitWith(std::string_view pattern, std::string_view text) {
  auto re = RegexSplitter::Compile(pattern, false, SplitBehavior::kIsolated, "test");
  EXPECT_TRUE(re.ok()) << re.status().ToString();
  std::vector<std::string_view> v;
  EXPECT_TRUE(re->Split(text, &v).ok());
  return {v.begin(), v.end()};
}

TEST(HfBpeTest, Gpt2Llama3Qwen2Regexes) {
  using V = std::vector<std::string>;
  // "\s+(?!\S)" leaves the last space of a run to the next word: "a", " ", " b".
  EXPECT_EQ(SplitWith(kGpt2Pattern, "a  b"), (V{"a", " ", " b"}));
  EXPECT_EQ(SplitWith(kGpt2Pattern, "Hello world!!  \n"), (V{"Hello", " world", "!!", "  \n"}));
  EXPECT_EQ(SplitWith(kGpt2Pattern, "I'm 12345"), (V{"I", "'m", " 12345"}));
  // Llama-3: digits in groups of at most three, case-insensitive contractions, a letter run may
  // take one leading non-letter.
  EXPECT_EQ(SplitWith(kLlama3Pattern, "I'M 12345"), (V{"I", "'M", " ", "123", "45"}));
  EXPECT_EQ(SplitWith(kLlama3Pattern, "(hi)\n\nyo"), (V{"(hi", ")\n\n", "yo"}));
  // Qwen2: single digits.
  EXPECT_EQ(SplitWith(kQwen2Pattern, "x 123"), (V{"x", " ", "1", "2", "3"}));
  // \p{L} is Unicode-aware: CJK and accented letters are letters.
  EXPECT_EQ(SplitWith(kGpt2Pattern, "caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87"),
            (V{"caf\xC3\xA9", " \xE4\xB8\xAD\xE6\x96\x87"}));
}

TEST(HfBpeTest, RoundTripsAllPreTokenizers) {
  for (const json& pre : {testing::Gpt2PreTokenizer(),
                          testing::SplitThenByteLevel(std::string(kLlama3Pattern)),
                          testing::SplitThenByteLevel(std::string(kQwen2Pattern))}) {
    auto t = Load(WithSpecials(MakeHfJson(Extra(), Merges(), pre)));
    ASSERT_TRUE(t);
    auto strings = testing::RoundTripStrings();
    strings.push_back("<|im_start|>user\nhello the world<|im_end|>\n<|endoftext|>");
    for (const std::string& s : strings) {
      auto ids = BpeEnc(*t, s);
      auto text = t->Decode(ids);
      ASSERT_TRUE(text.ok()) << text.status().ToString();
      EXPECT_EQ(*text, s);
    }
  }
}

TEST(HfBpeTest, EncodeRejectsInvalidUtf8DecodeRejectsBadIds) {
  auto t = Load(WithSpecials(MakeHfJson(Extra(), Merges(), testing::Gpt2PreTokenizer())));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->vocab_size(), 267);
  EXPECT_ERROR_MENTIONS(t->Encode("ok\xFF", false).status(), "byte offset 2");
  EXPECT_ERROR_MENTIONS(t->Decode(std::vector<int32_t>{kHello, 999}).status(), "999");
  EXPECT_ERROR_MENTIONS(t->Decode(std::vector<int32_t>{-1}).status(), "size 267");
  EXPECT_EQ(t->Decode(std::vector<int32_t>{999}).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(*t->TokenText(kGthe), kG + "the");
  // A lone byte token decodes to U+FFFD, never to a broken character.
  EXPECT_EQ(*t->Decode(std::vector<int32_t>{0xE4, 'a'}), std::string(kReplacementChar) + "a");
}

TEST(HfBpeTest, MalformedFilesNameTheFault) {
  const json good = MakeHfJson(Extra(), Merges(), testing::Gpt2PreTokenizer());
  EXPECT_ERROR_MENTIONS(ParseHfTokenizerJson("{\"model\": ", "tok.json").status(), "not valid JSON");
  json j = good;
  j.erase("model");
  EXPECT_ERROR_MENTIONS(LoadError(j), "missing \"model\"");
  j = good;
  j["model"].erase("vocab");
  EXPECT_ERROR_MENTIONS(LoadError(j), "model.vocab");
  j = good;
  j["model"]["merges"].push_back("he zz");
  EXPECT_ERROR_MENTIONS(LoadError(j), "merges[8] 'he zz': token 'zz' is not in the vocabulary");
  j = good;
  j["model"]["merges"].push_back(json::array({"a", "h"}));
  EXPECT_ERROR_MENTIONS(LoadError(j), "merged token 'ah'");
  j = good;
  j["model"]["merges"].push_back("nospace");
  EXPECT_ERROR_MENTIONS(LoadError(j), "merges[8]");
  j = good;
  j["model"]["vocab"]["big"] = 1000000;
  EXPECT_ERROR_MENTIONS(LoadError(j), "'big' has id 1000000");
  j = good;
  j["model"]["vocab"]["dup"] = 5;
  EXPECT_ERROR_MENTIONS(LoadError(j), "id 5");
  j = good;
  j["model"]["type"] = "WordPiece";
  EXPECT_EQ(LoadError(j).code(), StatusCode::kUnsupported);
  j = good;
  j["pre_tokenizer"] = testing::SplitThenByteLevel("(unclosed");
  EXPECT_ERROR_MENTIONS(LoadError(j), "pre_tokenizer.pretokenizers[0].pattern.Regex: invalid regex");
  j = good;
  j["added_tokens"] = json::array({{{"id", 5000}, {"content", "<x>"}}});
  EXPECT_ERROR_MENTIONS(LoadError(j), "'<x>' has id 5000");
  j = good;
  j["normalizer"] = {{"type", "BertNormalizer"}};
  EXPECT_ERROR_MENTIONS(LoadError(j), "normalizer: type 'BertNormalizer' is not supported");
  j = good;
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers", json::array({{{"type", "ByteLevel"}}, {{"type", "Foo"}}})}};
  EXPECT_ERROR_MENTIONS(LoadError(j), "tok.json: pre_tokenizer.pretokenizers[1]: type 'Foo' is not supported");
  EXPECT_EQ(LoadError(j).code(), StatusCode::kUnsupported);
  j = good;
  j["model"]["vocab"][ByteChar('a')] = "zero";
  EXPECT_ERROR_MENTIONS(LoadError(j), "an integer id");
}

TEST(HfBpeTest, LoadsFromFileAndNamesMissingFile) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("detinfer_tok_" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream f(path);
    f << MakeHfJson(Extra(), Merges(), testing::Gpt2PreTokenizer()).dump();
  }
  auto t = LoadHfTokenizerJson(path.string());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(BpeEnc(**t, "hello"), (std::vector<int32_t>{kHello}));
  std::filesystem::remove(path);
  auto missing = LoadHfTokenizerJson(path.string());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_ERROR_MENTIONS(missing.status(), path.string());
}

}  // namespace
}  // namespace detinfer
