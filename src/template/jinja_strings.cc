// Python's str operations on UTF-8 text for the renderer's methods and filters, counting code
// points where Python counts them: case mapping (full Unicode, via ICU, as Python), title and
// capitalize, strip, split, replace and splitlines.
#include <cctype>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <unicode/uchar.h>
#include <unicode/ustring.h>

#include "template/jinja_internal.h"

namespace detinfer::jinja {
namespace {

using T = Value::Type;

char32_t TitleC(char32_t c) { return c < 0x80 ? static_cast<char32_t>(std::toupper(static_cast<int>(c))) : static_cast<char32_t>(u_totitle(static_cast<UChar32>(c))); }

}  // namespace

char32_t Upper(char32_t c) { return c < 0x80 ? static_cast<char32_t>(std::toupper(static_cast<int>(c))) : static_cast<char32_t>(u_toupper(static_cast<UChar32>(c))); }
char32_t Lower(char32_t c) { return c < 0x80 ? static_cast<char32_t>(std::tolower(static_cast<int>(c))) : static_cast<char32_t>(u_tolower(static_cast<UChar32>(c))); }
bool Cased(char32_t c) {
  if (c < 0x80) return std::isalpha(static_cast<int>(c)) != 0;
  return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_CASED) != 0;
}
bool IsWordChar(char32_t c) {
  if (c < 0x80) return std::isalnum(static_cast<int>(c)) != 0 || c == '_';
  return u_isalnum(static_cast<UChar32>(c)) != 0;
}

std::string MapChars(const std::string& s, char32_t (*f)(char32_t)) {
  if (IsAscii(s)) {
    std::string out = s;
    for (char& c : out) c = static_cast<char>(f(static_cast<unsigned char>(c)));
    return out;
  }
  std::u32string u = Decode(s);
  for (char32_t& c : u) c = f(c);
  return Encode(u);
}

// Python's str.upper()/lower(): full Unicode case mapping ("ß" -> "SS"), via ICU's root locale.
std::string FullCase(const std::string& s, bool upper) {
  if (IsAscii(s)) return MapChars(s, upper ? Upper : Lower);
  UErrorCode err = U_ZERO_ERROR;
  int32_t n16 = 0;
  u_strFromUTF8(nullptr, 0, &n16, s.data(), static_cast<int32_t>(s.size()), &err);
  err = U_ZERO_ERROR;
  std::u16string src(static_cast<size_t>(n16), u'\0');
  u_strFromUTF8WithSub(src.data(), n16, &n16, s.data(), static_cast<int32_t>(s.size()), 0xFFFD, nullptr, &err);
  if (U_FAILURE(err)) return MapChars(s, upper ? Upper : Lower);
  std::u16string dst(src.size() * 3 + 4, u'\0');
  err = U_ZERO_ERROR;
  int32_t n = upper ? u_strToUpper(dst.data(), static_cast<int32_t>(dst.size()), src.data(), n16, "", &err)
                    : u_strToLower(dst.data(), static_cast<int32_t>(dst.size()), src.data(), n16, "", &err);
  if (U_FAILURE(err)) return MapChars(s, upper ? Upper : Lower);
  std::string out(static_cast<size_t>(n) * 3 + 4, '\0');
  int32_t n8 = 0;
  err = U_ZERO_ERROR;
  u_strToUTF8(out.data(), static_cast<int32_t>(out.size()), &n8, dst.data(), n, &err);
  if (U_FAILURE(err)) return MapChars(s, upper ? Upper : Lower);
  out.resize(static_cast<size_t>(n8));
  return out;
}

std::string PyTitle(const std::string& s) {
  std::u32string u = Decode(s);
  bool prev_cased = false;
  for (char32_t& c : u) {
    bool cased = Cased(c);
    c = prev_cased ? Lower(c) : TitleC(c);
    prev_cased = cased;
  }
  return Encode(u);
}

std::string PyCapitalize(const std::string& s) {
  std::u32string u = Decode(s);
  for (size_t k = 0; k < u.size(); ++k) u[k] = k == 0 ? TitleC(u[k]) : Lower(u[k]);
  return Encode(u);
}

// jinja2's title filter: split on runs of [-\s({[<], capitalise each piece.
std::string JinjaTitle(const std::string& s) {
  std::u32string u = Decode(s);
  std::u32string out;
  size_t k = 0;
  auto is_sep = [](char32_t c) { return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || IsPySpace(c); };
  while (k < u.size()) {
    size_t e = k;
    bool sep = is_sep(u[k]);
    while (e < u.size() && is_sep(u[e]) == sep) ++e;
    for (size_t j = k; j < e; ++j) out += j == k ? Upper(u[j]) : Lower(u[j]);
    k = e;
  }
  return Encode(out);
}

