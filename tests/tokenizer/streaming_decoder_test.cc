// StreamingDecoder: never emits part of a UTF-8 character, and emits in total exactly what
// Decode returns for the same ids.
#include <gtest/gtest.h>

#include "tokenizer/tokenizer_test_util.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/streaming_decoder.h"
#include "tokenizer/utf8.h"

namespace detinfer {
namespace {

std::unique_ptr<Tokenizer> ByteTokenizer() {
  std::vector<std::pair<std::string, float>> v = {{"<unk>", 0}, {"<s>", 0}, {"</s>", 0}};
  for (int b = 0; b < 256; ++b) v.emplace_back(testing::ByteTokenText(b), 0.f);
  v.emplace_back(" hi", 0.f);  // 259
  auto t = ParseLlama2cTokenizer(testing::MakeLlama2cBin(v), "tokenizer.bin");
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

int32_t Byte(int b) { return b + 3; }

TEST(StreamingDecoderTest, HoldsAFourByteEmojiUntilComplete) {
  auto t = ByteTokenizer();
  ASSERT_TRUE(t);
  StreamingDecoder d(*t, /*prev_id=*/1);
  EXPECT_EQ(*d.Push(259), "hi");  // the leading space after BOS is dropped (run.c)
  // U+1F600 😀 = F0 9F 98 80, one byte-fallback token per byte.
  EXPECT_EQ(*d.Push(Byte(0xF0)), "");
  EXPECT_EQ(*d.Push(Byte(0x9F)), "");
  EXPECT_EQ(*d.Push(Byte(0x98)), "");
  EXPECT_EQ(d.pending_bytes(), 3u);
  EXPECT_EQ(*d.Push(Byte(0x80)), "\xF0\x9F\x98\x80");
  EXPECT_EQ(d.pending_bytes(), 0u);
  EXPECT_EQ(d.Finish(), "");
}

TEST(StreamingDecoderTest, InvalidAndTruncatedSequencesBecomeReplacementChars) {
  auto t = ByteTokenizer();
  ASSERT_TRUE(t);
  const std::string r(kReplacementChar);
  StreamingDecoder d(*t);
  EXPECT_EQ(*d.Push(Byte(0xE4)), "");
  EXPECT_EQ(*d.Push(Byte('A')), r + "A");  // E4 cannot continue with 'A'
  EXPECT_EQ(*d.Push(Byte(0xFF)), r);       // never valid: replaced at once
  EXPECT_EQ(*d.Push(Byte(0xF0)), "");
  EXPECT_EQ(*d.Push(Byte(0x9F)), "");
  EXPECT_EQ(d.Finish(), r);  // one U+FFFD for the truncated maximal subpart
  // A bad id is an error and changes nothing.
  auto bad = d.Push(260);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("260"), std::string::npos);
}

TEST(StreamingDecoderTest, ConcatenationEqualsDecode) {
  auto t = ByteTokenizer();
  ASSERT_TRUE(t);
  // Every string as byte tokens, plus ill-formed byte runs.
  std::vector<std::string> inputs = testing::RoundTripStrings();
  inputs.push_back("\xF0\x9F\x98 \xE2\x82\xC3\xA9\x80\xBF\xF4\x90\xC0\xAF\xED\xA0\x80\xF0");
  for (const std::string& s : inputs) {
    std::vector<int32_t> ids;
    for (char c : s) ids.push_back(Byte(static_cast<uint8_t>(c)));
    StreamingDecoder d(*t);
    std::string streamed;
    for (int32_t id : ids) {
      auto piece = d.Push(id);
      ASSERT_TRUE(piece.ok());
      EXPECT_TRUE(ValidateUtf8(*piece, "piece").ok());
      streamed += *piece;
    }
    streamed += d.Finish();
    EXPECT_EQ(streamed, *t->Decode(ids));
  }
}

}  // namespace
}  // namespace detinfer
