// Internals of the chat-template Jinja interpreter (src/template/): values, the syntax tree, the
// parser and the renderer. Only chat_template_engine.cc and the tests include this file; the
// public API is chat_template_engine.h.
//
// The interpreter's files: jinja_value.cc (values), jinja_lexer.cc (tokens), jinja_parse_expr.cc
// and jinja_parse.cc (expressions, statements), jinja_render.cc (statements, expressions, calls),
// jinja_operators.cc (operators, attribute and item access), jinja_methods.cc (str/dict/list
// methods, globals), jinja_filters.cc (filters and tests) and jinja_strings.cc (Python str helpers).
//
// Errors inside the interpreter unwind as JinjaError (a private exception type); the API
// functions catch it at the boundary and return a Status, so nothing is thrown past them.
#ifndef DETINFER_TEMPLATE_JINJA_INTERNAL_H_
#define DETINFER_TEMPLATE_JINJA_INTERNAL_H_

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace detinfer::jinja {

// Where an error is reported: `offset` is a byte offset into the (newline-normalised) source.
struct JinjaError {
  enum class Kind { kSyntax, kUnsupported, kRuntime, kRaised, kLimit };
  Kind kind;
  size_t offset;  // SIZE_MAX: no position
  std::string message;
};

[[noreturn]] void Fail(JinjaError::Kind kind, size_t offset, std::string message);

struct Value;
struct Dict;
struct Callable;
using List = std::vector<Value>;

struct Value {
  enum class Type : uint8_t { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace, kCallable };
  Type type = Type::kUndefined;
  bool is_tuple = false;  // kList printed as (a, b)
  uint32_t depth = 0;     // nesting depth of lists/dicts (bounded by kMaxValueDepth)
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;  // kString: the text; kUndefined: the hint ("'x' is undefined")
  std::shared_ptr<const List> list;
  std::shared_ptr<Dict> dict;  // kDict (never mutated after construction) and kNamespace (mutable)
  std::shared_ptr<const Callable> fn;

  static Value Undefined(std::string hint = {}) { Value v; v.s = std::move(hint); return v; }
  static Value None() { Value v; v.type = Type::kNone; return v; }
  static Value Bool(bool x) { Value v; v.type = Type::kBool; v.b = x; return v; }
  static Value Int(int64_t x) { Value v; v.type = Type::kInt; v.i = x; return v; }
  static Value Float(double x) { Value v; v.type = Type::kFloat; v.f = x; return v; }
  static Value Str(std::string x) { Value v; v.type = Type::kString; v.s = std::move(x); return v; }
  static Value MakeList(List items, bool tuple = false);
  static Value MakeDict(std::shared_ptr<Dict> d);
  static Value MakeNamespace(std::shared_ptr<Dict> d);

  bool IsUndefined() const { return type == Type::kUndefined; }
  bool IsNumber() const { return type == Type::kInt || type == Type::kFloat || type == Type::kBool; }
};

// Lists and dicts nest at most this deep (values are destroyed, printed and compared recursively).
inline constexpr uint32_t kMaxValueDepth = 500;

struct Dict {
  std::vector<std::pair<Value, Value>> items;
  const Value* Find(const Value& key) const;
  const Value* FindStr(std::string_view key) const;
  void Set(const Value& key, Value v);
};

// Python's notions, on Values.
bool Truthy(const Value& v);
bool Equal(const Value& a, const Value& b);
// -1/0/1; raises a runtime error when Python would raise TypeError.
int Compare(const Value& a, const Value& b, size_t offset);
std::string TypeName(const Value& v);  // "dict object", "str object", ...
std::string ToStr(const Value& v);      // str(v)
std::string Repr(const Value& v);       // repr(v)
std::string FloatRepr(double d);        // repr(float)

struct JsonOptions {
  int indent = -1;               // <0: None
  std::string indent_str;        // used when indent_is_str
  bool indent_is_str = false;
  std::string item_sep = ", ";   // defaults follow json.dumps: ", " / ": " or "," with indent
  std::string key_sep = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;
};
std::string ToJson(const Value& v, const JsonOptions& opt, size_t offset);

Value FromJson(const nlohmann::ordered_json& j);

// UTF-8 helpers (code points, as Python strings count).
std::u32string Decode(std::string_view s);
std::string Encode(std::u32string_view s);
void AppendUtf8(std::string& out, char32_t c);
bool IsAscii(std::string_view s);
bool IsPySpace(char32_t c);

// ---- Syntax tree ----

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  kLiteral, kName, kList, kTuple, kDict, kGetAttr, kGetItem, kSlice, kCall, kFilter, kTest,
  kNeg, kPos, kNot, kAnd, kOr, kBinary, kCompare, kConcat, kCondExpr,
};

