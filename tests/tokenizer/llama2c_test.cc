// llama2.c tokenizer.bin: encodes derived by hand from run.c's encode() on a tiny vocabulary,
// run.c's decode rules, round trips and malformed files.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "tokenizer/tokenizer_test_util.h"
#include "tokenizer/llama2c_tokenizer.h"

namespace detinfer {
namespace {

using Vocab = std::vector<std::pair<std::string, float>>;

// The layout of llama2.c's tokenizer.bin: <unk>, <s>, </s>, then the 256 byte tokens, then
// pieces (karpathy/llama2.c tokenizer.py export(); run.c maps byte b to id b + 3).
Vocab TinyVocab() {
  Vocab v = {{"<unk>", 0.f}, {"\n<s>\n", 0.f}, {"\n</s>\n", 0.f}};
  for (int b = 0; b < 256; ++b) v.emplace_back(testing::ByteTokenText(b), 0.f);
  v.insert(v.end(), {{" ", -10.f},   // 259
                     {"a", -10.f},   // 260
                     {"b", -10.f},   // 261
                     {"c", -10.f},   // 262
                     {" a", -5.f},   // 263
                     {"ab", -3.f},   // 264
                     {"abc", -2.f},  // 265
                     {"bc", -1.f},   // 266
                     {"aa", -0.5f},  // 267
                     {"cc", std::nanf("")},  // 268: NaN never wins (run.c compares with >)
                     {"ba", -1e11f}});       // 269: below run.c's -1e10 start, never merged
  return v;
}
constexpr int32_t kTinySp = 259, kTinyA = 260, kTinyB = 261, kTinyC = 262, kTinySpA = 263;
constexpr int32_t kTinyAbc = 265, kTinyAa = 267;

std::unique_ptr<Tokenizer> Tiny() {
  const std::vector<uint8_t> bin = testing::MakeLlama2cBin(TinyVocab());
  auto t = ParseLlama2cTokenizer(bin, "tokenizer.bin");
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

std::vector<int32_t> TinyEnc(const Tokenizer& t, std::string_view s, bool bos) {
  auto r = t.Encode(s, bos);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::vector<int32_t>{};
}

std::string TinyErrorOf(const std::vector<uint8_t>& bin, int32_t vocab_size = -1) {
  auto t = ParseLlama2cTokenizer(bin, "tokenizer.bin", vocab_size);
  EXPECT_FALSE(t.ok());
  return t.ok() ? "" : t.status().message();
}

// run.c: BOS, dummy " ", one token per code point, then merge the best-scoring pair.
TEST(Llama2cTokenizerTest, EncodeFollowsRunC) {
  auto t = Tiny();
  ASSERT_TRUE(t);
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_EQ(t->eos_id(), 2);
  // " " a b c: pair scores " a"=-5, "ab"=-3, "bc"=-1 -> bc; then " a"=-5, "abc"=-2 -> abc;
  // then " abc" is not a token.
  EXPECT_EQ(TinyEnc(*t, "abc", true), (std::vector<int32_t>{1, kTinySp, kTinyAbc}));
  // Ties go left: " " a a a -> "aa"(-0.5) twice, leftmost first -> " " aa a.
  EXPECT_EQ(TinyEnc(*t, "aaa", false), (std::vector<int32_t>{kTinySp, kTinyAa, kTinyA}));
  // " a" is the only merge for " a".
  EXPECT_EQ(TinyEnc(*t, "a", false), (std::vector<int32_t>{kTinySpA}));
  // Empty text: no dummy prefix (run.c checks text[0] != '\0').
  EXPECT_EQ(TinyEnc(*t, "", true), (std::vector<int32_t>{1}));
  // é is not a piece: byte fallback C3 A9 -> ids 0xC3 + 3, 0xA9 + 3.
  EXPECT_EQ(TinyEnc(*t, "\xC3\xA9", false), (std::vector<int32_t>{kTinySp, 0xC3 + 3, 0xA9 + 3}));
  // NaN-scored and <= -1e10-scored tokens are never merged into.
  EXPECT_EQ(TinyEnc(*t, "cc", false), (std::vector<int32_t>{kTinySp, kTinyC, kTinyC}));
  EXPECT_EQ(TinyEnc(*t, "ba", false), (std::vector<int32_t>{kTinySp, kTinyB, kTinyA}));
}

TEST(Llama2cTokenizerTest, DecodeFollowsRunC) {
  auto t = Tiny();
  ASSERT_TRUE(t);
  // The leading space of the piece after BOS is dropped; elsewhere it stays.
  EXPECT_EQ(*t->Decode(std::vector<int32_t>{1, kTinySpA}), "\n<s>\na");
  EXPECT_EQ(*t->Decode(std::vector<int32_t>{kTinySpA, kTinySpA}), " a a");
  // <0xXX> pieces are raw bytes.
  EXPECT_EQ(*t->Decode(std::vector<int32_t>{0xC3 + 3, 0xA9 + 3}), "\xC3\xA9");
  EXPECT_EQ(*t->TokenText(0x41 + 3), "<0x41>");
  auto bad = t->Decode(std::vector<int32_t>{kTinyA, 270});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("token id 270"), std::string::npos);
  EXPECT_NE(bad.status().message().find("size 270"), std::string::npos);
}

TEST(Llama2cTokenizerTest, RoundTrips) {
  auto t = Tiny();
  ASSERT_TRUE(t);
  for (const std::string& s : testing::RoundTripStrings()) {
    auto ids = TinyEnc(*t, s, true);
    auto text = t->Decode(ids);
    ASSERT_TRUE(text.ok());
    EXPECT_EQ(*text, "\n<s>\n" + s);
  }
}

TEST(Llama2cTokenizerTest, MalformedFilesNameTheFault) {
  const std::vector<uint8_t> good = testing::MakeLlama2cBin(TinyVocab());
  // Truncated in the middle of token 259's text.
  std::vector<uint8_t> cut = testing::MakeLlama2cBin({{"<unk>", 0}, {"abcdef", 0}});
  cut.resize(cut.size() - 2);
  std::string m = TinyErrorOf(cut);
  EXPECT_NE(m.find("truncated: token 1 text"), std::string::npos) << m;
  EXPECT_NE(m.find("only 4 remain"), std::string::npos) << m;
  // Truncated header.
  EXPECT_NE(TinyErrorOf({1, 0}).find("max_token_length"), std::string::npos);
  // Negative and huge lengths.
  std::vector<uint8_t> neg = testing::MakeLlama2cBin({{"<unk>", 0}, {"x", 0}});
  const int32_t minus5 = -5;
  std::memcpy(neg.data() + 4 + 4 + 4 + 5 + 4, &minus5, 4);
  m = TinyErrorOf(neg);
  EXPECT_NE(m.find("token 1"), std::string::npos) << m;
  EXPECT_NE(m.find("length -5"), std::string::npos) << m;
  std::vector<uint8_t> huge = neg;
  const int32_t big = 0x7FFFFFFF;
  std::memcpy(huge.data() + 4 + 4 + 4 + 5 + 4, &big, 4);
  EXPECT_NE(TinyErrorOf(huge).find("length 2147483647"), std::string::npos);
  // max_token_length must be positive.
  EXPECT_NE(TinyErrorOf(testing::MakeLlama2cBin({{"a", 0}}, 0)).find("max_token_length is 0"),
            std::string::npos);
  // vocab_size from a checkpoint that does not match the file.
  EXPECT_NE(TinyErrorOf(good, 100).find("bytes left after token 99"), std::string::npos);
  EXPECT_NE(TinyErrorOf(good, 1000000).find("vocab_size 1000000"), std::string::npos);
  auto exact = ParseLlama2cTokenizer(good, "tokenizer.bin", 270);
  EXPECT_TRUE(exact.ok()) << exact.status().ToString();
  EXPECT_NE(TinyErrorOf({}).find("truncated"), std::string::npos);
}

TEST(Llama2cTokenizerTest, LoadsFromFile) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("detinfer_tok_" + std::to_string(::getpid()) + ".bin");
  const std::vector<uint8_t> bin = testing::MakeLlama2cBin(TinyVocab());
  {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bin.data()), static_cast<std::streamsize>(bin.size()));
  }
  auto t = LoadLlama2cTokenizer(path.string(), 270);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ((*t)->vocab_size(), 270);
  std::filesystem::remove(path);
  EXPECT_EQ(LoadLlama2cTokenizer(path.string()).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace detinfer
