#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace detinfer {
namespace {

bool StandsForItself(uint32_t b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Tables {
  std::array<uint32_t, 256> to_cp{};
  std::array<std::string, 256> to_utf8{};
  std::array<int16_t, 512> from_cp{};  // every mapped code point is < 0x144; -1: not mapped
  Tables() {
    from_cp.fill(-1);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      to_cp[b] = StandsForItself(b) ? b : next++;
      AppendUtf8(to_cp[b], &to_utf8[b]);
      from_cp[to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};

const Tables& GetTables() {
  static const Tables tables;
  return tables;
}

}  // namespace

uint32_t ByteToCodepoint(uint8_t b) { return GetTables().to_cp[b]; }

void AppendByteLevel(std::string_view bytes, std::string* out) {
  const Tables& t = GetTables();
  for (char c : bytes) out->append(t.to_utf8[static_cast<uint8_t>(c)]);
}

bool AppendFromByteLevel(std::string_view text, std::string* out) {
  const Tables& t = GetTables();
  const size_t start = out->size();
  for (size_t pos = 0; pos < text.size();) {
    const size_t n = Utf8CharLength(text, pos);
    const uint32_t cp = n == 0 ? 0xFFFFFFFFu : DecodeUtf8At(text, pos);
    if (n == 0 || cp >= t.from_cp.size() || t.from_cp[cp] < 0) {
      out->resize(start);
      return false;
    }
    out->push_back(static_cast<char>(static_cast<uint8_t>(t.from_cp[cp])));
    pos += n;
  }
  return true;
}

}  // namespace detinfer
