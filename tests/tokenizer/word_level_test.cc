// Hugging Face tokenizer.json WordLevel models: the Whitespace / WhitespaceSplit
// pre-tokenizers, unknown words, accents, special tokens, decoding and malformed files.
//
// Golden split: the tokenizers documentation's example for pre_tokenizers.Whitespace,
//   Whitespace().pre_tokenize_str("Hello! How are you? I'm fine, thank you.")
//   -> Hello, !, How, are, you, ?, I, ', m, fine, ",", thank, you, .
// (huggingface.co/docs/tokenizers, "Pre-tokenizers" and the quicktour). Decoding with no
// decoder is TokenizerImpl::decode's tokens.join(" ").
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tokenizer/hf_tokenizer_json.h"

namespace detinfer {
namespace {

using nlohmann::json;

const std::vector<std::string> kWords = {"<unk>", "<s>",  "</s>", "Hello", "!",     "How",
                                         "are",   "you",  "?",    "I",     "'",     "m",
                                         "fine",  ",",    "thank", ".",    "trabajé", "café",
                                         "?!",    "wow"};
int32_t Id(const std::string& w) {
  for (size_t i = 0; i < kWords.size(); ++i) {
    if (kWords[i] == w) return static_cast<int32_t>(i);
  }
  ADD_FAILURE() << w;
  return -1;
}

json WordLevelJson(const json& pre = {{"type", "Whitespace"}}) {
  json vocab = json::object();
  for (size_t i = 0; i < kWords.size(); ++i) vocab[kWords[i]] = static_cast<int>(i);
  json j;
  j["version"] = "1.0";
  j["added_tokens"] = json::array({{{"id", 1}, {"content", "<s>"}, {"special", true}},
                                   {{"id", 2}, {"content", "</s>"}, {"special", true}}});
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = pre;
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                                 {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})}};
  j["decoder"] = nullptr;
  j["model"] = {{"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", "<unk>"}};
  return j;
}

std::unique_ptr<Tokenizer> LoadWordLevel(const json& j) {
  HfTokenizerOptions o;
  o.eos_token = "</s>";
  auto t = ParseHfTokenizerJson(j.dump(), "words.json", o);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

std::vector<int32_t> WordEnc(const Tokenizer& t, std::string_view s, bool bos = false) {
  auto r = t.Encode(s, bos);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::vector<int32_t>{};
}

std::vector<int32_t> Ids(std::initializer_list<const char*> words) {
  std::vector<int32_t> ids;
  for (const char* w : words) ids.push_back(Id(w));
  return ids;
}

TEST(WordLevelTokenizer, WhitespaceSplitsLikeTheHuggingFaceExample) {
  auto t = LoadWordLevel(WordLevelJson());
  ASSERT_TRUE(t);
  EXPECT_EQ(WordEnc(*t, "Hello! How are you? I'm fine, thank you."),
            Ids({"Hello", "!", "How", "are", "you", "?", "I", "'", "m", "fine", ",", "thank",
                 "you", "."}));
  // A run of punctuation is one piece ([^\w\s]+).
  EXPECT_EQ(WordEnc(*t, "wow?!"), Ids({"wow", "?!"}));
  EXPECT_EQ(t->vocab_size(), static_cast<int32_t>(kWords.size()));
}

TEST(WordLevelTokenizer, UnknownWordsBecomeUnkOneEach) {
  auto t = LoadWordLevel(WordLevelJson());
  ASSERT_TRUE(t);
  EXPECT_EQ(WordEnc(*t, "Hello there, zebra"), Ids({"Hello", "<unk>", ",", "<unk>"}));
  EXPECT_EQ(WordEnc(*t, "hello"), Ids({"<unk>"}));  // case-sensitive, no normalizer
}

TEST(WordLevelTokenizer, SpanishAccentsStayInsideTheWord) {
  auto t = LoadWordLevel(WordLevelJson());
  ASSERT_TRUE(t);
  EXPECT_EQ(WordEnc(*t, "trabajé café."), Ids({"trabajé", "café", "."}));
  // Decomposed "e" + U+0301: the combining mark is \w in Rust's regex (Mark), so the word stays
  // one piece; not in the vocabulary in NFD form, it is one unk...
  EXPECT_EQ(WordEnc(*t, "cafe\u0301"), Ids({"<unk>"}));
  // ... and with an NFC normalizer it is the composed vocabulary word.
  json j = WordLevelJson();
  j["normalizer"] = {{"type", "NFC"}};
  auto nfc = LoadWordLevel(j);
  ASSERT_TRUE(nfc);
  EXPECT_EQ(WordEnc(*nfc, "cafe\u0301"), Ids({"café"}));
}

TEST(WordLevelTokenizer, UnicodeWhiteSpaceSeparatesWords) {
  auto t = LoadWordLevel(WordLevelJson());
  ASSERT_TRUE(t);
  // U+0085 NEXT LINE, U+00A0 NO-BREAK SPACE, U+3000 IDEOGRAPHIC SPACE are White_Space.
  EXPECT_EQ(WordEnc(*t, "Hello\u0085you\u00A0fine\u3000thank"), Ids({"Hello", "you", "fine", "thank"}));
  EXPECT_EQ(WordEnc(*t, "  \t\n "), std::vector<int32_t>{});
}

TEST(WordLevelTokenizer, WhitespaceSplitKeepsPunctuationAttached) {
  auto t = LoadWordLevel(WordLevelJson({{"type", "WhitespaceSplit"}}));
  ASSERT_TRUE(t);
  EXPECT_EQ(WordEnc(*t, "Hello  you! fine"), Ids({"Hello", "<unk>", "fine"}));  // "you!" unknown
  auto seq = LoadWordLevel(WordLevelJson(
      {{"type", "Sequence"},
       {"pretokenizers", json::array({{{"type", "WhitespaceSplit"}}, {{"type", "Whitespace"}}})}}));
  ASSERT_TRUE(seq);
  EXPECT_EQ(WordEnc(*seq, "Hello  you! fine"), Ids({"Hello", "you", "!", "fine"}));
}

TEST(WordLevelTokenizer, SpecialTokensAndBos) {
  auto t = LoadWordLevel(WordLevelJson());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->bos_id(), Id("<s>"));  // from the TemplateProcessing post-processor
  EXPECT_EQ(t->eos_id(), Id("</s>"));
  EXPECT_EQ(WordEnc(*t, "How are you</s>", /*bos=*/true), Ids({"<s>", "How", "are", "you", "</s>"}));
}

