// The parser for the chat-template Jinja subset: statements (tags and the bodies between them)
// and Parse, the entry point. It follows jinja2's grammar; jinja_lexer.cc tokenizes and
// jinja_parse_expr.cc parses the expressions.
#include <algorithm>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "template/jinja_internal.h"

namespace detinfer::jinja {
namespace {

class Parser : public ExprParser {
 public:
  explicit Parser(std::vector<Token> toks) : ExprParser(std::move(toks)) {}

  Body ParseTemplate() {
    std::string end;
    Body body = ParseBody({}, &end);
    return body;
  }

 private:
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
  Parser parser(Lex(lexed));
  prog->body = parser.ParseTemplate();
  return prog;
}

}  // namespace detinfer::jinja
