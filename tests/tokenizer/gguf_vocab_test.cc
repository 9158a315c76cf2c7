// Vocabularies given as lists (GGUF tokenizer.ggml.*): the llama.cpp SentencePiece-style
// "llama" model and the byte-level "gpt2" model, with encodes derived by hand.
#include <gtest/gtest.h>

#include "tokenizer/tokenizer_test_util.h"
#include "tokenizer/vocab_tokenizer.h"

namespace detinfer {
namespace {

const std::string kU = "\xE2\x96\x81";  // "▁"

// <unk>, <s>, </s>, 256 byte tokens, then pieces and one user-defined token.
GgufVocab SpmVocab() {
  GgufVocab v;
  v.source = "model.gguf";
  v.model = "llama";
  auto add = [&](std::string t, float s, int32_t type) {
    v.tokens.push_back(std::move(t));
    v.scores.push_back(s);
    v.types.push_back(type);
  };
  add("<unk>", 0, 2);
  add("<s>", 0, 3);
  add("</s>", 0, 3);
  for (int b = 0; b < 256; ++b) add(testing::ByteTokenText(b), 0, 6);
  add(kU, -10, 1);         // 259
  add("a", -10, 1);        // 260
  add("b", -10, 1);        // 261
  add(kU + "a", -5, 1);    // 262
  add("ab", -3, 1);        // 263
  add(kU + "ab", -1, 1);   // 264
  add("<|user|>", 0, 4);   // 265
  add(kU + "c", -2, 1);    // 266: "c" alone is not a token
  v.bos_id = 1;
  v.eos_id = 2;
  v.unk_id = 0;
  return v;
}

std::unique_ptr<Tokenizer> Make(GgufVocab v) {
  auto t = MakeGgufTokenizer(std::move(v));
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

std::vector<int32_t> Enc(const Tokenizer& t, std::string_view s, bool bos) {
  auto r = t.Encode(s, bos);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::vector<int32_t>{};
}

TEST(GgufVocabTest, LlamaSpmEncode) {
  auto t = Make(SpmVocab());
  ASSERT_TRUE(t);
  // "ab" -> "▁ab": ▁ a b; "ab"(-3) beats "▁a"(-5) -> ▁ ab; "▁ab"(-1) -> ▁ab.
  EXPECT_EQ(Enc(*t, "ab", true), (std::vector<int32_t>{1, 264}));
  // "a b" -> "▁a▁b": ▁a, then "a▁", "▁b" are not tokens.
  EXPECT_EQ(Enc(*t, "a b", false), (std::vector<int32_t>{262, 259, 261}));
  // "c" is not a token but stays a symbol that can merge (llama.cpp), unlike run.c's fallback.
  EXPECT_EQ(Enc(*t, "c", false), (std::vector<int32_t>{266}));
  // A lone character without a token becomes its byte tokens.
  EXPECT_EQ(Enc(*t, "a\xC3\xA9", false), (std::vector<int32_t>{262, 0xC3 + 3, 0xA9 + 3}));
  // User-defined and control tokens match verbatim; the space prefix follows them again.
  EXPECT_EQ(Enc(*t, "a<|user|>b", false), (std::vector<int32_t>{262, 265, 259, 261}));
  EXPECT_EQ(Enc(*t, "<s>a", false), (std::vector<int32_t>{1, 262}));
}

TEST(GgufVocabTest, LlamaSpmDecodeAndRoundTrip) {
  auto t = Make(SpmVocab());
  ASSERT_TRUE(t);
  EXPECT_EQ(*t->Decode(std::vector<int32_t>{262, 259, 261}), "a b");
  EXPECT_EQ(*t->Decode(std::vector<int32_t>{261, 262}), "b a");
  EXPECT_EQ(*t->Decode(std::vector<int32_t>{0}), "\xE2\x96\x85");  // llama.cpp's unk piece
  std::vector<std::string> strings = testing::RoundTripStrings();
  strings.push_back("<|user|> hi<|user|>  two spaces<s>");
  for (const std::string& s : strings) {
    auto text = t->Decode(Enc(*t, s, true));
    ASSERT_TRUE(text.ok());
    EXPECT_EQ(*text, "<s>" + s);
  }
  auto nospace = SpmVocab();
  nospace.add_space_prefix = false;
  auto t2 = Make(std::move(nospace));
  ASSERT_TRUE(t2);
  EXPECT_EQ(Enc(*t2, "ab", false), (std::vector<int32_t>{263}));
  EXPECT_EQ(*t2->Decode(std::vector<int32_t>{262}), " a");
}

TEST(GgufVocabTest, Gpt2PreTokenizerByName) {
  GgufVocab v;
  v.source = "model.gguf";
  v.model = "gpt2";
  for (int b = 0; b < 256; ++b) v.tokens.push_back(testing::ByteChar(b));
  v.tokens.insert(v.tokens.end(), {"34", "12", "123", "45", "<|eot|>"});  // 256..260
  v.types.assign(v.tokens.size(), 1);
  v.types.back() = 3;
  v.merges = {"3 4", "1 2", "12 3", "4 5"};
  v.eos_id = 260;
  // Unsplit "12345": 34 first -> 1 2 34 5 -> 12 34 5. Llama-3's \p{N}{1,3} splits 123|45 first.
  v.pre = "gpt-2";
  auto gpt2 = Make(v);
  v.pre = "llama-bpe";
  auto llama3 = Make(v);
  v.pre = "qwen2";
  auto qwen2 = Make(v);
  ASSERT_TRUE(gpt2 && llama3 && qwen2);
  EXPECT_EQ(Enc(*gpt2, "12345", false), (std::vector<int32_t>{257, 256, '5'}));
  EXPECT_EQ(Enc(*llama3, "12345", false), (std::vector<int32_t>{258, 259}));
  EXPECT_EQ(Enc(*qwen2, "12345", false), (std::vector<int32_t>{'1', '2', '3', '4', '5'}));
  EXPECT_EQ(Enc(*llama3, "1<|eot|>", false), (std::vector<int32_t>{'1', 260}));
  EXPECT_EQ(llama3->eos_id(), 260);
  for (const std::string& s : testing::RoundTripStrings()) {
    EXPECT_EQ(*llama3->Decode(Enc(*llama3, s, false)), s);
  }
  v.pre = "deepseek-coder";
  auto bad = MakeGgufTokenizer(v);
  EXPECT_EQ(bad.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(bad.status().message().find("'deepseek-coder'"), std::string::npos);
}

TEST(GgufVocabTest, InvalidVocabulariesNameTheFault) {
  auto msg = [](GgufVocab v) {
    auto t = MakeGgufTokenizer(std::move(v));
    EXPECT_FALSE(t.ok());
    return t.ok() ? std::string() : t.status().message();
  };
  GgufVocab v = SpmVocab();
  v.scores.pop_back();
  EXPECT_NE(msg(v).find("267 tokens but 266 scores"), std::string::npos);
  v = SpmVocab();
  v.types[7] = 9;
  EXPECT_NE(msg(v).find("token 7 has type 9"), std::string::npos);
  v = SpmVocab();
  v.bos_id = 267;
  EXPECT_NE(msg(v).find("bos token id 267"), std::string::npos);
  v = SpmVocab();
  v.model = "bert";
  EXPECT_NE(msg(v).find("'bert'"), std::string::npos);
  v = SpmVocab();
  v.tokens.clear();
  EXPECT_NE(msg(v).find("empty"), std::string::npos);
  GgufVocab g;
  g.source = "model.gguf";
  g.model = "gpt2";
  g.tokens = {"a", "b", "ab"};
  g.merges = {"a c"};
  EXPECT_NE(msg(g).find("token 'c' is not in the vocabulary"), std::string::npos);
  g.merges = {"ab"};
  EXPECT_NE(msg(g).find("merges[0] 'ab'"), std::string::npos);
  // Decode of an id past the end.
  auto t = Make(SpmVocab());
  ASSERT_TRUE(t);
  auto d = t->Decode(std::vector<int32_t>{1, 267});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("token id 267 is outside the vocabulary (size 267)"),
            std::string::npos);
}

}  // namespace
}  // namespace detinfer
