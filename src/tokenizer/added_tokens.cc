#include "tokenizer/added_tokens.h"

#include <unicode/uchar.h>

#include <algorithm>

#include "tokenizer/utf8.h"

namespace detinfer {

namespace {
bool IsWhiteSpace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}
}  // namespace

bool IsWordChar(uint32_t cp) {
  if (cp < 0x80) {
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
           cp == '_';
  }
  const auto c = static_cast<UChar32>(cp);
  if (u_hasBinaryProperty(c, UCHAR_ALPHABETIC) || cp == 0x200C || cp == 0x200D) return true;
  const int8_t t = u_charType(c);
  return t == U_NON_SPACING_MARK || t == U_ENCLOSING_MARK || t == U_COMBINING_SPACING_MARK ||
         t == U_DECIMAL_DIGIT_NUMBER || t == U_CONNECTOR_PUNCTUATION;
}

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
  int32_t node = 0;
  for (char ch : token.content) {
    const auto b = static_cast<uint8_t>(ch);
    auto& kids = trie_[node].children;
    auto it = std::lower_bound(kids.begin(), kids.end(), std::pair<uint8_t, int32_t>{b, -1});
    if (it != kids.end() && it->first == b) {
      node = it->second;
      continue;
    }
    const auto next = static_cast<int32_t>(trie_.size());
    kids.insert(it, {b, next});  // before emplace_back, which may move the nodes
    trie_.emplace_back();
    node = next;
  }
  if (trie_[node].token < 0) trie_[node].token = static_cast<int32_t>(tokens_.size());
  tokens_.push_back(std::move(token));
}

std::vector<TextSegment> AddedTokenMatcher::Split(std::string_view text) const {
  std::vector<TextSegment> out;
  size_t plain_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    // The longest content that starts at pos.
    const AddedToken* best = nullptr;
    int32_t node = 0;
    for (size_t i = pos; i < text.size(); ++i) {
      const auto& kids = trie_[node].children;
      const auto b = static_cast<uint8_t>(text[i]);
      auto it = std::lower_bound(kids.begin(), kids.end(), std::pair<uint8_t, int32_t>{b, -1});
      if (it == kids.end() || it->first != b) break;
      node = it->second;
      if (trie_[node].token >= 0) best = &tokens_[trie_[node].token];
    }
    if (best == nullptr) {
      ++pos;
      continue;
    }
    size_t begin = pos, end = pos + best->content.size();
    if (best->single_word) {
      size_t before = begin;  // start of the character before the match
      if (before > 0) --before;
      while (before > 0 && (static_cast<uint8_t>(text[before]) & 0xC0) == 0x80) --before;
      const bool word_before = begin > 0 && IsWordChar(DecodeUtf8At(text, before));
      const bool word_after = end < text.size() && IsWordChar(DecodeUtf8At(text, end));
      if (word_before || word_after) {
        pos = end;  // the automaton resumes after the dropped match
        continue;
      }
    }
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