TEST(WordLevelTokenizer, DecodeJoinsWithSpacesAndRoundTrips) {
  auto t = LoadWordLevel(WordLevelJson());
  ASSERT_TRUE(t);
  const std::vector<int32_t> ids = Ids({"<s>", "Hello", "!", "How", "are", "you", "?"});
  auto text = t->Decode(ids);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "<s> Hello ! How are you ?");
  EXPECT_EQ(WordEnc(*t, *text), ids);  // words joined by spaces encode back to the same ids
  auto piece = t->TokenBytes(Id("trabajé"), Id("I"));
  ASSERT_TRUE(piece.ok());
  EXPECT_EQ(*piece, " trabajé");
  piece = t->TokenBytes(Id("trabajé"), -1);
  ASSERT_TRUE(piece.ok());
  EXPECT_EQ(*piece, "trabajé");
  EXPECT_FALSE(t->Decode(std::vector<int32_t>{99}).ok());
}

Status WordLevelLoadError(const json& j) {
  auto t = ParseHfTokenizerJson(j.dump(), "words.json");
  return t.ok() ? Status::Internal("loaded") : t.status();
}

TEST(WordLevelTokenizer, ErrorsNameTheField) {
  json no_unk = WordLevelJson();
  no_unk["model"].erase("unk_token");
  auto t = LoadWordLevel(no_unk);
  ASSERT_TRUE(t);
  auto r = t->Encode("Hello zebra", false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("word 'zebra' is not in the vocabulary"), std::string::npos)
      << r.status().ToString();

  json dec = WordLevelJson();
  dec["decoder"] = {{"type", "WordPiece"}};
  EXPECT_NE(WordLevelLoadError(dec).message().find("decoder 'WordPiece'"), std::string::npos);

  json bl = WordLevelJson({{"type", "ByteLevel"}});
  EXPECT_NE(WordLevelLoadError(bl).message().find("WordLevel model with a ByteLevel"), std::string::npos);

  json bad_unk = WordLevelJson();
  bad_unk["model"]["unk_token"] = "[UNK]";
  EXPECT_NE(WordLevelLoadError(bad_unk).message().find("model.unk_token '[UNK]' is not in the vocabulary"),
            std::string::npos);

  json dup = WordLevelJson();
  dup["model"]["vocab"]["again"] = 3;  // id of "Hello"
  EXPECT_NE(WordLevelLoadError(dup).message().find("gives id 3 to both"), std::string::npos)
      << WordLevelLoadError(dup).ToString();

  json single = WordLevelJson();
  single["added_tokens"][0]["single_word"] = true;
  EXPECT_NE(WordLevelLoadError(single).message().find("single_word, which is not supported with a WordLevel"),
            std::string::npos)
      << WordLevelLoadError(single).ToString();

  json other = WordLevelJson();
  other["model"]["type"] = "WordPiece";
  EXPECT_NE(WordLevelLoadError(other).message().find("model.type 'WordPiece' is not supported"),
            std::string::npos);
}

}  // namespace
}  // namespace detinfer
