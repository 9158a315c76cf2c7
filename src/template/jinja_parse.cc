// Lexer and parser for the chat-template Jinja subset. The lexer reproduces jinja2's
// whitespace handling with trim_blocks=True and lstrip_blocks=True (and the default
// keep_trailing_newline=False); the parser follows jinja2's grammar and operator precedence.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

#include "template/jinja_internal.h"

namespace detinfer::jinja {
namespace {

enum class Tok { kData, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kFloat, kOp, kEof };

struct Token {
  Tok type;
  size_t offset;
  std::string text;  // kData: the text; kName/kOp: the spelling; kString: the unescaped value
  int64_t i = 0;
  double f = 0;
};

constexpr int kMaxNesting = 200;

[[noreturn]] void SyntaxError(size_t offset, std::string msg) { Fail(JinjaError::Kind::kSyntax, offset, std::move(msg)); }

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

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  Body ParseTemplate() {
    std::string end;
    Body body = ParseBody({}, &end);
    return body;
  }

 private:
  const Token& Cur() const { return t_[p_]; }
  const Token& Peek(size_t k = 1) const { return t_[std::min(p_ + k, t_.size() - 1)]; }
  void Next() { if (p_ + 1 < t_.size()) ++p_; }
  bool IsOp(const char* op) const { return Cur().type == Tok::kOp && Cur().text == op; }
  bool IsName(const char* name) const { return Cur().type == Tok::kName && Cur().text == name; }
  bool SkipOp(const char* op) { if (IsOp(op)) { Next(); return true; } return false; }
  bool SkipName(const char* name) { if (IsName(name)) { Next(); return true; } return false; }

  static std::string Describe(const Token& tok) {
    switch (tok.type) {
      case Tok::kData: return "template data";
      case Tok::kVarBegin: return "'{{'";
      case Tok::kVarEnd: return "end of print statement '}}'";
      case Tok::kBlockBegin: return "'{%'";
      case Tok::kBlockEnd: return "end of statement block '%}'";
      case Tok::kName: return "'" + tok.text + "'";
      case Tok::kString: return "string literal";
      case Tok::kInt: case Tok::kFloat: return "number";
      case Tok::kOp: return "'" + tok.text + "'";
      case Tok::kEof: return "end of template";
    }
    return "token";
  }

  [[noreturn]] void Unexpected(const char* expected) {
    std::string msg = "expected ";
    msg += expected;
    msg += ", got ";
    msg += Describe(Cur());
    SyntaxError(Cur().offset, std::move(msg));
  }

  void ExpectOp(const char* op) {
    if (!SkipOp(op)) {
      std::string e = "'";
      e += op;
      e += "'";
      Unexpected(e.c_str());
    }
  }
  void ExpectBlockEnd() { if (Cur().type != Tok::kBlockEnd) Unexpected("end of statement block '%}'"); Next(); }
  std::string ExpectName() {
    if (Cur().type != Tok::kName) Unexpected("a name");
    std::string s = Cur().text;
    Next();
    return s;
  }

  struct DepthGuard {
    explicit DepthGuard(Parser* p) : p_(p) {
      if (++p_->depth_ > kMaxNesting) SyntaxError(p_->Cur().offset, "template nested too deeply");
    }
    ~DepthGuard() { --p_->depth_; }
    Parser* p_;
  };

  // Parses statements until a block tag named in `ends`; leaves the position at that name
  // (after '{%') and stores it in *found.
  Body ParseBody(const std::vector<std::string>& ends, std::string* found) {
    DepthGuard guard(this);
    Body body;
    while (true) {
      const Token& tok = Cur();
      if (tok.type == Tok::kEof) {
        if (!ends.empty()) {
          std::string msg = "unexpected end of template; expected '";
          msg += ends.back();
          msg += "'";
          SyntaxError(tok.offset, std::move(msg));
        }
        *found = "";
        return body;
      }
      if (tok.type == Tok::kData) {
        auto st = std::make_unique<Stmt>();
        st->kind = StmtKind::kText;
        st->offset = tok.offset;
        st->text = tok.text;
        body.push_back(std::move(st));
        Next();
        continue;
      }
      if (tok.type == Tok::kVarBegin) {
        Next();
        auto st = std::make_unique<Stmt>();
        st->kind = StmtKind::kOutput;
        st->offset = Cur().offset;
        st->expr = ParseTuple(true);
        if (Cur().type != Tok::kVarEnd) Unexpected("end of print statement '}}'");
        Next();
        body.push_back(std::move(st));
        continue;
      }
      if (tok.type == Tok::kBlockBegin) {
        Next();
        if (Cur().type != Tok::kName) Unexpected("a statement name");
        const std::string& name = Cur().text;
        if (std::find(ends.begin(), ends.end(), name) != ends.end()) {
          *found = name;
          return body;
        }
        body.push_back(ParseStatement());
        continue;
      }
      Unexpected("template data or a tag");
    }
  }