enum class BinOp { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow };
enum class CmpOp { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

struct Expr {
  ExprKind kind;
  size_t offset = 0;
  Value literal;           // kLiteral
  std::string name;        // kName, kGetAttr attr, kFilter/kTest name
  BinOp bin = BinOp::kAdd;
  std::vector<CmpOp> cmps;  // kCompare: args[0] op0 args[1] op1 args[2] ...
  bool negated = false;    // kTest: "is not"
  // kFilter/kTest/kCall: args[0] is the subject/callee, then positional arguments.
  // kGetItem: args = {obj, key}; kSlice: args = {obj, start, stop, step} (null when omitted);
  // kCondExpr: args = {then, cond, else (may be null)}; kDict: key, value, key, value, ...
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class StmtKind { kText, kOutput, kIf, kFor, kSet, kSetBlock, kMacro, kCallBlock, kBreak, kContinue, kFilterBlock, kScope, kWith };

struct Stmt {
  StmtKind kind;
  size_t offset = 0;
  std::string text;                      // kText
  ExprPtr expr;                          // kOutput, kFor iterable, kSet value, kCallBlock call
  std::vector<std::pair<ExprPtr, Body>> branches;  // kIf: (cond, body)...; else has null cond
  std::vector<std::string> targets;      // kFor/kSet/kSetBlock: names (several: unpacking)
  std::string attr;                      // kSet on namespace: targets[0].attr
  ExprPtr cond;                          // kFor: filter condition
  Body body, else_body;
  ExprPtr filter;                        // kSetBlock/kFilterBlock: filter chain applied to the body (subject: name "\x01")
  std::string name;                      // kMacro
  std::vector<std::pair<std::string, ExprPtr>> params;  // kMacro (default may be null), kWith assignments
};

struct Program {
  std::string source;  // newline-normalised
  Body body;
  std::vector<size_t> line_starts;
  // "line 3, column 5"
  std::string Where(size_t offset) const;
};

// Throws JinjaError.
std::unique_ptr<Program> Parse(std::string_view source);

struct RenderLimits {
  uint64_t max_steps = 5'000'000;
  size_t max_output_bytes = 64u << 20;
  int max_call_depth = 64;
  std::function<std::tm()> clock;  // for strftime_now; empty: local time now
};

// Throws JinjaError.
std::string RenderProgram(const Program& program, const nlohmann::ordered_json& context, const RenderLimits& limits);

// Names the parser accepts (checked at parse time, like jinja2's compile-time check).
bool IsKnownFilter(std::string_view name);
bool IsKnownTest(std::string_view name);

// ---- Parser internals, shared by jinja_lexer.cc, jinja_parse_expr.cc and jinja_parse.cc ----

[[noreturn]] void SyntaxError(size_t offset, std::string msg);

enum class Tok { kData, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kFloat, kOp, kEof };

struct Token {
  Tok type;
  size_t offset;
  std::string text;  // kData: the text; kName/kOp: the spelling; kString: the unescaped value
  int64_t i = 0;
  double f = 0;
};

// Tokenizes newline-normalised source (jinja_lexer.cc); the last token is kEof.
std::vector<Token> Lex(const std::string& source);

// The token cursor and the expression grammar (jinja_parse_expr.cc); the statement parser in
// jinja_parse.cc derives from it.
class ExprParser {
 public:
  explicit ExprParser(std::vector<Token> toks) : t_(std::move(toks)) {}

 protected:
  const Token& Cur() const { return t_[p_]; }
  const Token& Peek(size_t k = 1) const { return t_[std::min(p_ + k, t_.size() - 1)]; }
  void Next() { if (p_ + 1 < t_.size()) ++p_; }
  bool IsOp(const char* op) const { return Cur().type == Tok::kOp && Cur().text == op; }
  bool IsName(const char* name) const { return Cur().type == Tok::kName && Cur().text == name; }
  bool SkipOp(const char* op) { if (IsOp(op)) { Next(); return true; } return false; }
  bool SkipName(const char* name) { if (IsName(name)) { Next(); return true; } return false; }

