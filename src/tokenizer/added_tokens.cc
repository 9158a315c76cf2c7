#include "tokenizer/added_tokens.h"

#include "tokenizer/utf8.h"

namespace detinfer {

namespace {
bool IsWhiteSpace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}
}  // namespace

size_t WhitespaceLengthAt(std::string_view text, size_t pos) {
  if (pos >= text.size()) return 0;
  const size_t n = Utf8CharLength(text, pos);
  return n > 0 && IsWhiteSpace(DecodeUtf8At(text, pos)) ? n : 0;
}

size_t WhitespaceLengthBefore(std::string_view text, size_t end) {
  size_t start = end;
  for (int i = 0; i < 4 && start > 0; ++i) {
    --start;
    if ((static_cast<uint8_t>(text[start]) & 0xC0) != 0x80) break;
  }
  return start < end && WhitespaceLengthAt(text, start) == end - start ? end - start : 0;
}

void AddedTokenMatcher::Add(AddedToken token) {
  if (token.content.empty()) return;
  by_first_byte_[static_cast<uint8_t>(token.content[0])].push_back(tokens_.size());
  tokens_.push_back(std::move(token));
}

std::vector<TextSegment> AddedTokenMatcher::Split(std::string_view text) const {
  std::vector<TextSegment> out;
  size_t plain_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const AddedToken* best = nullptr;
    for (size_t i : by_first_byte_[static_cast<uint8_t>(text[pos])]) {
      const AddedToken& t = tokens_[i];
      if (text.substr(pos).starts_with(t.content) &&
          (best == nullptr || t.content.size() > best->content.size())) {
        best = &t;
      }
    }
    if (best == nullptr) {
      ++pos;
      continue;
    }
    size_t begin = pos, end = pos + best->content.size();
    if (best->lstrip) {
      while (size_t n = WhitespaceLengthBefore(text, begin)) {
        if (begin - n < plain_start) break;
        begin -= n;
      }
    }
    if (best->rstrip) {
      while (size_t n = WhitespaceLengthAt(text, end)) end += n;
    }
    if (begin > plain_start) out.push_back({text.substr(plain_start, begin - plain_start), -1});
    out.push_back({text.substr(begin, end - begin), best->id});
    plain_start = pos = end;
  }
  if (plain_start < text.size()) out.push_back({text.substr(plain_start), -1});
  return out;
}

}  // namespace detinfer