  // After the closing tag name: consume it and '%}'.
  void EndTag() { Next(); ExpectBlockEnd(); }

  StmtPtr ParseStatement() {
    const Token& tok = Cur();
    const std::string name = tok.text;
    size_t offset = tok.offset;
    auto st = std::make_unique<Stmt>();
    st->offset = offset;
    Next();
    std::string found;
    if (name == "if") {
      st->kind = StmtKind::kIf;
      ExprPtr cond = ParseTuple(false);  // jinja2: no inline if-expression at the top of a condition
      ExpectBlockEnd();
      while (true) {
        Body body = ParseBody({"elif", "else", "endif"}, &found);
        st->branches.emplace_back(std::move(cond), std::move(body));
        if (found == "elif") {
          Next();
          cond = ParseTuple(false);
          ExpectBlockEnd();
          continue;
        }
        if (found == "else") {
          EndTag();
          Body else_body = ParseBody({"endif"}, &found);
          st->branches.emplace_back(nullptr, std::move(else_body));
        }
        EndTag();
        break;
      }
      return st;
    }
    if (name == "for") {
      st->kind = StmtKind::kFor;
      st->targets = ParseTargets();
      if (!SkipName("in")) Unexpected("'in'");
      st->expr = ParseTuple(false);
      if (SkipName("if")) st->cond = ParseExpression(true);
      if (IsName("recursive")) Fail(JinjaError::Kind::kUnsupported, Cur().offset, "recursive for loops are not supported");
      ExpectBlockEnd();
      ++loop_depth_;
      st->body = ParseBody({"endfor", "else"}, &found);
      --loop_depth_;
      if (found == "else") {
        EndTag();
        st->else_body = ParseBody({"endfor"}, &found);
      }
      EndTag();
      return st;
    }
    if (name == "set") {
      std::string first = ExpectName();
      if (SkipOp(".")) {
        st->kind = StmtKind::kSet;
        st->targets = {first};
        st->attr = ExpectName();
        ExpectOp("=");
        st->expr = ParseTuple(true);
        ExpectBlockEnd();
        return st;
      }
      st->targets = {first};
      while (SkipOp(",")) {
        if (Cur().type != Tok::kName) break;
        st->targets.push_back(ExpectName());
      }
      if (SkipOp("=")) {
        st->kind = StmtKind::kSet;
        st->expr = ParseTuple(true);
        ExpectBlockEnd();
        return st;
      }
      if (st->targets.size() != 1) Unexpected("'='");
      st->kind = StmtKind::kSetBlock;
      if (IsOp("|")) st->filter = ParseFilterChain(BlockSubject(Cur().offset));
      ExpectBlockEnd();
      st->body = ParseBody({"endset"}, &found);
      EndTag();
      return st;
    }
    if (name == "macro") {
      st->kind = StmtKind::kMacro;
      st->name = ExpectName();
      ExpectOp("(");
      while (!IsOp(")")) {
        std::string pname = ExpectName();
        ExprPtr def;
        if (SkipOp("=")) def = ParseExpression(true);
        st->params.emplace_back(std::move(pname), std::move(def));
        if (!SkipOp(",")) break;
      }
      ExpectOp(")");
      ExpectBlockEnd();
      int saved = loop_depth_;
      loop_depth_ = 0;
      st->body = ParseBody({"endmacro"}, &found);
      loop_depth_ = saved;
      EndTag();
      return st;
    }
    if (name == "call") {
      st->kind = StmtKind::kCallBlock;
      if (IsOp("(")) Fail(JinjaError::Kind::kUnsupported, Cur().offset, "call blocks with caller arguments are not supported");
      st->expr = ParseExpression(true);
      if (st->expr->kind != ExprKind::kCall) SyntaxError(offset, "expected a call in 'call' block");
      ExpectBlockEnd();
      st->body = ParseBody({"endcall"}, &found);
      EndTag();
      return st;
    }
    if (name == "filter") {
      st->kind = StmtKind::kFilterBlock;
      st->filter = ParseFilterChain(BlockSubject(offset), /*leading_pipe=*/false);
      ExpectBlockEnd();
      st->body = ParseBody({"endfilter"}, &found);
      EndTag();
      return st;
    }
    if (name == "generation") {
      st->kind = StmtKind::kScope;
      ExpectBlockEnd();
      st->body = ParseBody({"endgeneration"}, &found);
      EndTag();
      return st;
    }
    if (name == "with") {
      st->kind = StmtKind::kWith;
      while (Cur().type != Tok::kBlockEnd) {
        std::string var = ExpectName();
        ExpectOp("=");
        st->params.emplace_back(std::move(var), ParseExpression(true));
        if (!SkipOp(",")) break;
      }
      ExpectBlockEnd();
      st->body = ParseBody({"endwith"}, &found);
      EndTag();
      return st;
    }
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) SyntaxError(offset, "'" + name + "' outside of a loop");
      st->kind = name == "break" ? StmtKind::kBreak : StmtKind::kContinue;
      ExpectBlockEnd();
      return st;
    }
    static const std::unordered_set<std::string> kUnsupported = {
        "include", "import", "from", "extends", "block", "do", "autoescape", "trans", "pluralize"};
    if (kUnsupported.count(name) != 0)
      Fail(JinjaError::Kind::kUnsupported, offset, "unsupported tag '" + name + "'");
    SyntaxError(offset, "unknown tag '" + name + "'");
  }

  std::vector<std::string> ParseTargets() {
    std::vector<std::string> names;
    bool paren = SkipOp("(");
    names.push_back(ExpectName());
    while (SkipOp(",")) {
      if (Cur().type != Tok::kName) break;
      names.push_back(ExpectName());
    }
    if (paren) ExpectOp(")");
    return names;
  }

  static ExprPtr BlockSubject(size_t offset) {
    auto e = std::make_unique<Expr>();
    e->kind = ExprKind::kName;
    e->offset = offset;
    e->name.assign(1, '\x01');
    return e;
  }

  ExprPtr ParseFilterChain(ExprPtr subject, bool leading_pipe = true) {
    if (!leading_pipe) subject = ParseFilter(std::move(subject));
    while (SkipOp("|")) subject = ParseFilter(std::move(subject));
    return subject;
  }

  // ---- expressions ----

  ExprPtr Make(ExprKind kind, size_t offset) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->offset = offset;
    return e;
  }

  ExprPtr ParseTuple(bool with_condexpr) {
    size_t offset = Cur().offset;
    ExprPtr first = ParseExpression(with_condexpr);
    if (!IsOp(",")) return first;
    auto tuple = Make(ExprKind::kTuple, offset);
    tuple->args.push_back(std::move(first));
    while (SkipOp(",")) {
      if (Cur().type == Tok::kBlockEnd || Cur().type == Tok::kVarEnd || IsOp(")") || IsName("if")) break;
      tuple->args.push_back(ParseExpression(with_condexpr));
    }
    return tuple;
  }

  ExprPtr ParseExpression(bool with_condexpr) {
    DepthGuard guard(this);
    if (!with_condexpr) return ParseOr();
    size_t offset = Cur().offset;
    ExprPtr expr = ParseOr();
    while (SkipName("if")) {
      ExprPtr cond = ParseOr();
      ExprPtr other;
      if (SkipName("else")) other = ParseExpression(true);
      auto c = Make(ExprKind::kCondExpr, offset);
      c->args.push_back(std::move(expr));
      c->args.push_back(std::move(cond));
      c->args.push_back(std::move(other));
      expr = std::move(c);
    }
    return expr;
  }

  ExprPtr ParseOr() {
    ExprPtr left = ParseAnd();
    while (IsName("or")) {
      auto e = Make(ExprKind::kOr, Cur().offset);
      Next();
      e->args.push_back(std::move(left));
      e->args.push_back(ParseAnd());
      left = std::move(e);
    }
    return left;
  }

  ExprPtr ParseAnd() {
    ExprPtr left = ParseNot();
    while (IsName("and")) {
      auto e = Make(ExprKind::kAnd, Cur().offset);
      Next();
      e->args.push_back(std::move(left));
      e->args.push_back(ParseNot());
      left = std::move(e);
    }
    return left;
  }

  ExprPtr ParseNot() {
    if (IsName("not")) {
      DepthGuard guard(this);
      auto e = Make(ExprKind::kNot, Cur().offset);
      Next();
      e->args.push_back(ParseNot());
      return e;
    }
    return ParseCompare();
  }

  ExprPtr ParseCompare() {
    size_t offset = Cur().offset;
    ExprPtr first = ParseMath1();
    ExprPtr cmp;
    while (true) {
      CmpOp op;
      if (IsOp("==")) op = CmpOp::kEq;
      else if (IsOp("!=")) op = CmpOp::kNe;
      else if (IsOp("<")) op = CmpOp::kLt;
      else if (IsOp("<=")) op = CmpOp::kLe;
      else if (IsOp(">")) op = CmpOp::kGt;
      else if (IsOp(">=")) op = CmpOp::kGe;
      else if (IsName("in")) op = CmpOp::kIn;
      else if (IsName("not") && Peek().type == Tok::kName && Peek().text == "in") { Next(); op = CmpOp::kNotIn; }
      else break;
      Next();
      if (!cmp) {
        cmp = Make(ExprKind::kCompare, offset);
        cmp->args.push_back(std::move(first));
      }
      cmp->cmps.push_back(op);
      cmp->args.push_back(ParseMath1());
    }
    return cmp ? std::move(cmp) : std::move(first);
  }

  ExprPtr Binary(BinOp op, size_t offset, ExprPtr l, ExprPtr r) {
    auto e = Make(ExprKind::kBinary, offset);
    e->bin = op;
    e->args.push_back(std::move(l));
    e->args.push_back(std::move(r));
    return e;
  }

  ExprPtr ParseMath1() {
    ExprPtr left = ParseConcat();
    while (IsOp("+") || IsOp("-")) {
      BinOp op = IsOp("+") ? BinOp::kAdd : BinOp::kSub;
      size_t offset = Cur().offset;
      Next();
      left = Binary(op, offset, std::move(left), ParseConcat());
    }
    return left;
  }

  ExprPtr ParseConcat() {
    size_t offset = Cur().offset;
    ExprPtr first = ParseMath2();
    if (!IsOp("~")) return first;
    auto e = Make(ExprKind::kConcat, offset);
    e->args.push_back(std::move(first));
    while (SkipOp("~")) e->args.push_back(ParseMath2());
    return e;
  }

  ExprPtr ParseMath2() {
    ExprPtr left = ParsePow();
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      BinOp op = IsOp("*") ? BinOp::kMul : IsOp("/") ? BinOp::kDiv : IsOp("//") ? BinOp::kFloorDiv : BinOp::kMod;
      size_t offset = Cur().offset;
      Next();
      left = Binary(op, offset, std::move(left), ParsePow());
    }
    return left;
  }

  ExprPtr ParsePow() {
    ExprPtr left = ParseUnary(true);
    while (IsOp("**")) {
      size_t offset = Cur().offset;
      Next();
      left = Binary(BinOp::kPow, offset, std::move(left), ParseUnary(true));
    }
    return left;
  }

  ExprPtr ParseUnary(bool with_filter) {
    DepthGuard guard(this);
    size_t offset = Cur().offset;
    ExprPtr node;
    if (SkipOp("-")) {
      node = Make(ExprKind::kNeg, offset);
      node->args.push_back(ParseUnary(false));
    } else if (SkipOp("+")) {
      node = Make(ExprKind::kPos, offset);
      node->args.push_back(ParseUnary(false));
    } else {
      node = ParsePrimary();
    }
    node = ParsePostfix(std::move(node));
    if (with_filter) node = ParseFilterExpr(std::move(node));
    return node;
  }

  ExprPtr ParsePrimary() {
    const Token& tok = Cur();
    size_t offset = tok.offset;
    if (tok.type == Tok::kName) {
      const std::string& n = tok.text;
      auto lit = Make(ExprKind::kLiteral, offset);
      if (n == "true" || n == "True") lit->literal = Value::Bool(true);
      else if (n == "false" || n == "False") lit->literal = Value::Bool(false);
      else if (n == "none" || n == "None") lit->literal = Value::None();
      else {
        auto e = Make(ExprKind::kName, offset);
        e->name = n;
        Next();
        return e;
      }
      Next();
      return lit;
    }
    if (tok.type == Tok::kString) {
      std::string s = tok.text;
      Next();
      while (Cur().type == Tok::kString) {
        s += Cur().text;
        Next();
      }
      auto lit = Make(ExprKind::kLiteral, offset);
      lit->literal = Value::Str(std::move(s));
      return lit;
    }
    if (tok.type == Tok::kInt || tok.type == Tok::kFloat) {
      auto lit = Make(ExprKind::kLiteral, offset);
      lit->literal = tok.type == Tok::kInt ? Value::Int(tok.i) : Value::Float(tok.f);
      Next();
      return lit;
    }
    if (SkipOp("(")) {
      if (SkipOp(")")) {
        auto t = Make(ExprKind::kTuple, offset);
        return t;
      }
      ExprPtr e = ParseExpression(true);
      if (IsOp(",")) {
        auto t = Make(ExprKind::kTuple, offset);
        t->args.push_back(std::move(e));
        while (SkipOp(",")) {
          if (IsOp(")")) break;
          t->args.push_back(ParseExpression(true));
        }
        e = std::move(t);
      }
      ExpectOp(")");
      return e;
    }
    if (SkipOp("[")) {
      auto l = Make(ExprKind::kList, offset);
      while (!IsOp("]")) {
        l->args.push_back(ParseExpression(true));
        if (!SkipOp(",")) break;
      }
      ExpectOp("]");
      return l;
    }
    if (SkipOp("{")) {
      auto d = Make(ExprKind::kDict, offset);
      while (!IsOp("}")) {
        d->args.push_back(ParseExpression(true));
        ExpectOp(":");
        d->args.push_back(ParseExpression(true));
        if (!SkipOp(",")) break;
      }
      ExpectOp("}");
      return d;
    }
    Unexpected("an expression");
  }

  ExprPtr ParsePostfix(ExprPtr node) {
    while (true) {
      if (IsOp(".")) {
        size_t offset = Cur().offset;
        Next();
        if (Cur().type == Tok::kName) {
          auto e = Make(ExprKind::kGetAttr, offset);
          e->name = Cur().text;
          e->args.push_back(std::move(node));
          Next();
          node = std::move(e);
        } else if (Cur().type == Tok::kInt) {
          auto e = Make(ExprKind::kGetItem, offset);
          e->args.push_back(std::move(node));
          auto key = Make(ExprKind::kLiteral, Cur().offset);
          key->literal = Value::Int(Cur().i);
          e->args.push_back(std::move(key));
          Next();
          node = std::move(e);
        } else {
          Unexpected("an attribute name");
        }
      } else if (IsOp("[")) {
        node = ParseSubscript(std::move(node));
      } else if (IsOp("(")) {
        node = ParseCall(std::move(node), ExprKind::kCall, "");
      } else {
        return node;
      }
    }
  }

  ExprPtr ParseSubscript(ExprPtr obj) {
    size_t offset = Cur().offset;
    ExpectOp("[");
    ExprPtr parts[3];
    bool is_slice = false;
    int idx = 0;
    if (!IsOp(":")) parts[0] = ParseExpression(true);
    while (IsOp(":") && idx < 2) {
      Next();
      is_slice = true;
      ++idx;
      if (!IsOp(":") && !IsOp("]")) parts[idx] = ParseExpression(true);
    }
    if (!is_slice && IsOp(",")) {  // x[a, b]: a tuple key
      auto t = Make(ExprKind::kTuple, offset);
      t->args.push_back(std::move(parts[0]));
      while (SkipOp(",")) {
        if (IsOp("]")) break;
        t->args.push_back(ParseExpression(true));
      }
      parts[0] = std::move(t);
    }
    ExpectOp("]");
    auto e = Make(is_slice ? ExprKind::kSlice : ExprKind::kGetItem, offset);
    e->args.push_back(std::move(obj));
    e->args.push_back(std::move(parts[0]));
    if (is_slice) {
      e->args.push_back(std::move(parts[1]));
      e->args.push_back(std::move(parts[2]));
    }
    return e;
  }

  // Parses "(args)" onto a node whose args[0] is the subject.
  ExprPtr ParseCall(ExprPtr subject, ExprKind kind, const std::string& name) {
    size_t offset = subject->offset;  // errors in a call point at the callee
    auto e = Make(kind, offset);
    e->name = name;
    e->args.push_back(std::move(subject));
    AppendCallArgs(e.get());
    return e;
  }

  void AppendCallArgs(Expr* e) {
    ExpectOp("(");
    while (!IsOp(")")) {
      if (IsOp("*") || IsOp("**")) Fail(JinjaError::Kind::kUnsupported, Cur().offset, "*args and **kwargs in calls are not supported");
      if (Cur().type == Tok::kName && Peek().type == Tok::kOp && Peek().text == "=") {
        std::string key = Cur().text;
        Next();
        Next();
        e->kwargs.emplace_back(std::move(key), ParseExpression(true));
      } else {
        if (!e->kwargs.empty()) SyntaxError(Cur().offset, "positional argument follows keyword argument");
        e->args.push_back(ParseExpression(true));
      }
      if (!SkipOp(",")) break;
    }
    ExpectOp(")");
  }

  ExprPtr ParseFilter(ExprPtr subject) {
    size_t offset = Cur().offset;
    std::string name = ExpectName();
    while (IsOp(".")) {
      Next();
      name += ".";
      name += ExpectName();
    }
    if (!IsKnownFilter(name)) SyntaxError(offset, "unknown filter '" + name + "'");
    auto e = Make(ExprKind::kFilter, offset);
    e->name = name;
    e->args.push_back(std::move(subject));
    if (IsOp("(")) AppendCallArgs(e.get());
    return e;
  }

  ExprPtr ParseFilterExpr(ExprPtr node) {
    while (true) {
      if (SkipOp("|")) {
        node = ParseFilter(std::move(node));
      } else if (IsName("is")) {
        size_t offset = Cur().offset;
        Next();
        bool negated = SkipName("not");
        std::string name = ExpectName();
        while (IsOp(".")) {
          Next();
          name += ".";
          name += ExpectName();
        }
        if (!IsKnownTest(name)) SyntaxError(offset, "unknown test '" + name + "'");
        auto e = Make(ExprKind::kTest, offset);
        e->name = name;
        e->negated = negated;
        e->args.push_back(std::move(node));
        const Token& c = Cur();
        if (IsOp("(")) {
          AppendCallArgs(e.get());
        } else if ((c.type == Tok::kName || c.type == Tok::kString || c.type == Tok::kInt || c.type == Tok::kFloat ||
                    IsOp("[") || IsOp("{")) &&
                   !(IsName("else") || IsName("or") || IsName("and"))) {
          if (IsName("is")) SyntaxError(Cur().offset, "you cannot chain multiple tests with 'is'");
          ExprPtr arg = ParsePrimary();
          e->args.push_back(ParsePostfix(std::move(arg)));
        }
        node = std::move(e);
      } else if (IsOp("(")) {
        node = ParseCall(std::move(node), ExprKind::kCall, "");
      } else {
        return node;
      }
    }
  }

  std::vector<Token> t_;
  size_t p_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