  [[noreturn]] void Unexpected(const char* expected);
  void ExpectOp(const char* op);
  void ExpectBlockEnd() { if (Cur().type != Tok::kBlockEnd) Unexpected("end of statement block '%}'"); Next(); }
  std::string ExpectName();

  struct DepthGuard {
    explicit DepthGuard(ExprParser* p);
    ~DepthGuard() { --p_->depth_; }
    ExprParser* p_;
  };

  ExprPtr ParseTuple(bool with_condexpr);
  ExprPtr ParseExpression(bool with_condexpr);
  ExprPtr ParseFilter(ExprPtr subject);

 private:
  static std::string Describe(const Token& tok);
  ExprPtr Make(ExprKind kind, size_t offset);
  ExprPtr ParseOr();
  ExprPtr ParseAnd();
  ExprPtr ParseNot();
  ExprPtr ParseCompare();
  ExprPtr Binary(BinOp op, size_t offset, ExprPtr l, ExprPtr r);
  ExprPtr ParseMath1();
  ExprPtr ParseConcat();
  ExprPtr ParseMath2();
  ExprPtr ParsePow();
  ExprPtr ParseUnary(bool with_filter);
  ExprPtr ParsePrimary();
  ExprPtr ParsePostfix(ExprPtr node);
  ExprPtr ParseSubscript(ExprPtr obj);
  ExprPtr ParseCall(ExprPtr subject, ExprKind kind, const std::string& name);
  void AppendCallArgs(Expr* e);
  ExprPtr ParseFilterExpr(ExprPtr node);

  std::vector<Token> t_;
  size_t p_ = 0;
  int depth_ = 0;
};

// ---- Renderer internals, shared by jinja_render.cc, jinja_operators.cc, jinja_methods.cc,
// jinja_filters.cc and jinja_strings.cc ----

struct Callable {
  enum class Kind { kMacro, kBuiltin, kMethod, kCaller, kCycle };
  Kind kind;
  std::string name;
  const Stmt* macro = nullptr;       // kMacro; kCaller: the call block
  Value self;                        // kMethod receiver; kCycle: loop index0
  std::shared_ptr<const Callable> caller;  // kMacro invoked from a call block
};

[[noreturn]] void RuntimeError(size_t offset, std::string msg);
[[noreturn]] void UndefinedError(size_t offset, const Value& v);
std::string Quote(const std::string& s);
Value MakeCallable(Callable c);

// Python's str methods on UTF-8 text (jinja_strings.cc).
char32_t Upper(char32_t c);
char32_t Lower(char32_t c);
bool Cased(char32_t c);
bool IsWordChar(char32_t c);
std::string MapChars(const std::string& s, char32_t (*f)(char32_t));
std::string FullCase(const std::string& s, bool upper);
std::string PyTitle(const std::string& s);
std::string PyCapitalize(const std::string& s);
std::string JinjaTitle(const std::string& s);
std::string PyStrip(const std::string& s, const Value* chars, bool left, bool right);
size_t CodePointLen(const std::string& s);
std::string PyReplace(const std::string& s, const std::string& old, const std::string& repl, int64_t count);
std::vector<std::string> PySplit(const std::string& s, const Value* sep, int64_t maxsplit, bool from_right, size_t offset);
std::vector<std::string> SplitLines(const std::string& s);

// One render of a Program. Its members are defined in the file named above each group.
class Renderer {
 public:
  Renderer(const Program& prog, const RenderLimits& lim) : prog_(prog), lim_(lim) {}
  // Namespaces are the only mutable values, so the only way to a reference cycle (or a chain
  // deeper than kMaxValueDepth): empty them all, one at a time, before anything is destroyed.
  ~Renderer() {
    for (const auto& d : namespaces_) d->items.clear();
  }
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  std::string Run(const nlohmann::ordered_json& context);

 private:
  using Args = std::vector<Value>;
  using Kwargs = std::vector<std::pair<std::string, Value>>;