std::string PyStrip(const std::string& s, const Value* chars, bool left, bool right) {
  std::u32string u = Decode(s);
  std::u32string set;
  bool custom = chars != nullptr && chars->type == T::kString;
  if (custom) set = Decode(chars->s);
  auto strip_it = [&](char32_t c) { return custom ? set.find(c) != std::u32string::npos : IsPySpace(c); };
  size_t b = 0, e = u.size();
  if (left) while (b < e && strip_it(u[b])) ++b;
  if (right) while (e > b && strip_it(u[e - 1])) --e;
  return Encode(std::u32string_view(u).substr(b, e - b));
}

size_t CodePointLen(const std::string& s) {
  if (IsAscii(s)) return s.size();
  size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

std::string PyReplace(const std::string& s, const std::string& old, const std::string& repl, int64_t count) {
  if (count == 0) return s;
  std::string out;
  if (old.empty()) {
    std::u32string u = Decode(s);
    int64_t done = 0;
    for (char32_t c : u) {
      if (count < 0 || done < count) { out += repl; ++done; }
      AppendUtf8(out, c);
    }
    if (count < 0 || done < count) out += repl;
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t f = s.find(old, pos);
    if (f == std::string::npos) break;
    out.append(s, pos, f - pos);
    out += repl;
    pos = f + old.size();
    ++done;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

std::vector<std::string> PySplit(const std::string& s, const Value* sep, int64_t maxsplit, bool from_right, size_t offset) {
  std::vector<std::string> parts;
  if (sep == nullptr || sep->type == T::kNone) {
    std::u32string u = Decode(s);
    std::vector<std::pair<size_t, size_t>> words;
    size_t k = 0;
    while (k < u.size()) {
      while (k < u.size() && IsPySpace(u[k])) ++k;
      if (k >= u.size()) break;
      size_t e = k;
      while (e < u.size() && !IsPySpace(u[e])) ++e;
      words.emplace_back(k, e);
      k = e;
    }
    if (maxsplit < 0 || static_cast<size_t>(maxsplit) >= words.size()) {
      for (auto [b, e] : words) parts.push_back(Encode(std::u32string_view(u).substr(b, e - b)));
      return parts;
    }
    if (!from_right) {
      for (int64_t w = 0; w < maxsplit; ++w) parts.push_back(Encode(std::u32string_view(u).substr(words[static_cast<size_t>(w)].first, words[static_cast<size_t>(w)].second - words[static_cast<size_t>(w)].first)));
      size_t rest = words[static_cast<size_t>(maxsplit)].first;  // the remainder keeps its trailing space
      parts.push_back(Encode(std::u32string_view(u).substr(rest)));
    } else {
      size_t nw = words.size();
      size_t keep = nw - static_cast<size_t>(maxsplit);
      parts.push_back(Encode(std::u32string_view(u).substr(0, words[keep - 1].second)));  // keeps its leading space
      for (size_t w = keep; w < nw; ++w) parts.push_back(Encode(std::u32string_view(u).substr(words[w].first, words[w].second - words[w].first)));
    }
    return parts;
  }
  if (sep->type != T::kString) RuntimeError(offset, "split: separator must be a string");
  const std::string& d = sep->s;
  if (d.empty()) RuntimeError(offset, "split: empty separator");
  if (!from_right) {
    size_t pos = 0;
    int64_t done = 0;
    while (maxsplit < 0 || done < maxsplit) {
      size_t f = s.find(d, pos);
      if (f == std::string::npos) break;
      parts.push_back(s.substr(pos, f - pos));
      pos = f + d.size();
      ++done;
    }
    parts.push_back(s.substr(pos));
  } else {
    size_t end = s.size();
    int64_t done = 0;
    std::vector<std::string> rev;
    while (maxsplit < 0 || done < maxsplit) {
      if (end < d.size()) break;
      size_t f = s.rfind(d, end - d.size());
      if (f == std::string::npos) break;
      rev.push_back(s.substr(f + d.size(), end - f - d.size()));
      end = f;
      ++done;
    }
    rev.push_back(s.substr(0, end));
    parts.assign(rev.rbegin(), rev.rend());
  }
  return parts;
}

std::vector<std::string> SplitLines(const std::string& s) {
  std::u32string u = Decode(s);
  std::vector<std::string> lines;
  size_t b = 0, k = 0;
  while (k < u.size()) {
    char32_t c = u[k];
    bool br = c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0x1C || c == 0x1D || c == 0x1E || c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!br) { ++k; continue; }
    lines.push_back(Encode(std::u32string_view(u).substr(b, k - b)));
    if (c == '\r' && k + 1 < u.size() && u[k + 1] == '\n') ++k;
    ++k;
    b = k;
  }
  if (b < u.size()) lines.push_back(Encode(std::u32string_view(u).substr(b)));
  return lines;
}

}  // namespace detinfer::jinja
