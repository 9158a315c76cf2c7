// The expression grammar of the chat-template Jinja subset, with jinja2's operator precedence
// (jinja_parse.cc parses the statements around expressions), and the parser's token cursor.
#include <string>
#include <utility>
#include <vector>

#include "template/jinja_internal.h"

namespace detinfer::jinja {
namespace {

constexpr int kMaxNesting = 200;

}  // namespace

std::string ExprParser::Describe(const Token& tok) {
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

[[noreturn]] void ExprParser::Unexpected(const char* expected) {
  std::string msg = "expected ";
  msg += expected;
  msg += ", got ";
  msg += Describe(Cur());
  SyntaxError(Cur().offset, std::move(msg));
}

void ExprParser::ExpectOp(const char* op) {
  if (!SkipOp(op)) {
    std::string e = "'";
    e += op;
    e += "'";
    Unexpected(e.c_str());
  }
}

std::string ExprParser::ExpectName() {
  if (Cur().type != Tok::kName) Unexpected("a name");
  std::string s = Cur().text;
  Next();
  return s;
}

ExprParser::DepthGuard::DepthGuard(ExprParser* p) : p_(p) {
  if (++p_->depth_ > kMaxNesting) SyntaxError(p_->Cur().offset, "template nested too deeply");
}

// ---- expressions ----

ExprPtr ExprParser::Make(ExprKind kind, size_t offset) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->offset = offset;
  return e;
}

ExprPtr ExprParser::ParseTuple(bool with_condexpr) {
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

ExprPtr ExprParser::ParseExpression(bool with_condexpr) {
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

ExprPtr ExprParser::ParseOr() {
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

ExprPtr ExprParser::ParseAnd() {
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

ExprPtr ExprParser::ParseNot() {
  if (IsName("not")) {
    DepthGuard guard(this);
    auto e = Make(ExprKind::kNot, Cur().offset);
    Next();
    e->args.push_back(ParseNot());
    return e;
  }
  return ParseCompare();
}

ExprPtr ExprParser::ParseCompare() {
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

ExprPtr ExprParser::Binary(BinOp op, size_t offset, ExprPtr l, ExprPtr r) {
  auto e = Make(ExprKind::kBinary, offset);
  e->bin = op;
  e->args.push_back(std::move(l));
  e->args.push_back(std::move(r));
  return e;
}

ExprPtr ExprParser::ParseMath1() {
  ExprPtr left = ParseConcat();
  while (IsOp("+") || IsOp("-")) {
    BinOp op = IsOp("+") ? BinOp::kAdd : BinOp::kSub;
    size_t offset = Cur().offset;
    Next();
    left = Binary(op, offset, std::move(left), ParseConcat());
  }
  return left;
}

ExprPtr ExprParser::ParseConcat() {
  size_t offset = Cur().offset;
  ExprPtr first = ParseMath2();
  if (!IsOp("~")) return first;
  auto e = Make(ExprKind::kConcat, offset);
  e->args.push_back(std::move(first));
  while (SkipOp("~")) e->args.push_back(ParseMath2());
  return e;
}

ExprPtr ExprParser::ParseMath2() {
  ExprPtr left = ParsePow();
  while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
    BinOp op = IsOp("*") ? BinOp::kMul : IsOp("/") ? BinOp::kDiv : IsOp("//") ? BinOp::kFloorDiv : BinOp::kMod;
    size_t offset = Cur().offset;
    Next();
    left = Binary(op, offset, std::move(left), ParsePow());
  }
  return left;
}

ExprPtr ExprParser::ParsePow() {
  ExprPtr left = ParseUnary(true);
  while (IsOp("**")) {
    size_t offset = Cur().offset;
    Next();
    left = Binary(BinOp::kPow, offset, std::move(left), ParseUnary(true));
  }
  return left;
}

ExprPtr ExprParser::ParseUnary(bool with_filter) {
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

ExprPtr ExprParser::ParsePrimary() {
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

ExprPtr ExprParser::ParsePostfix(ExprPtr node) {
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

ExprPtr ExprParser::ParseSubscript(ExprPtr obj) {
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
ExprPtr ExprParser::ParseCall(ExprPtr subject, ExprKind kind, const std::string& name) {
  size_t offset = subject->offset;  // errors in a call point at the callee
  auto e = Make(kind, offset);
  e->name = name;
  e->args.push_back(std::move(subject));
  AppendCallArgs(e.get());
  return e;
}

void ExprParser::AppendCallArgs(Expr* e) {
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

ExprPtr ExprParser::ParseFilter(ExprPtr subject) {
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

ExprPtr ExprParser::ParseFilterExpr(ExprPtr node) {
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

}  // namespace detinfer::jinja