  struct Frame {
    std::vector<std::pair<std::string, Value>> vars;
    Frame* parent = nullptr;
    const Value* Get(std::string_view name) const {
      for (auto it = vars.rbegin(); it != vars.rend(); ++it)
        if (it->first == name) return &it->second;
      return nullptr;
    }
    void Set(const std::string& name, Value v) {
      for (auto& [k, old] : vars) {
        if (k == name) { old = std::move(v); return; }
      }
      vars.emplace_back(name, std::move(v));
    }
  };

  enum class Flow { kNormal, kBreak, kContinue };

  // jinja_render.cc: limits, names, statements, expression evaluation and calls.
  void Step(size_t offset);
  void Emit(const std::string& s, size_t offset);
  Value Lookup(const std::string& name, const Frame* f, size_t offset);
  Flow ExecBody(const Body& body, Frame* f);
  Flow Exec(const Stmt& st, Frame* f);
  std::string Capture(const Body& body, Frame* f);
  Value ApplyBlockFilter(const Expr& chain, Value subject, Frame* f);
  void Assign(const std::vector<std::string>& targets, Value v, Frame* f, size_t offset);
  Flow ExecFor(const Stmt& st, Frame* f);
  std::vector<Value> Iterate(const Value& v, size_t offset);
  Value Eval(const Expr& e, Frame* f);
  void EvalArgs(const Expr& e, Frame* f, Args* args, Kwargs* kwargs);
  Value EvalCall(const Expr& e, Frame* f, std::shared_ptr<const Callable> caller);
  static const Value* Arg(const Args& args, const Kwargs& kwargs, size_t idx, const char* name);
  Value Call(const Callable& c, const Args& args, const Kwargs& kwargs, size_t offset, std::shared_ptr<const Callable> caller);
  Value CallMacro(const Callable& c, const Args& args, const Kwargs& kwargs, size_t offset, std::shared_ptr<const Callable> caller);

  // jinja_operators.cc: Python's operators, attribute and item access, slicing.
  bool CompareOp(CmpOp op, const Value& a, const Value& b, size_t offset);
  bool Contains(const Value& container, const Value& item, size_t offset);
  [[noreturn]] static void TypeError(const Value& a, const Value& b, size_t offset, const char* sym);
  Value Binary(BinOp op, const Value& a, const Value& b, size_t offset);
  static std::string PercentFormat(const std::string& fmt, const Args& args, size_t offset);
  Value Method(const Value& self, const std::string& name);
  Value GetAttr(const Value& obj, const std::string& name, size_t offset);
  Value GetItem(const Value& obj, const Value& key, size_t offset);
  Value Slice(const Value& obj, const Value& vs, const Value& ve, const Value& vt, size_t offset);
  Value AttrPath(const Value& obj, const std::string& path, size_t offset);

  // jinja_methods.cc: globals and str/dict/list methods.
  std::tm Now();
  Value CallBuiltin(const std::string& name, const Args& args, const Kwargs& kwargs, size_t offset);
  static int64_t IntArg(const Value* v, int64_t def, size_t offset, const char* what);
  static const std::string& StrArg(const Value* v, size_t offset, const char* what);
  Value CallMethod(const Value& self, const std::string& name, const Args& args, const Kwargs& kwargs, size_t offset);
  std::string StrFormat(const std::string& s, const Args& args, const Kwargs& kwargs, size_t offset);

  // jinja_filters.cc: tests and filters.
  bool ApplyTest(const std::string& name, const Value& v, const Args& args, size_t offset);
  Value ApplyFilter(const std::string& name, Value v, const Args& args, const Kwargs& kwargs, size_t offset);
  static int64_t ToInt(const Value& v, int64_t def, int base);
  static double ToFloat(const Value& v, double def);
  Value SortLike(const std::string& name, const Value& v, const Args& args, const Kwargs& kwargs, size_t offset);

  const Program& prog_;
  const RenderLimits& lim_;
  Frame root_;
  std::string* out_ = nullptr;
  uint64_t steps_ = 0;
  size_t total_out_ = 0;
  int call_depth_ = 0;
  std::vector<Frame*> caller_frames_;
  std::vector<std::shared_ptr<Dict>> namespaces_;
};

}  // namespace detinfer::jinja

#endif  // DETINFER_TEMPLATE_JINJA_INTERNAL_H_
