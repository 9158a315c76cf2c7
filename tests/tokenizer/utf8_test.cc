// UTF-8 validation, lossy decoding and GPT-2's byte alphabet against published values.
#include <gtest/gtest.h>

#include <string>

#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace detinfer {
namespace {

std::string Lossy(std::string_view bytes) {
  std::string out;
  AppendUtf8Lossy(bytes, /*final=*/true, &out);
  return out;
}

TEST(Utf8Test, ValidateNamesOffset) {
  EXPECT_TRUE(ValidateUtf8("h\xC3\xA9llo \xF0\x9F\x98\x80", "t").ok());
  const Status s = ValidateUtf8("ab\xC3(", "prompt");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("prompt"), std::string::npos);
  EXPECT_NE(s.message().find("byte offset 2"), std::string::npos);
  EXPECT_NE(s.message().find("0xC3"), std::string::npos);
  // Overlong, surrogate, above U+10FFFF: all ill-formed (Unicode Table 3-7).
  EXPECT_FALSE(ValidateUtf8("\xC0\xAF", "t").ok());
  EXPECT_FALSE(ValidateUtf8("\xED\xA0\x80", "t").ok());
  EXPECT_FALSE(ValidateUtf8("\xF4\x90\x80\x80", "t").ok());
}

// The Unicode Standard, §3.9, Table 3-8 "Use of U+FFFD in UTF-8 Conversion": the bytes
// 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64 convert to a FFFD FFFD FFFD b FFFD c FFFD FFFD d.
TEST(Utf8Test, MaximalSubpartsFollowUnicodeTable3_8) {
  const std::string r(kReplacementChar);
  EXPECT_EQ(Lossy("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
            "a" + r + r + r + "b" + r + "c" + r + r + "d");
}

TEST(Utf8Test, NonFinalHoldsIncompleteTail) {
  std::string out;
  EXPECT_EQ(AppendUtf8Lossy("ok\xF0\x9F\x98", false, &out), 2u);
  EXPECT_EQ(out, "ok");
  out.clear();
  EXPECT_EQ(AppendUtf8Lossy("ok\xF0\x9F\x98", true, &out), 5u);
  EXPECT_EQ(out, "ok" + std::string(kReplacementChar));
}

// openai/gpt-2 src/encoder.py bytes_to_unicode(): printable Latin-1 bytes map to themselves,
// the rest to 256 + n in byte order, e.g. ' ' -> U+0120 'Ġ', '\n' -> U+010A 'Ċ'.
TEST(ByteLevelTest, Gpt2BytesToUnicodeTable) {
  EXPECT_EQ(ByteToCodepoint(' '), 0x120u);
  EXPECT_EQ(ByteToCodepoint('\n'), 0x10Au);
  EXPECT_EQ(ByteToCodepoint(0x00), 0x100u);
  EXPECT_EQ(ByteToCodepoint('!'), static_cast<uint32_t>('!'));
  EXPECT_EQ(ByteToCodepoint('~'), static_cast<uint32_t>('~'));
  EXPECT_EQ(ByteToCodepoint(0x7F), 0x121u);
  EXPECT_EQ(ByteToCodepoint(0x80), 0x122u);
  EXPECT_EQ(ByteToCodepoint(0xA0), 0x142u);
  EXPECT_EQ(ByteToCodepoint(0xAD), 0x143u);  // soft hyphen: the 68th and last remapped byte
  EXPECT_EQ(ByteToCodepoint(0xE9), 0xE9u);
  std::string s;
  AppendByteLevel(" the\n", &s);
  EXPECT_EQ(s, "\xC4\xA0the\xC4\x8A");  // "Ġthe" "Ċ"
}

TEST(ByteLevelTest, AllBytesRoundTripAndForeignCharsAreRejected) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string mapped, back;
  AppendByteLevel(all, &mapped);
  ASSERT_TRUE(AppendFromByteLevel(mapped, &back));
  EXPECT_EQ(back, all);
  std::string out = "x";
  EXPECT_FALSE(AppendFromByteLevel("a\xE2\x82\xAC", &out));  // '€' is not in the alphabet
  EXPECT_EQ(out, "x");
  EXPECT_FALSE(AppendFromByteLevel(" ", &out));  // ' ' itself is shown as 'Ġ', never as ' '
}

}  // namespace
}  // namespace detinfer
