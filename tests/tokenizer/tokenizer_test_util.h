// Builders for the small tokenizer files the tokenizer tests use.
#ifndef DETINFER_TESTS_TOKENIZER_TOKENIZER_TEST_UTIL_H_
#define DETINFER_TESTS_TOKENIZER_TOKENIZER_TEST_UTIL_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace detinfer::testing {

// The byte-level text of byte `b` ("Ġ" for ' ').
inline std::string ByteChar(int b) {
  std::string s;
  AppendUtf8(ByteToCodepoint(static_cast<uint8_t>(b)), &s);
  return s;
}

// A tokenizer.json whose vocabulary is the 256 byte characters (id = byte value) followed by
// `extra` (ids 256, 257, ...), with `merges` and the given pre-tokenizer.
inline nlohmann::json MakeHfJson(const std::vector<std::string>& extra,
                                 const nlohmann::json& merges, const nlohmann::json& pre) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[ByteChar(b)] = b;
  for (size_t i = 0; i < extra.size(); ++i) vocab[extra[i]] = 256 + static_cast<int>(i);
  nlohmann::json j;
  j["version"] = "1.0";
  j["added_tokens"] = nlohmann::json::array();
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = pre;
  j["post_processor"] = nullptr;
  j["decoder"] = {{"type", "ByteLevel"}};
  j["model"] = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr},
                {"vocab", vocab}, {"merges", merges}};
  return j;
}

inline nlohmann::json Gpt2PreTokenizer() {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
          {"use_regex", true}};
}

inline nlohmann::json SplitThenByteLevel(const std::string& regex) {
  return {{"type", "Sequence"},
          {"pretokenizers",
           {{{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"},
             {"invert", false}},
            {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false},
             {"use_regex", false}}}}};
}

// llama2.c tokenizer.bin bytes: max_token_length, then (score, len, bytes) per token.
inline std::vector<uint8_t> MakeLlama2cBin(const std::vector<std::pair<std::string, float>>& toks,
                                           int32_t max_len = -1) {
  if (max_len < 0) {
    max_len = 1;
    for (const auto& t : toks) max_len = std::max(max_len, static_cast<int32_t>(t.first.size()));
  }
  std::vector<uint8_t> out;
  auto put = [&](const void* p, size_t n) {
    // resize + memcpy rather than insert: GCC 12 -O3 reports a false stringop-overflow there.
    const size_t at = out.size();
    out.resize(at + n);
    if (n > 0) std::memcpy(out.data() + at, p, n);
  };
  put(&max_len, 4);
  for (const auto& [text, score] : toks) {
    const auto len = static_cast<int32_t>(text.size());
    put(&score, 4);
    put(&len, 4);
    put(text.data(), text.size());
  }
  return out;
}

// "<0xXX>".
inline std::string ByteTokenText(int b) {
  static const char kHex[] = "0123456789ABCDEF";
  return std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">";
}

// Strings every tokenizer must round-trip: ASCII, Latin, CJK, emoji (4-byte, ZWJ sequences,
// skin tones), combining marks, whitespace runs, tabs, newlines, CRLF, control characters.
inline std::vector<std::string> RoundTripStrings() {
  return {"",
          "a",
          "hello",
          "hello world",
          " leading space",
          "trailing space ",
          "  multiple   spaces   inside  ",
          "line one\nline two\n\nline four\r\n",
          "\t\ttabs\tand\vvertical\fform feed",
          "h\xC3\xA9llo w\xC3\xB6rld \xC3\xA7" "a va",
          "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88",
          "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 \xD0\xBC\xD0\xB8\xD1\x80",
          "emoji \xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD and family "
          "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7",
          "e\xCC\x81 combining",
          "numbers 1234567 and 3.14159",
          "it's they're we've I'm you'll he'd",
          "punctuation!!! ??? ... ---",
          "\x01\x02 control \x7F",
          "\xEF\xBF\xBD replacement char itself",
          "mixed \xE4\xB8\xAD\xE6\x96\x87 and English\n\t\xF0\x9F\x9A\x80"};
}

}  // namespace detinfer::testing

#endif  // DETINFER_TESTS_TOKENIZER_TOKENIZER_TEST_UTIL_H_
