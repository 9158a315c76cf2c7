#include "tokenizer/utf8.h"

namespace detinfer {
namespace {

// How far text[pos..] is a valid prefix of a character (Unicode Table 3-7, "Well-Formed UTF-8
// Byte Sequences"): returns {bytes that fit the table, bytes a complete character needs}.
// valid < needed means ill-formed at text[pos + valid] or truncated by the end of `text`.
struct Prefix {
  size_t valid;
  size_t needed;
};

Prefix ScanChar(std::string_view text, size_t pos) {
  const auto b0 = static_cast<uint8_t>(text[pos]);
  if (b0 < 0x80) return {1, 1};
  size_t needed = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    needed = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    needed = 3;
    if (b0 == 0xE0) lo = 0xA0;   // no overlong 3-byte forms
    if (b0 == 0xED) hi = 0x9F;   // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    needed = 4;
    if (b0 == 0xF0) lo = 0x90;   // no overlong 4-byte forms
    if (b0 == 0xF4) hi = 0x8F;   // nothing above U+10FFFF
  } else {
    return {0, 1};  // a continuation byte or C0, C1, F5..FF: never starts a character
  }
  size_t valid = 1;
  while (valid < needed && pos + valid < text.size()) {
    const auto b = static_cast<uint8_t>(text[pos + valid]);
    const uint8_t l = valid == 1 ? lo : 0x80;
    const uint8_t h = valid == 1 ? hi : 0xBF;
    if (b < l || b > h) break;
    ++valid;
  }
  return {valid, needed};
}

}  // namespace

size_t Utf8CharLength(std::string_view text, size_t pos) {
  const Prefix p = ScanChar(text, pos);
  return p.valid == p.needed ? p.needed : 0;
}

Status ValidateUtf8(std::string_view text, std::string_view what) {
  for (size_t pos = 0; pos < text.size();) {
    const size_t n = Utf8CharLength(text, pos);
    if (n == 0) {
      static const char kHex[] = "0123456789ABCDEF";
      const auto b = static_cast<uint8_t>(text[pos]);
      return Status::InvalidArgument(std::string(what) + ": invalid UTF-8 at byte offset " +
                                     std::to_string(pos) + " (byte 0x" + kHex[b >> 4] +
                                     kHex[b & 15] + ")");
    }
    pos += n;
  }
  return Status::Ok();
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

uint32_t DecodeUtf8At(std::string_view text, size_t pos) {
  const auto b0 = static_cast<uint8_t>(text[pos]);
  const size_t n = Utf8CharLength(text, pos);
  if (n <= 1) return b0;
  uint32_t cp = b0 & (0xFFu >> (n + 1));
  for (size_t i = 1; i < n; ++i) cp = (cp << 6) | (static_cast<uint8_t>(text[pos + i]) & 0x3Fu);
  return cp;
}

size_t AppendUtf8Lossy(std::string_view bytes, bool final, std::string* out) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const Prefix p = ScanChar(bytes, pos);
    if (p.valid == p.needed) {
      out->append(bytes.substr(pos, p.needed));
      pos += p.needed;
    } else if (pos + p.valid == bytes.size() && p.valid > 0 && !final) {
      break;  // a valid start cut off by the end: the next token may complete it
    } else {
      // One U+FFFD per maximal subpart; a lone bad byte is a subpart of length 1.
      out->append(kReplacementChar);
      pos += p.valid > 0 ? p.valid : 1;
    }
  }
  return pos;
}

}  // namespace detinfer