std::string Program::Where(size_t offset) const {
  if (offset == SIZE_MAX) return "";
  auto it = std::upper_bound(line_starts.begin(), line_starts.end(), offset);
  size_t line = static_cast<size_t>(it - line_starts.begin());
  size_t col = offset - line_starts[line - 1] + 1;
  std::string out = "line ";
  out += std::to_string(line);
  out += ", column ";
  out += std::to_string(col);
  return out;
}

std::unique_ptr<Program> Parse(std::string_view source) {
  auto prog = std::make_unique<Program>();
  // jinja2 normalises \r\n and \r to \n and drops one trailing newline.
  std::string& s = prog->source;
  s.reserve(source.size());
  for (size_t k = 0; k < source.size(); ++k) {
    char c = source[k];
    if (c == '\r') {
      s += '\n';
      if (k + 1 < source.size() && source[k + 1] == '\n') ++k;
    } else {
      s += c;
    }
  }
  prog->line_starts.push_back(0);
  for (size_t k = 0; k < s.size(); ++k)
    if (s[k] == '\n') prog->line_starts.push_back(k + 1);
  std::string lexed = s;
  if (!lexed.empty() && lexed.back() == '\n') lexed.pop_back();
  Lexer lexer(lexed);
  Parser parser(lexer.Run());
  prog->body = parser.ParseTemplate();
  return prog;
}

}  // namespace detinfer::jinja
