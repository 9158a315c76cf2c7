// The lexer for the chat-template Jinja subset. It reproduces jinja2's whitespace handling with
// trim_blocks=True and lstrip_blocks=True (and the default keep_trailing_newline=False).
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "template/jinja_internal.h"

namespace detinfer::jinja {

void SyntaxError(size_t offset, std::string msg) { Fail(JinjaError::Kind::kSyntax, offset, std::move(msg)); }

namespace {

bool IsWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Python's str.rstrip() on UTF-8 text.
std::string_view RstripPy(std::string_view s) {
  while (!s.empty()) {
    unsigned char c = static_cast<unsigned char>(s.back());
    if (c < 0x80) {
      if (IsPySpace(c)) { s.remove_suffix(1); continue; }
      break;
    }
    size_t start = s.size() - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    std::u32string cp = Decode(s.substr(start));
    if (cp.size() == 1 && IsPySpace(cp[0])) { s = s.substr(0, start); continue; }
    break;
  }
  return s;
}

bool AllPySpace(std::string_view s) {
  if (s.empty()) return false;
  for (char32_t c : Decode(s))
    if (!IsPySpace(c)) return false;
  return true;
}

size_t SkipPySpace(std::string_view s, size_t pos) {
  while (pos < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[pos]);
    if (c < 0x80) {
      if (!IsPySpace(c)) break;
      ++pos;
      continue;
    }
    size_t len = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    std::u32string cp = Decode(s.substr(pos, len));
    if (cp.size() != 1 || !IsPySpace(cp[0])) break;
    pos += len;
  }
  return pos;
}

std::string Unescape(std::string_view body, size_t offset) {
  std::string out;
  for (size_t k = 0; k < body.size(); ++k) {
    char c = body[k];
    if (c != '\\' || k + 1 >= body.size()) {
      out += c;
      continue;
    }
    char e = body[++k];
    auto hex = [&](int n) -> char32_t {
      char32_t v = 0;
      for (int d = 0; d < n; ++d) {
        if (k + 1 >= body.size()) SyntaxError(offset, "truncated escape in string literal");
        char h = body[++k];
        int x = (h >= '0' && h <= '9') ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
        if (x < 0) SyntaxError(offset, "invalid escape in string literal");
        v = v * 16 + static_cast<char32_t>(x);
      }
      return v;
    };
    switch (e) {
      case '\n': break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case 'x': AppendUtf8(out, hex(2)); break;
      case 'u': AppendUtf8(out, hex(4)); break;
      case 'U': {
        char32_t v = hex(8);
        if (v > 0x10FFFF) SyntaxError(offset, "invalid \\U escape in string literal");
        AppendUtf8(out, v);
        break;
      }
      case 'N': SyntaxError(offset, "\\N{...} escapes are not supported");
      default:
        if (e >= '0' && e <= '7') {
          char32_t v = static_cast<char32_t>(e - '0');
          for (int d = 0; d < 2 && k + 1 < body.size() && body[k + 1] >= '0' && body[k + 1] <= '7'; ++d)
            v = v * 8 + static_cast<char32_t>(body[++k] - '0');
          AppendUtf8(out, v);
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(const std::string& src) : s_(src) {}

  std::vector<Token> Run() {
    size_t pos = 0;
    bool line_starting = true;
    const size_t n = s_.size();
    while (pos < n) {
      size_t t = pos;
      while (true) {
        t = s_.find('{', t);
        if (t == std::string::npos || t + 1 >= n) { t = std::string::npos; break; }
        char k = s_[t + 1];
        if (k == '{' || k == '%' || k == '#') break;
        ++t;
      }
      if (t == std::string::npos) {
        Data(pos, std::string_view(s_).substr(pos));
        break;
      }
      char kind = s_[t + 1];
      std::string_view text = std::string_view(s_).substr(pos, t - pos);
      char sign = (t + 2 < n && (s_[t + 2] == '-' || s_[t + 2] == '+')) ? s_[t + 2] : 0;
      if (sign == '-') {
        text = RstripPy(text);
      } else if (sign != '+' && kind != '{') {
        size_t l_pos = text.rfind('\n');
        l_pos = l_pos == std::string_view::npos ? 0 : l_pos + 1;
        if ((l_pos > 0 || line_starting) && AllPySpace(text.substr(l_pos))) text = text.substr(0, l_pos);
      }
      Data(pos, text);
      pos = t + 2 + (sign ? 1 : 0);
      if (kind == '#') {
        size_t e = s_.find("#}", pos);
        if (e == std::string::npos) SyntaxError(t, "missing end of comment tag");
        size_t end = e + 2;
        char esign = e > pos && (s_[e - 1] == '-' || s_[e - 1] == '+') ? s_[e - 1] : 0;
        if (esign == '-') end = SkipPySpace(s_, end);
        else if (esign != '+' && end < n && s_[end] == '\n') ++end;
        line_starting = s_[end - 1] == '\n';
        pos = end;
        continue;
      }
      if (kind == '%' && TryRaw(t, pos, line_starting)) continue;
      pos = Tag(t, pos, kind == '%', line_starting);
    }
    toks_.push_back(Token{Tok::kEof, n, {}});
    return std::move(toks_);
  }

 private:
  void Data(size_t offset, std::string_view text) {
    if (!text.empty()) toks_.push_back(Token{Tok::kData, offset, std::string(text)});
  }

  // {% raw %}...{% endraw %}: returns true and advances `pos` when the tag at `start` is raw.
  bool TryRaw(size_t start, size_t& pos, bool& line_starting) {
    size_t p = pos;
    while (p < s_.size() && IsWs(s_[p])) ++p;
    if (s_.compare(p, 3, "raw") != 0) return false;
    p += 3;
    size_t q = p;
    while (q < s_.size() && IsWs(s_[q])) ++q;
    if (q < s_.size() && (s_[q] == '-' || s_[q] == '+')) ++q;
    if (s_.compare(q, 2, "%}") != 0) return false;
    bool strip_after = q > 0 && s_[q - 1] == '-';
    size_t body = q + 2;
    if (strip_after) body = SkipPySpace(s_, body);
    // Find {%[-+]? endraw [-+]?%}.
    size_t scan = body;
    while (true) {
      size_t e = s_.find("{%", scan);
      if (e == std::string::npos) SyntaxError(start, "missing end of raw directive");
      size_t r = e + 2;
      char sign = r < s_.size() && (s_[r] == '-' || s_[r] == '+') ? s_[r] : 0;
      if (sign) ++r;
      while (r < s_.size() && IsWs(s_[r])) ++r;
      if (s_.compare(r, 6, "endraw") != 0) { scan = e + 2; continue; }
      r += 6;
      while (r < s_.size() && IsWs(s_[r])) ++r;
      char esign = r < s_.size() && (s_[r] == '-' || s_[r] == '+') ? s_[r] : 0;
      if (esign) ++r;
      if (s_.compare(r, 2, "%}") != 0) { scan = e + 2; continue; }
      std::string_view text = std::string_view(s_).substr(body, e - body);
      if (sign == '-') text = RstripPy(text);
      Data(body, text);
      size_t end = r + 2;
      if (esign == '-') end = SkipPySpace(s_, end);
      else if (esign != '+' && end < s_.size() && s_[end] == '\n') ++end;
      line_starting = s_[end - 1] == '\n';
      pos = end;
      return true;
    }
  }

  size_t Tag(size_t start, size_t pos, bool block, bool& line_starting) {
    toks_.push_back(Token{block ? Tok::kBlockBegin : Tok::kVarBegin, start, {}});
    const size_t n = s_.size();
    int balance = 0;
    while (true) {
      while (pos < n && IsWs(s_[pos])) ++pos;
      if (pos >= n) SyntaxError(start, block ? "unexpected end of template: missing '%}'" : "unexpected end of template: missing '}}'");
      if (balance == 0) {
        const char* close = block ? "%}" : "}}";
        size_t end = std::string::npos;
        bool minus = false, plus = false;
        if (s_[pos] == '-' && s_.compare(pos + 1, 2, close) == 0) { end = pos + 3; minus = true; }
        else if (block && s_[pos] == '+' && s_.compare(pos + 1, 2, close) == 0) { end = pos + 3; plus = true; }
        else if (s_.compare(pos, 2, close) == 0) end = pos + 2;
        if (end != std::string::npos) {
          toks_.push_back(Token{block ? Tok::kBlockEnd : Tok::kVarEnd, pos, {}});
          if (minus) end = SkipPySpace(s_, end);
          else if (block && !plus && end < n && s_[end] == '\n') ++end;
          line_starting = s_[end - 1] == '\n';
          return end;
        }
      }
      char c = s_[pos];
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t e = pos;
        while (e < n && (std::isalnum(static_cast<unsigned char>(s_[e])) || s_[e] == '_')) ++e;
        toks_.push_back(Token{Tok::kName, pos, s_.substr(pos, e - pos)});
        pos = e;
        continue;
      }
      if (std::isdigit(static_cast<unsigned char>(c))) {
        pos = Number(pos);
        continue;
      }
      if (c == '\'' || c == '"') {
        size_t e = pos + 1;
        while (e < n && s_[e] != c) {
          if (s_[e] == '\\') ++e;
          ++e;
        }
        if (e >= n) SyntaxError(pos, "unterminated string literal");
        Token tok{Tok::kString, pos, Unescape(std::string_view(s_).substr(pos + 1, e - pos - 1), pos)};
        toks_.push_back(std::move(tok));
        pos = e + 1;
        continue;
      }
      static const char* const kOps2[] = {"//", "**", "==", "!=", "<=", ">="};
      bool matched = false;
      for (const char* op : kOps2) {
        if (s_.compare(pos, 2, op) == 0) {
          toks_.push_back(Token{Tok::kOp, pos, op});
          pos += 2;
          matched = true;
          break;
        }
      }
      if (matched) continue;
      if (std::strchr("+-/*%~[](){}<>=.:|,;", c) != nullptr) {
        if (c == '(' || c == '[' || c == '{') ++balance;
        if (c == ')' || c == ']' || c == '}') {
          if (balance == 0) SyntaxError(pos, std::string("unexpected '") + c + "'");
          --balance;
        }
        toks_.push_back(Token{Tok::kOp, pos, std::string(1, c)});
        ++pos;
        continue;
      }
      SyntaxError(pos, std::string("unexpected character '") + c + "'");
    }
  }

  size_t Number(size_t pos) {
    const size_t n = s_.size();
    auto digits = [&](size_t p) {
      while (p < n && (std::isdigit(static_cast<unsigned char>(s_[p])) || (s_[p] == '_' && p + 1 < n && std::isdigit(static_cast<unsigned char>(s_[p + 1]))))) ++p;
      return p;
    };
    size_t e = digits(pos);
    bool is_float = false;
    if (e + 1 < n && s_[e] == '.' && std::isdigit(static_cast<unsigned char>(s_[e + 1]))) {
      e = digits(e + 1);
      is_float = true;
    }
    if (e < n && (s_[e] == 'e' || s_[e] == 'E')) {
      size_t p = e + 1;
      if (p < n && (s_[p] == '+' || s_[p] == '-')) ++p;
      if (p < n && std::isdigit(static_cast<unsigned char>(s_[p]))) {
        e = digits(p);
        is_float = true;
      }
    }
    std::string text;
    for (size_t k = pos; k < e; ++k)
      if (s_[k] != '_') text += s_[k];
    Token tok{is_float ? Tok::kFloat : Tok::kInt, pos, text};
    if (is_float) {
      tok.f = std::strtod(text.c_str(), nullptr);
    } else {
      errno = 0;
      char* end = nullptr;
      long long v = std::strtoll(text.c_str(), &end, 10);
      if (errno == ERANGE) SyntaxError(pos, "integer literal too large");
      tok.i = v;
    }
    toks_.push_back(std::move(tok));
    return e;
  }

  const std::string& s_;
  std::vector<Token> toks_;
};

}  // namespace

std::vector<Token> Lex(const std::string& source) {
  Lexer lexer(source);
  return lexer.Run();
}

}  // namespace detinfer::jinja
