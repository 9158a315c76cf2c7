// The chat-template renderer: walks the syntax tree with jinja2's runtime semantics (default
// Undefined, Python operators and methods, the ImmutableSandboxedEnvironment's limits) and the
// filters, tests and globals that chat templates use. This file holds the walk: statements,
// expression evaluation and calls; jinja_operators.cc, jinja_methods.cc and jinja_filters.cc
// hold the rest of the Renderer.
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "template/jinja_internal.h"

namespace detinfer::jinja {
namespace {

using K = JinjaError::Kind;
using T = Value::Type;

}  // namespace

[[noreturn]] void RuntimeError(size_t offset, std::string msg) { Fail(K::kRuntime, offset, std::move(msg)); }

[[noreturn]] void UndefinedError(size_t offset, const Value& v) {
  RuntimeError(offset, v.s.empty() ? "value is undefined" : v.s);
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  out += s;
  out += "'";
  return out;
}

Value MakeCallable(Callable c) {
  Value v;
  v.type = T::kCallable;
  v.fn = std::make_shared<const Callable>(std::move(c));
  return v;
}

std::string Renderer::Run(const nlohmann::ordered_json& context) {
  if (context.is_object()) {
    for (auto it = context.begin(); it != context.end(); ++it) root_.Set(it.key(), FromJson(it.value()));
  }
  std::string out;
  out_ = &out;
  Frame* f = &root_;
  ExecBody(prog_.body, f);
  return out;
}

void Renderer::Step(size_t offset) {
  if (++steps_ > lim_.max_steps) {
    std::string msg = "template exceeded the step limit (";
    msg += std::to_string(lim_.max_steps);
    msg += " steps); does a loop not end?";
    Fail(K::kLimit, offset, std::move(msg));
  }
}

void Renderer::Emit(const std::string& s, size_t offset) {
  out_->append(s);
  total_out_ += s.size();
  if (out_->size() > lim_.max_output_bytes || total_out_ > 4 * lim_.max_output_bytes) {
    std::string msg = "template output exceeded the limit of ";
    msg += std::to_string(lim_.max_output_bytes);
    msg += " bytes";
    Fail(K::kLimit, offset, std::move(msg));
  }
}

Value Renderer::Lookup(const std::string& name, const Frame* f, size_t offset) {
  for (const Frame* fr = f; fr != nullptr; fr = fr->parent) {
    if (const Value* v = fr->Get(name)) return *v;
  }
  static const std::unordered_set<std::string> kGlobals = {"range", "dict", "namespace", "raise_exception", "strftime_now", "cycler", "joiner", "lipsum"};
  if (kGlobals.count(name) != 0) {
    if (name == "cycler" || name == "joiner" || name == "lipsum") Fail(K::kUnsupported, offset, "unsupported global '" + name + "'");
    Callable c;
    c.kind = Callable::Kind::kBuiltin;
    c.name = name;
    return MakeCallable(std::move(c));
  }
  return Value::Undefined(Quote(name) + " is undefined");
}

// ---- statements ----

Renderer::Flow Renderer::ExecBody(const Body& body, Frame* f) {
  for (const StmtPtr& st : body) {
    Flow fl = Exec(*st, f);
    if (fl != Flow::kNormal) return fl;
  }
  return Flow::kNormal;
}

Renderer::Flow Renderer::Exec(const Stmt& st, Frame* f) {
  Step(st.offset);
  switch (st.kind) {
    case StmtKind::kText: Emit(st.text, st.offset); return Flow::kNormal;
    case StmtKind::kOutput: {
      Value v = Eval(*st.expr, f);
      if (v.type == T::kString) Emit(v.s, st.offset); else Emit(ToStr(v), st.offset);
      return Flow::kNormal;
    }
    case StmtKind::kIf:
      for (const auto& [cond, body] : st.branches) {
        if (cond == nullptr || Truthy(Eval(*cond, f))) return ExecBody(body, f);
      }
      return Flow::kNormal;
    case StmtKind::kFor: return ExecFor(st, f);
    case StmtKind::kSet: {
      Value v = Eval(*st.expr, f);
      if (!st.attr.empty()) {
        Value ns = Lookup(st.targets[0], f, st.offset);
        if (ns.type != T::kNamespace) RuntimeError(st.offset, "cannot assign attribute on non-namespace object");
        ns.dict->Set(Value::Str(st.attr), std::move(v));
        return Flow::kNormal;
      }
      Assign(st.targets, std::move(v), f, st.offset);
      return Flow::kNormal;
    }
    case StmtKind::kSetBlock: {
      std::string text = Capture(st.body, f);
      Value v = Value::Str(std::move(text));
      if (st.filter) v = ApplyBlockFilter(*st.filter, std::move(v), f);
      f->Set(st.targets[0], std::move(v));
      return Flow::kNormal;
    }
    case StmtKind::kFilterBlock: {
      Value v = ApplyBlockFilter(*st.filter, Value::Str(Capture(st.body, f)), f);
      Emit(ToStr(v), st.offset);
      return Flow::kNormal;
    }
    case StmtKind::kMacro: {
      Callable c;
      c.kind = Callable::Kind::kMacro;
      c.name = st.name;
      c.macro = &st;
      f->Set(st.name, MakeCallable(std::move(c)));
      return Flow::kNormal;
    }
    case StmtKind::kCallBlock: {
      Callable caller;
      caller.kind = Callable::Kind::kCaller;
      caller.macro = &st;
      caller.name = "caller";
      caller_frames_.push_back(f);
      Value v = EvalCall(*st.expr, f, std::make_shared<const Callable>(std::move(caller)));
      caller_frames_.pop_back();
      Emit(ToStr(v), st.offset);
      return Flow::kNormal;
    }
    case StmtKind::kBreak: return Flow::kBreak;
    case StmtKind::kContinue: return Flow::kContinue;
    case StmtKind::kScope: return ExecBody(st.body, f);
    case StmtKind::kWith: {
      Frame inner;
      inner.parent = f;
      for (const auto& [name, expr] : st.params) inner.Set(name, Eval(*expr, f));
      return ExecBody(st.body, &inner);
    }
  }
  return Flow::kNormal;
}

std::string Renderer::Capture(const Body& body, Frame* f) {
  std::string buf;
  std::string* saved = out_;
  out_ = &buf;
  ExecBody(body, f);
  out_ = saved;
  return buf;
}

Value Renderer::ApplyBlockFilter(const Expr& chain, Value subject, Frame* f) {
  Frame tmp;
  tmp.parent = f;
  tmp.Set("\x01", std::move(subject));
  return Eval(chain, &tmp);
}

void Renderer::Assign(const std::vector<std::string>& targets, Value v, Frame* f, size_t offset) {
  if (targets.size() == 1) {
    f->Set(targets[0], std::move(v));
    return;
  }
  std::vector<Value> items = Iterate(v, offset);
  if (items.size() != targets.size()) {
    std::string msg = "cannot unpack ";
    msg += std::to_string(items.size());
    msg += " values into ";
    msg += std::to_string(targets.size());
    msg += " names";
    RuntimeError(offset, std::move(msg));
  }
  for (size_t k = 0; k < targets.size(); ++k) f->Set(targets[k], std::move(items[k]));
}

Renderer::Flow Renderer::ExecFor(const Stmt& st, Frame* f) {
  Value seq = Eval(*st.expr, f);
  std::vector<Value> items = Iterate(seq, st.expr->offset);
  if (st.cond) {
    std::vector<Value> kept;
    for (Value& item : items) {
      Step(st.offset);
      Frame tmp;
      tmp.parent = f;
      Assign(st.targets, item, &tmp, st.offset);
      if (Truthy(Eval(*st.cond, &tmp))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return ExecBody(st.else_body, f);
  const int64_t n = static_cast<int64_t>(items.size());
  for (int64_t k = 0; k < n; ++k) {
    Step(st.offset);
    Frame inner;
    inner.parent = f;
    Assign(st.targets, items[static_cast<size_t>(k)], &inner, st.offset);
    auto loop = std::make_shared<Dict>();
    loop->items.reserve(12);
    auto put = [&](const char* key, Value v) { loop->items.emplace_back(Value::Str(key), std::move(v)); };
    put("index", Value::Int(k + 1));
    put("index0", Value::Int(k));
    put("revindex", Value::Int(n - k));
    put("revindex0", Value::Int(n - k - 1));
    put("first", Value::Bool(k == 0));
    put("last", Value::Bool(k == n - 1));
    put("length", Value::Int(n));
    put("depth", Value::Int(1));
    put("depth0", Value::Int(0));
    put("previtem", k > 0 ? items[static_cast<size_t>(k - 1)] : Value::Undefined("there is no previous item"));
    put("nextitem", k + 1 < n ? items[static_cast<size_t>(k + 1)] : Value::Undefined("there is no next item"));
    Callable cyc;
    cyc.kind = Callable::Kind::kCycle;
    cyc.name = "cycle";
    cyc.self = Value::Int(k);
    put("cycle", MakeCallable(std::move(cyc)));
    inner.Set("loop", Value::MakeDict(std::move(loop)));
    Flow fl = ExecBody(st.body, &inner);
    if (fl == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

std::vector<Value> Renderer::Iterate(const Value& v, size_t offset) {
  switch (v.type) {
    case T::kUndefined: return {};
    case T::kList: return *v.list;
    case T::kDict: {
      std::vector<Value> keys;
      keys.reserve(v.dict->items.size());
      for (const auto& kv : v.dict->items) keys.push_back(kv.first);
      return keys;
    }
    case T::kString: {
      std::vector<Value> chars;
      for (char32_t c : Decode(v.s)) {
        std::string s;
        AppendUtf8(s, c);
        chars.push_back(Value::Str(std::move(s)));
      }
      return chars;
    }
    default: RuntimeError(offset, "'" + TypeName(v) + "' is not iterable");
  }
}

// ---- expressions ----

Value Renderer::Eval(const Expr& e, Frame* f) {
  Step(e.offset);
  switch (e.kind) {
    case ExprKind::kLiteral: return e.literal;
    case ExprKind::kName: return Lookup(e.name, f, e.offset);
    case ExprKind::kList: case ExprKind::kTuple: {
      List items;
      items.reserve(e.args.size());
      for (const ExprPtr& a : e.args) items.push_back(Eval(*a, f));
      return Value::MakeList(std::move(items), e.kind == ExprKind::kTuple);
    }
    case ExprKind::kDict: {
      auto d = std::make_shared<Dict>();
      for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
        Value key = Eval(*e.args[k], f);
        if (key.type == T::kList && !key.is_tuple) RuntimeError(e.offset, "unhashable type: 'list'");
        if (key.type == T::kDict) RuntimeError(e.offset, "unhashable type: 'dict'");
        d->Set(key, Eval(*e.args[k + 1], f));
      }
      return Value::MakeDict(std::move(d));
    }
    case ExprKind::kGetAttr: return GetAttr(Eval(*e.args[0], f), e.name, e.offset);
    case ExprKind::kGetItem: return GetItem(Eval(*e.args[0], f), Eval(*e.args[1], f), e.offset);
    case ExprKind::kSlice: {
      Value obj = Eval(*e.args[0], f);
      Value parts[3];
      for (int k = 0; k < 3; ++k) parts[k] = e.args[static_cast<size_t>(k) + 1] ? Eval(*e.args[static_cast<size_t>(k) + 1], f) : Value::None();
      return Slice(obj, parts[0], parts[1], parts[2], e.offset);
    }
    case ExprKind::kCall: return EvalCall(e, f, nullptr);
    case ExprKind::kFilter: {
      Value subject = Eval(*e.args[0], f);
      std::vector<Value> args;
      std::vector<std::pair<std::string, Value>> kwargs;
      EvalArgs(e, f, &args, &kwargs);
      return ApplyFilter(e.name, std::move(subject), args, kwargs, e.offset);
    }
    case ExprKind::kTest: {
      Value subject = Eval(*e.args[0], f);
      std::vector<Value> args;
      std::vector<std::pair<std::string, Value>> kwargs;
      EvalArgs(e, f, &args, &kwargs);
      bool r = ApplyTest(e.name, subject, args, e.offset);
      return Value::Bool(e.negated ? !r : r);
    }
    case ExprKind::kNeg: case ExprKind::kPos: {
      Value v = Eval(*e.args[0], f);
      if (v.IsUndefined()) UndefinedError(e.offset, v);
      if (v.type == T::kFloat) return Value::Float(e.kind == ExprKind::kNeg ? -v.f : v.f);
      if (v.type == T::kInt || v.type == T::kBool) {
        int64_t x = v.type == T::kInt ? v.i : (v.b ? 1 : 0);
        if (e.kind == ExprKind::kNeg && x == INT64_MIN) RuntimeError(e.offset, "integer overflow");
        return Value::Int(e.kind == ExprKind::kNeg ? -x : x);
      }
      RuntimeError(e.offset, "bad operand type for unary " + std::string(e.kind == ExprKind::kNeg ? "-" : "+") + ": '" + TypeName(v) + "'");
    }
    case ExprKind::kNot: return Value::Bool(!Truthy(Eval(*e.args[0], f)));
    case ExprKind::kAnd: {
      Value l = Eval(*e.args[0], f);
      if (!Truthy(l)) return l;
      return Eval(*e.args[1], f);
    }
    case ExprKind::kOr: {
      Value l = Eval(*e.args[0], f);
      if (Truthy(l)) return l;
      return Eval(*e.args[1], f);
    }
    case ExprKind::kBinary: return Binary(e.bin, Eval(*e.args[0], f), Eval(*e.args[1], f), e.offset);
    case ExprKind::kConcat: {
      std::string s;
      for (const ExprPtr& a : e.args) {
        Value v = Eval(*a, f);
        if (v.type == T::kString) s += v.s; else s += ToStr(v);
      }
      return Value::Str(std::move(s));
    }
    case ExprKind::kCompare: {
      Value left = Eval(*e.args[0], f);
      for (size_t k = 0; k < e.cmps.size(); ++k) {
        Value right = Eval(*e.args[k + 1], f);
        if (!CompareOp(e.cmps[k], left, right, e.offset)) return Value::Bool(false);
        left = std::move(right);
      }
      return Value::Bool(true);
    }
    case ExprKind::kCondExpr: {
      if (Truthy(Eval(*e.args[1], f))) return Eval(*e.args[0], f);
      if (e.args[2]) return Eval(*e.args[2], f);
      return Value::Undefined("the inline if-expression evaluated to false and no else section was defined");
    }
  }
  return Value::Undefined();
}

void Renderer::EvalArgs(const Expr& e, Frame* f, std::vector<Value>* args, std::vector<std::pair<std::string, Value>>* kwargs) {
  for (size_t k = 1; k < e.args.size(); ++k) args->push_back(Eval(*e.args[k], f));
  for (const auto& [name, ex] : e.kwargs) kwargs->emplace_back(name, Eval(*ex, f));
}

// ---- calls ----

Value Renderer::EvalCall(const Expr& e, Frame* f, std::shared_ptr<const Callable> caller) {
  Value callee = Eval(*e.args[0], f);
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kwargs;
  EvalArgs(e, f, &args, &kwargs);
  if (callee.IsUndefined()) UndefinedError(e.offset, callee);
  if (callee.type != T::kCallable) RuntimeError(e.offset, Quote(TypeName(callee)) + " is not callable");
  return Call(*callee.fn, args, kwargs, e.offset, std::move(caller));
}

const Value* Renderer::Arg(const std::vector<Value>& args, const std::vector<std::pair<std::string, Value>>& kwargs, size_t idx, const char* name) {
  if (idx < args.size()) return &args[idx];
  for (const auto& [k, v] : kwargs)
    if (k == name) return &v;
  return nullptr;
}

Value Renderer::Call(const Callable& c, const std::vector<Value>& args, const std::vector<std::pair<std::string, Value>>& kwargs, size_t offset,
                     std::shared_ptr<const Callable> caller) {
  switch (c.kind) {
    case Callable::Kind::kMacro: return CallMacro(c, args, kwargs, offset, std::move(caller));
    case Callable::Kind::kCaller: {
      if (++call_depth_ > lim_.max_call_depth) Fail(K::kLimit, offset, "macro calls nested too deeply");
      Frame inner;
      inner.parent = caller_frames_.empty() ? &root_ : caller_frames_.back();
      std::string text = Capture(c.macro->body, &inner);
      --call_depth_;
      return Value::Str(std::move(text));
    }
    case Callable::Kind::kCycle: {
      if (args.empty()) RuntimeError(offset, "no items for cycling given");
      return args[static_cast<size_t>(c.self.i % static_cast<int64_t>(args.size()))];
    }
    case Callable::Kind::kMethod: return CallMethod(c.self, c.name, args, kwargs, offset);
    case Callable::Kind::kBuiltin: return CallBuiltin(c.name, args, kwargs, offset);
  }
  return Value::Undefined();
}

Value Renderer::CallMacro(const Callable& c, const std::vector<Value>& args, const std::vector<std::pair<std::string, Value>>& kwargs, size_t offset,
                          std::shared_ptr<const Callable> caller) {
  const Stmt& m = *c.macro;
  if (++call_depth_ > lim_.max_call_depth) {
    std::string msg = "macro calls nested deeper than ";
    msg += std::to_string(lim_.max_call_depth);
    Fail(K::kLimit, offset, std::move(msg));
  }
  Frame inner;
  inner.parent = &root_;
  if (args.size() > m.params.size()) {
    std::string msg = "macro ";
    msg += Quote(m.name);
    msg += " takes not more than ";
    msg += std::to_string(m.params.size());
    msg += " argument(s)";
    RuntimeError(offset, std::move(msg));
  }
  for (const auto& [k, v] : kwargs) {
    bool found = false;
    for (const auto& p : m.params) found = found || p.first == k;
    if (!found) RuntimeError(offset, "macro " + Quote(m.name) + " takes no keyword argument " + Quote(k));
  }
  for (size_t k = 0; k < m.params.size(); ++k) {
    const auto& [pname, def] = m.params[k];
    if (const Value* v = Arg(args, kwargs, k, pname.c_str())) inner.Set(pname, *v);
    else if (def) inner.Set(pname, Eval(*def, &inner));
    else inner.Set(pname, Value::Undefined("parameter " + Quote(pname) + " was not provided"));
  }
  if (caller) {
    Value cv;
    cv.type = T::kCallable;
    cv.fn = caller;
    inner.Set("caller", std::move(cv));
  }
  std::string text = Capture(m.body, &inner);
  --call_depth_;
  return Value::Str(std::move(text));
}

std::string RenderProgram(const Program& program, const nlohmann::ordered_json& context, const RenderLimits& limits) {
  Renderer r(program, limits);
  return r.Run(context);
}

}  // namespace detinfer::jinja
