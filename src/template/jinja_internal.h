// Internals of the chat-template Jinja interpreter (src/template/): values, the syntax tree, the
// parser and the renderer. Only chat_template_engine.cc and the tests include this file; the
// public API is chat_template_engine.h.
//
// Errors inside the interpreter unwind as JinjaError (a private exception type); the API
// functions catch it at the boundary and return a Status, so nothing is thrown past them.
#ifndef DETINFER_TEMPLATE_JINJA_INTERNAL_H_
#define DETINFER_TEMPLATE_JINJA_INTERNAL_H_

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

}  // namespace detinfer::jinja

#endif  // DETINFER_TEMPLATE_JINJA_INTERNAL_H_
