// The chat-template renderer: walks the syntax tree with jinja2's runtime semantics (default
// Undefined, Python operators and methods, the ImmutableSandboxedEnvironment's limits) and the
// filters, tests and globals that chat templates use.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <unordered_set>

#include <unicode/uchar.h>
#include <unicode/ustring.h>

#include "template/jinja_internal.h"

namespace detinfer::jinja {

struct Callable {
  enum class Kind { kMacro, kBuiltin, kMethod, kCaller, kCycle };
  Kind kind;
  std::string name;
  const Stmt* macro = nullptr;       // kMacro; kCaller: the call block
  Value self;                        // kMethod receiver; kCycle: loop index0
  std::shared_ptr<const Callable> caller;  // kMacro invoked from a call block
};

namespace {

using K = JinjaError::Kind;
using T = Value::Type;

constexpr int64_t kMaxRange = 100000;  // jinja2.sandbox.MAX_RANGE

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

// ---- strings (code points where Python counts them) ----

char32_t Upper(char32_t c) { return c < 0x80 ? static_cast<char32_t>(std::toupper(static_cast<int>(c))) : static_cast<char32_t>(u_toupper(static_cast<UChar32>(c))); }
char32_t Lower(char32_t c) { return c < 0x80 ? static_cast<char32_t>(std::tolower(static_cast<int>(c))) : static_cast<char32_t>(u_tolower(static_cast<UChar32>(c))); }
char32_t TitleC(char32_t c) { return c < 0x80 ? static_cast<char32_t>(std::toupper(static_cast<int>(c))) : static_cast<char32_t>(u_totitle(static_cast<UChar32>(c))); }
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

// Python slice index adjustment.
void AdjustSlice(int64_t len, const Value& vs, const Value& ve, const Value& vt, int64_t* start, int64_t* stop, int64_t* step, size_t offset) {
  auto as_int = [&](const Value& v, int64_t def) -> int64_t {
    if (v.type == T::kNone || v.IsUndefined()) return def;
    if (v.type == T::kInt) return v.i;
    if (v.type == T::kBool) return v.b ? 1 : 0;
    RuntimeError(offset, "slice indices must be integers or None");
  };
  *step = as_int(vt, 1);
  if (*step == 0) RuntimeError(offset, "slice step cannot be zero");
  bool neg = *step < 0;
  int64_t s = as_int(vs, neg ? len - 1 : 0);
  int64_t e = as_int(ve, neg ? -1 : len);
  bool s_given = !(vs.type == T::kNone || vs.IsUndefined());
  bool e_given = !(ve.type == T::kNone || ve.IsUndefined());
  if (s_given) {
    if (s < 0) { s += len; if (s < 0) s = neg ? -1 : 0; }
    else if (s >= len) s = neg ? len - 1 : len;
  }
  if (e_given) {
    if (e < 0) { e += len; if (e < 0) e = neg ? -1 : 0; }
    else if (e >= len) e = neg ? len - 1 : len;
  }
  *start = s;
  *stop = e;
}

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

  std::string Run(const nlohmann::ordered_json& context) {
    if (context.is_object()) {
      for (auto it = context.begin(); it != context.end(); ++it) root_.Set(it.key(), FromJson(it.value()));
    }
    std::string out;
    out_ = &out;
    Frame* f = &root_;
    ExecBody(prog_.body, f);
    return out;
  }

 private:
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

  void Step(size_t offset) {
    if (++steps_ > lim_.max_steps) {
      std::string msg = "template exceeded the step limit (";
      msg += std::to_string(lim_.max_steps);
      msg += " steps); does a loop not end?";
      Fail(K::kLimit, offset, std::move(msg));
    }
  }

  void Emit(const std::string& s, size_t offset) {
    out_->append(s);
    total_out_ += s.size();
    if (out_->size() > lim_.max_output_bytes || total_out_ > 4 * lim_.max_output_bytes) {
      std::string msg = "template output exceeded the limit of ";
      msg += std::to_string(lim_.max_output_bytes);
      msg += " bytes";
      Fail(K::kLimit, offset, std::move(msg));
    }
  }

  Value Lookup(const std::string& name, const Frame* f, size_t offset) {
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

  Flow ExecBody(const Body& body, Frame* f) {
    for (const StmtPtr& st : body) {
      Flow fl = Exec(*st, f);
      if (fl != Flow::kNormal) return fl;
    }
    return Flow::kNormal;
  }

  Flow Exec(const Stmt& st, Frame* f) {
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

  std::string Capture(const Body& body, Frame* f) {
    std::string buf;
    std::string* saved = out_;
    out_ = &buf;
    ExecBody(body, f);
    out_ = saved;
    return buf;
  }

  Value ApplyBlockFilter(const Expr& chain, Value subject, Frame* f) {
    Frame tmp;
    tmp.parent = f;
    tmp.Set("\x01", std::move(subject));
    return Eval(chain, &tmp);
  }

  void Assign(const std::vector<std::string>& targets, Value v, Frame* f, size_t offset) {
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

  Flow ExecFor(const Stmt& st, Frame* f) {
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

  std::vector<Value> Iterate(const Value& v, size_t offset) {
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

  Value Eval(const Expr& e, Frame* f) {
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

  void EvalArgs(const Expr& e, Frame* f, std::vector<Value>* args, std::vector<std::pair<std::string, Value>>* kwargs) {
    for (size_t k = 1; k < e.args.size(); ++k) args->push_back(Eval(*e.args[k], f));
    for (const auto& [name, ex] : e.kwargs) kwargs->emplace_back(name, Eval(*ex, f));
  }

  bool CompareOp(CmpOp op, const Value& a, const Value& b, size_t offset) {
    switch (op) {
      case CmpOp::kEq: return Equal(a, b);
      case CmpOp::kNe: return !Equal(a, b);
      case CmpOp::kLt: return Compare(a, b, offset) < 0;
      case CmpOp::kLe: return Compare(a, b, offset) <= 0;
      case CmpOp::kGt: return Compare(a, b, offset) > 0;
      case CmpOp::kGe: return Compare(a, b, offset) >= 0;
      case CmpOp::kIn: return Contains(b, a, offset);
      case CmpOp::kNotIn: return !Contains(b, a, offset);
    }
    return false;
  }

  bool Contains(const Value& container, const Value& item, size_t offset) {
    switch (container.type) {
      case T::kUndefined: return false;
      case T::kString:
        if (item.type != T::kString) RuntimeError(offset, "'in <string>' requires string as left operand, not " + TypeName(item));
        return container.s.find(item.s) != std::string::npos;
      case T::kList:
        for (const Value& x : *container.list)
          if (Equal(x, item)) return true;
        return false;
      case T::kDict:
        if ((item.type == T::kList && !item.is_tuple) || item.type == T::kDict || item.type == T::kNamespace)
          RuntimeError(offset, "unhashable type: '" + TypeName(item).substr(0, TypeName(item).size() - 7) + "'");
        return container.dict->Find(item) != nullptr;
      default: RuntimeError(offset, "argument of type '" + TypeName(container) + "' is not iterable");
    }
  }

  [[noreturn]] static void TypeError(const Value& a, const Value& b, size_t offset, const char* sym) {
    std::string msg = "unsupported operand type(s) for ";
    msg += sym;
    msg += ": '";
    msg += TypeName(a);
    msg += "' and '";
    msg += TypeName(b);
    msg += "'";
    RuntimeError(offset, std::move(msg));
  }

  Value Binary(BinOp op, const Value& a, const Value& b, size_t offset) {
    if (a.IsUndefined()) UndefinedError(offset, a);
    if (b.IsUndefined()) UndefinedError(offset, b);
    const bool nums = a.IsNumber() && b.IsNumber();
    const bool any_float = a.type == T::kFloat || b.type == T::kFloat;
    auto dbl = [](const Value& v) { return v.type == T::kFloat ? v.f : v.type == T::kInt ? static_cast<double>(v.i) : (v.b ? 1.0 : 0.0); };
    auto i64 = [](const Value& v) { return v.type == T::kInt ? v.i : (v.b ? 1 : 0); };
    auto overflow = [&]() { RuntimeError(offset, "integer overflow"); };
    switch (op) {
      case BinOp::kAdd:
        if (nums) {
          if (any_float) return Value::Float(dbl(a) + dbl(b));
          int64_t r;
          if (__builtin_add_overflow(i64(a), i64(b), &r)) overflow();
          return Value::Int(r);
        }
        if (a.type == T::kString && b.type == T::kString) return Value::Str(a.s + b.s);
        if (a.type == T::kList && b.type == T::kList && a.is_tuple == b.is_tuple) {
          List items = *a.list;
          items.insert(items.end(), b.list->begin(), b.list->end());
          return Value::MakeList(std::move(items), a.is_tuple);
        }
        TypeError(a, b, offset, "+");
      case BinOp::kSub:
        if (!nums) TypeError(a, b, offset, "-");
        if (any_float) return Value::Float(dbl(a) - dbl(b));
        {
          int64_t r;
          if (__builtin_sub_overflow(i64(a), i64(b), &r)) overflow();
          return Value::Int(r);
        }
      case BinOp::kMul:
        if (nums) {
          if (any_float) return Value::Float(dbl(a) * dbl(b));
          int64_t r;
          if (__builtin_mul_overflow(i64(a), i64(b), &r)) overflow();
          return Value::Int(r);
        }
        {
          const Value* seq = (a.type == T::kString || a.type == T::kList) ? &a : &b;
          const Value* cnt = seq == &a ? &b : &a;
          if ((seq->type != T::kString && seq->type != T::kList) || (cnt->type != T::kInt && cnt->type != T::kBool)) TypeError(a, b, offset, "*");
          int64_t times = std::max<int64_t>(0, i64(*cnt));
          size_t unit = seq->type == T::kString ? seq->s.size() : seq->list->size();
          if (unit != 0 && static_cast<uint64_t>(times) > lim_.max_output_bytes / unit)
            Fail(K::kLimit, offset, "repetition result too large");
          if (seq->type == T::kString) {
            std::string s;
            for (int64_t k = 0; k < times; ++k) s += seq->s;
            return Value::Str(std::move(s));
          }
          List items;
          for (int64_t k = 0; k < times; ++k) items.insert(items.end(), seq->list->begin(), seq->list->end());
          return Value::MakeList(std::move(items), seq->is_tuple);
        }
      case BinOp::kDiv:
        if (!nums) TypeError(a, b, offset, "/");
        if (dbl(b) == 0) RuntimeError(offset, "division by zero");
        return Value::Float(dbl(a) / dbl(b));
      case BinOp::kFloorDiv:
        if (!nums) TypeError(a, b, offset, "//");
        if (dbl(b) == 0) RuntimeError(offset, "integer division or modulo by zero");
        if (any_float) return Value::Float(std::floor(dbl(a) / dbl(b)));
        {
          int64_t x = i64(a), y = i64(b);
          if (x == INT64_MIN && y == -1) overflow();
          int64_t q = x / y;
          if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
          return Value::Int(q);
        }
      case BinOp::kMod:
        if (a.type == T::kString) {
          if (b.type == T::kDict) Fail(K::kUnsupported, offset, "'%' formatting with a mapping is not supported");
          return Value::Str(PercentFormat(a.s, b.type == T::kList && b.is_tuple ? *b.list : std::vector<Value>{b}, offset));
        }
        if (!nums) TypeError(a, b, offset, "%");
        if (dbl(b) == 0) RuntimeError(offset, "integer division or modulo by zero");
        if (any_float) {
          double x = dbl(a), y = dbl(b);
          double m = std::fmod(x, y);
          if (m != 0 && ((m < 0) != (y < 0))) m += y;
          return Value::Float(m);
        }
        {
          int64_t x = i64(a), y = i64(b);
          if (y == -1) return Value::Int(0);
          int64_t m = x % y;
          if (m != 0 && ((m < 0) != (y < 0))) m += y;
          return Value::Int(m);
        }
      case BinOp::kPow:
        if (!nums) TypeError(a, b, offset, "**");
        if (!any_float && i64(b) >= 0) {
          int64_t base = i64(a), e = i64(b), r = 1;
          while (e > 0) {
            if (e & 1) { if (__builtin_mul_overflow(r, base, &r)) overflow(); }
            e >>= 1;
            if (e > 0 && __builtin_mul_overflow(base, base, &base)) overflow();
          }
          return Value::Int(r);
        }
        return Value::Float(std::pow(dbl(a), dbl(b)));
    }
    return Value::Undefined();
  }

  // ---- attribute and item access ----

  Value Method(const Value& self, const std::string& name) {
    Callable c;
    c.kind = Callable::Kind::kMethod;
    c.name = name;
    c.self = self;
    return MakeCallable(std::move(c));
  }

  Value GetAttr(const Value& obj, const std::string& name, size_t offset) {
    static const std::unordered_set<std::string> kStrMethods = {
        "startswith", "endswith", "strip", "lstrip", "rstrip", "split", "rsplit", "upper", "lower", "title",
        "capitalize", "replace", "find", "rfind", "index", "rindex", "count", "format", "join", "splitlines",
        "isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower", "isnumeric", "isdecimal", "swapcase",
        "center", "ljust", "rjust", "zfill", "removeprefix", "removesuffix", "partition", "rpartition", "casefold",
        "encode", "expandtabs", "format_map", "istitle", "isidentifier", "isprintable", "maketrans", "translate", "isascii"};
    static const std::unordered_set<std::string> kDictMethods = {"items", "keys", "values", "get", "copy", "pop", "popitem", "update", "setdefault", "clear", "fromkeys"};
    static const std::unordered_set<std::string> kListMethods = {"index", "count", "copy", "append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"};
    switch (obj.type) {
      case T::kUndefined: UndefinedError(offset, obj);
      case T::kDict:
        if (kDictMethods.count(name) != 0) return Method(obj, name);
        if (const Value* v = obj.dict->FindStr(name)) return *v;
        return Value::Undefined("'dict object' has no attribute " + Quote(name));
      case T::kNamespace:
        if (const Value* v = obj.dict->FindStr(name)) return *v;
        return Value::Undefined("'Namespace object' has no attribute " + Quote(name));
      case T::kString:
        if (kStrMethods.count(name) != 0) return Method(obj, name);
        break;
      case T::kList:
        if (kListMethods.count(name) != 0) return Method(obj, name);
        break;
      default: break;
    }
    return Value::Undefined(Quote(TypeName(obj)) + " has no attribute " + Quote(name));
  }

  Value GetItem(const Value& obj, const Value& key, size_t offset) {
    switch (obj.type) {
      case T::kUndefined: UndefinedError(offset, obj);
      case T::kDict: case T::kNamespace:
        if (const Value* v = obj.dict->Find(key)) return *v;
        break;
      case T::kList: case T::kString:
        if (key.type == T::kInt || key.type == T::kBool) {
          int64_t idx = key.type == T::kInt ? key.i : (key.b ? 1 : 0);
          if (obj.type == T::kList) {
            int64_t n = static_cast<int64_t>(obj.list->size());
            if (idx < 0) idx += n;
            if (idx >= 0 && idx < n) return (*obj.list)[static_cast<size_t>(idx)];
          } else {
            if (IsAscii(obj.s)) {
              int64_t n = static_cast<int64_t>(obj.s.size());
              if (idx < 0) idx += n;
              if (idx >= 0 && idx < n) return Value::Str(std::string(1, obj.s[static_cast<size_t>(idx)]));
            } else {
              std::u32string u = Decode(obj.s);
              int64_t n = static_cast<int64_t>(u.size());
              if (idx < 0) idx += n;
              if (idx >= 0 && idx < n) {
                std::string s;
                AppendUtf8(s, u[static_cast<size_t>(idx)]);
                return Value::Str(std::move(s));
              }
            }
          }
          return Value::Undefined(Quote(TypeName(obj)) + " has no element " + std::to_string(idx));
        }
        break;
      default: break;
    }
    if (key.type == T::kString) {
      if (obj.type == T::kDict) {
        static const std::unordered_set<std::string> kDictMethods = {"items", "keys", "values", "get"};
        if (kDictMethods.count(key.s) != 0) return Method(obj, key.s);
        return Value::Undefined("'dict object' has no attribute " + Quote(key.s));
      }
      return GetAttr(obj, key.s, offset);
    }
    return Value::Undefined(Quote(TypeName(obj)) + " has no element " + Repr(key));
  }

  Value Slice(const Value& obj, const Value& vs, const Value& ve, const Value& vt, size_t offset) {
    if (obj.IsUndefined()) UndefinedError(offset, obj);
    int64_t start, stop, step;
    if (obj.type == T::kList) {
      int64_t n = static_cast<int64_t>(obj.list->size());
      AdjustSlice(n, vs, ve, vt, &start, &stop, &step, offset);
      List out;
      for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) out.push_back((*obj.list)[static_cast<size_t>(k)]);
      return Value::MakeList(std::move(out), obj.is_tuple);
    }
    if (obj.type == T::kString) {
      if (IsAscii(obj.s)) {
        int64_t n = static_cast<int64_t>(obj.s.size());
        AdjustSlice(n, vs, ve, vt, &start, &stop, &step, offset);
        if (step == 1) return Value::Str(start < stop ? obj.s.substr(static_cast<size_t>(start), static_cast<size_t>(stop - start)) : std::string());
        std::string out;
        for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) out += obj.s[static_cast<size_t>(k)];
        return Value::Str(std::move(out));
      }
      std::u32string u = Decode(obj.s);
      AdjustSlice(static_cast<int64_t>(u.size()), vs, ve, vt, &start, &stop, &step, offset);
      std::u32string out;
      for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) out += u[static_cast<size_t>(k)];
      return Value::Str(Encode(out));
    }
    RuntimeError(offset, Quote(TypeName(obj)) + " is not subscriptable");  // jinja2 compiles slices as plain Python subscripts
  }

  // Follows jinja2's attribute paths ("a.b.0") for filters like map(attribute=...).
  Value AttrPath(const Value& obj, const std::string& path, size_t offset) {
    Value cur = obj;
    size_t pos = 0;
    while (true) {
      size_t dot = path.find('.', pos);
      std::string part = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
      bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
      cur = digits && part.size() < 19 ? GetItem(cur, Value::Int(std::stoll(part)), offset) : GetItem(cur, Value::Str(part), offset);
      if (dot == std::string::npos) return cur;
      pos = dot + 1;
    }
  }

  // ---- calls ----

  Value EvalCall(const Expr& e, Frame* f, std::shared_ptr<const Callable> caller) {
    Value callee = Eval(*e.args[0], f);
    std::vector<Value> args;
    std::vector<std::pair<std::string, Value>> kwargs;
    EvalArgs(e, f, &args, &kwargs);
    if (callee.IsUndefined()) UndefinedError(e.offset, callee);
    if (callee.type != T::kCallable) RuntimeError(e.offset, Quote(TypeName(callee)) + " is not callable");
    return Call(*callee.fn, args, kwargs, e.offset, std::move(caller));
  }

  static const Value* Arg(const std::vector<Value>& args, const std::vector<std::pair<std::string, Value>>& kwargs, size_t idx, const char* name) {
    if (idx < args.size()) return &args[idx];
    for (const auto& [k, v] : kwargs)
      if (k == name) return &v;
    return nullptr;
  }

  Value Call(const Callable& c, const std::vector<Value>& args, const std::vector<std::pair<std::string, Value>>& kwargs, size_t offset,
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

  Value CallMacro(const Callable& c, const std::vector<Value>& args, const std::vector<std::pair<std::string, Value>>& kwargs, size_t offset,
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

  std::tm Now() {
    if (lim_.clock) return lim_.clock();
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    return tm;
  }

  Value CallBuiltin(const std::string& name, const std::vector<Value>& args, const std::vector<std::pair<std::string, Value>>& kwargs, size_t offset) {
    if (name == "raise_exception") {
      const Value* msg = Arg(args, kwargs, 0, "message");
      Fail(K::kRaised, offset, msg ? ToStr(*msg) : std::string());
    }
    if (name == "strftime_now") {
      const Value* fmt = Arg(args, kwargs, 0, "format");
      if (fmt == nullptr || fmt->type != T::kString) RuntimeError(offset, "strftime_now: expected a format string");
      std::tm tm = Now();
      std::vector<char> buf(256 + fmt->s.size() * 8);
      size_t n = fmt->s.empty() ? 0 : std::strftime(buf.data(), buf.size(), fmt->s.c_str(), &tm);
      return Value::Str(std::string(buf.data(), n));
    }
    if (name == "range") {
      std::vector<int64_t> a;
      for (const Value& v : args) {
        if (v.type != T::kInt && v.type != T::kBool) RuntimeError(offset, "range: expected integer arguments, got " + TypeName(v));
        a.push_back(v.type == T::kInt ? v.i : (v.b ? 1 : 0));
      }
      if (a.empty() || a.size() > 3) RuntimeError(offset, "range expected 1 to 3 arguments");
      int64_t start = a.size() == 1 ? 0 : a[0], stop = a.size() == 1 ? a[0] : a[1], step = a.size() == 3 ? a[2] : 1;
      if (step == 0) RuntimeError(offset, "range() arg 3 must not be zero");
      List items;
      for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) {
        if (static_cast<int64_t>(items.size()) >= kMaxRange)
          Fail(K::kLimit, offset, "range too big: the sandbox blocks ranges larger than 100000");
        items.push_back(Value::Int(k));
      }
      return Value::MakeList(std::move(items));
    }
    if (name == "dict" || name == "namespace") {
      auto d = std::make_shared<Dict>();
      for (const Value& a : args) {
        if (a.type == T::kDict || a.type == T::kNamespace) {
          for (const auto& kv : a.dict->items) d->Set(kv.first, kv.second);
        } else if (a.type == T::kList) {
          for (const Value& pair : *a.list) {
            if (pair.type != T::kList || pair.list->size() != 2) RuntimeError(offset, name + ": sequence elements must be pairs");
            d->Set((*pair.list)[0], (*pair.list)[1]);
          }
        } else {
          RuntimeError(offset, name + ": cannot convert " + TypeName(a) + " to a mapping");
        }
      }
      for (const auto& [k, v] : kwargs) d->Set(Value::Str(k), v);
      if (name == "dict") return Value::MakeDict(std::move(d));
      namespaces_.push_back(d);
      return Value::MakeNamespace(std::move(d));
    }
    Fail(K::kUnsupported, offset, "unsupported global " + Quote(name));
  }

  static int64_t IntArg(const Value* v, int64_t def, size_t offset, const char* what) {
    if (v == nullptr || v->type == T::kNone) return def;
    if (v->type == T::kInt) return v->i;
    if (v->type == T::kBool) return v->b ? 1 : 0;
    RuntimeError(offset, std::string(what) + ": expected an integer, got " + TypeName(*v));
  }

  static const std::string& StrArg(const Value* v, size_t offset, const char* what) {
    if (v == nullptr || v->type != T::kString) RuntimeError(offset, std::string(what) + ": expected a string argument");
    return v->s;
  }

  Value CallMethod(const Value& self, const std::string& name, const std::vector<Value>& args, const std::vector<std::pair<std::string, Value>>& kwargs, size_t offset) {
    std::string where = TypeName(self);
    where.resize(where.size() - 7);  // drop " object"
    where += ".";
    where += name;
    if (self.type == T::kDict) {
      if (name == "items") {
        List items;
        for (const auto& [k, v] : self.dict->items) items.push_back(Value::MakeList({k, v}, true));
        return Value::MakeList(std::move(items));
      }
      if (name == "keys" || name == "values") {
        List items;
        for (const auto& [k, v] : self.dict->items) items.push_back(name == "keys" ? k : v);
        return Value::MakeList(std::move(items));
      }
      if (name == "get") {
        const Value* key = Arg(args, kwargs, 0, "key");
        if (key == nullptr) RuntimeError(offset, "get expected at least 1 argument");
        if (const Value* v = self.dict->Find(*key)) return *v;
        const Value* def = Arg(args, kwargs, 1, "default");
        return def ? *def : Value::None();
      }
      if (name == "copy") return Value::MakeDict(std::make_shared<Dict>(*self.dict));
      RuntimeError(offset, "access to attribute " + Quote(name) + " of 'dict' object is unsafe (the template environment is immutable)");
    }
    if (self.type == T::kList) {
      if (name == "index" || name == "count") {
        const Value* x = Arg(args, kwargs, 0, "value");
        if (x == nullptr) RuntimeError(offset, where + " expected 1 argument");
        int64_t cnt = 0;
        for (size_t k = 0; k < self.list->size(); ++k) {
          if (Equal((*self.list)[k], *x)) {
            if (name == "index") return Value::Int(static_cast<int64_t>(k));
            ++cnt;
          }
        }
        if (name == "index") RuntimeError(offset, Repr(*x) + " is not in list");
        return Value::Int(cnt);
      }
      if (name == "copy") return Value::MakeList(*self.list, self.is_tuple);
      RuntimeError(offset, "access to attribute " + Quote(name) + " of 'list' object is unsafe (the template environment is immutable)");
    }
    // str methods
    const std::string& s = self.s;
    if (name == "startswith" || name == "endswith") {
      const Value* p = Arg(args, kwargs, 0, "prefix");
      if (p == nullptr) RuntimeError(offset, where + " expected 1 argument");
      auto test = [&](const std::string& x) {
        if (x.size() > s.size()) return false;
        return name == "startswith" ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
      };
      if (p->type == T::kString) return Value::Bool(test(p->s));
      if (p->type == T::kList && p->is_tuple) {
        for (const Value& x : *p->list) {
          if (x.type != T::kString) RuntimeError(offset, where + ": tuple for prefix must only contain str");
          if (test(x.s)) return Value::Bool(true);
        }
        return Value::Bool(false);
      }
      RuntimeError(offset, where + " first arg must be str or a tuple of str, not " + TypeName(*p));
    }
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      const Value* chars = Arg(args, kwargs, 0, "chars");
      return Value::Str(PyStrip(s, chars, name != "rstrip", name != "lstrip"));
    }
    if (name == "split" || name == "rsplit") {
      const Value* sep = Arg(args, kwargs, 0, "sep");
      int64_t maxsplit = IntArg(Arg(args, kwargs, 1, "maxsplit"), -1, offset, "split");
      List items;
      for (std::string& part : PySplit(s, sep, maxsplit, name == "rsplit", offset)) items.push_back(Value::Str(std::move(part)));
      return Value::MakeList(std::move(items));
    }
    if (name == "splitlines") {
      List items;
      for (std::string& line : SplitLines(s)) items.push_back(Value::Str(std::move(line)));
      return Value::MakeList(std::move(items));
    }
    if (name == "upper") return Value::Str(FullCase(s, true));
    if (name == "lower" || name == "casefold") return Value::Str(FullCase(s, false));
    if (name == "title") return Value::Str(PyTitle(s));
    if (name == "capitalize") return Value::Str(PyCapitalize(s));
    if (name == "replace") {
      const std::string& old = StrArg(Arg(args, kwargs, 0, "old"), offset, "replace");
      const std::string& repl = StrArg(Arg(args, kwargs, 1, "new"), offset, "replace");
      return Value::Str(PyReplace(s, old, repl, IntArg(Arg(args, kwargs, 2, "count"), -1, offset, "replace")));
    }
    if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
      const std::string& sub = StrArg(Arg(args, kwargs, 0, "sub"), offset, name.c_str());
      if (!args.empty() && args.size() > 1) Fail(K::kUnsupported, offset, where + ": start/end arguments are not supported");
      if (name == "count") {
        if (sub.empty()) return Value::Int(static_cast<int64_t>(CodePointLen(s)) + 1);
        int64_t n = 0;
        for (size_t pos = s.find(sub); pos != std::string::npos; pos = s.find(sub, pos + sub.size())) ++n;
        return Value::Int(n);
      }
      size_t pos = (name == "find" || name == "index") ? s.find(sub) : s.rfind(sub);
      if (pos == std::string::npos) {
        if (name == "index" || name == "rindex") RuntimeError(offset, "substring not found");
        return Value::Int(-1);
      }
      return Value::Int(static_cast<int64_t>(CodePointLen(s.substr(0, pos))));
    }
    if (name == "join") {
      const Value* it = Arg(args, kwargs, 0, "iterable");
      if (it == nullptr) RuntimeError(offset, "join expected 1 argument");
      std::string out;
      bool first = true;
      for (const Value& x : Iterate(*it, offset)) {
        if (x.type != T::kString) RuntimeError(offset, "sequence item: expected str instance, " + TypeName(x) + " found");
        if (!first) out += s;
        first = false;
        out += x.s;
      }
      return Value::Str(std::move(out));
    }
    if (name == "format") return Value::Str(StrFormat(s, args, kwargs, offset));
    if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" || name == "isupper" || name == "islower" ||
        name == "isnumeric" || name == "isdecimal" || name == "isascii") {
      std::u32string u = Decode(s);
      if (name == "isascii") return Value::Bool(IsAscii(s));
      if (u.empty()) return Value::Bool(false);
      if (name == "isupper" || name == "islower") {
        bool any_cased = false;
        for (char32_t c : u) {
          if (!Cased(c)) continue;
          any_cased = true;
          if (name == "isupper" ? Lower(c) == c && Upper(c) != c : Upper(c) == c && Lower(c) != c) return Value::Bool(false);
        }
        return Value::Bool(any_cased);
      }
      for (char32_t c : u) {
        bool ok = name == "isspace" ? IsPySpace(c)
                  : name == "isalpha" ? (c < 0x80 ? std::isalpha(static_cast<int>(c)) != 0 : u_isalpha(static_cast<UChar32>(c)) != 0)
                  : name == "isalnum" ? IsWordChar(c) && c != '_'
                                      : (c < 0x80 ? std::isdigit(static_cast<int>(c)) != 0 : u_isdigit(static_cast<UChar32>(c)) != 0);
        if (!ok) return Value::Bool(false);
      }
      return Value::Bool(true);
    }
    if (name == "removeprefix" || name == "removesuffix") {
      const std::string& x = StrArg(Arg(args, kwargs, 0, "affix"), offset, name.c_str());
      if (name == "removeprefix") return Value::Str(s.compare(0, x.size(), x) == 0 ? s.substr(x.size()) : s);
      return Value::Str(x.size() <= s.size() && s.compare(s.size() - x.size(), x.size(), x) == 0 ? s.substr(0, s.size() - x.size()) : s);
    }
    Fail(K::kUnsupported, offset, "unsupported method " + Quote(where));
  }

  // str.format with "{}", "{0}", "{name}" and "{{"/"}}"; no format specs.
  std::string StrFormat(const std::string& s, const std::vector<Value>& args, const std::vector<std::pair<std::string, Value>>& kwargs, size_t offset) {
    std::string out;
    size_t auto_idx = 0;
    for (size_t k = 0; k < s.size(); ++k) {
      char c = s[k];
      if (c == '{' && k + 1 < s.size() && s[k + 1] == '{') { out += '{'; ++k; continue; }
      if (c == '}' && k + 1 < s.size() && s[k + 1] == '}') { out += '}'; ++k; continue; }
      if (c == '}') RuntimeError(offset, "format: single '}' encountered in format string");
      if (c != '{') { out += c; continue; }
      size_t e = s.find('}', k);
      if (e == std::string::npos) RuntimeError(offset, "format: single '{' encountered in format string");
      std::string field = s.substr(k + 1, e - k - 1);
      if (field.find_first_of(":!.[") != std::string::npos) Fail(K::kUnsupported, offset, "format: format specs and conversions are not supported");
      const Value* v = nullptr;
      if (field.empty()) {
        if (auto_idx >= args.size()) RuntimeError(offset, "format: replacement index out of range");
        v = &args[auto_idx++];
      } else if (std::all_of(field.begin(), field.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)) != 0; })) {
        size_t idx = field.size() < 10 ? std::stoul(field) : SIZE_MAX;
        if (idx >= args.size()) RuntimeError(offset, "format: replacement index out of range");
        v = &args[idx];
      } else {
        for (const auto& [kk, vv] : kwargs)
          if (kk == field) v = &vv;
        if (v == nullptr) RuntimeError(offset, "format: missing keyword " + Quote(field));
      }
      out += ToStr(*v);
      k = e;
    }
    return out;
  }

  // ---- tests ----

  bool ApplyTest(const std::string& name, const Value& v, const std::vector<Value>& args, size_t offset) {
    auto arg0 = [&]() -> const Value& {
      if (args.empty()) RuntimeError(offset, "test " + Quote(name) + " expects an argument");
      return args[0];
    };
    if (name == "defined") return !v.IsUndefined();
    if (name == "undefined") return v.IsUndefined();
    if (name == "none") return v.type == T::kNone;
    if (name == "string") return v.type == T::kString;
    if (name == "mapping") return v.type == T::kDict;
    if (name == "sequence") return v.type == T::kString || v.type == T::kList || v.type == T::kDict;
    if (name == "iterable") return v.type == T::kString || v.type == T::kList || v.type == T::kDict || v.type == T::kUndefined;
    if (name == "number") return v.IsNumber();
    if (name == "integer") return v.type == T::kInt;
    if (name == "float") return v.type == T::kFloat;
    if (name == "boolean") return v.type == T::kBool;
    if (name == "true") return v.type == T::kBool && v.b;
    if (name == "false") return v.type == T::kBool && !v.b;
    if (name == "callable") return v.type == T::kCallable;
    if (name == "odd" || name == "even") {  // value % 2 == 1 / == 0, as jinja2
      Value r = Binary(BinOp::kMod, v, Value::Int(2), offset);
      return Equal(r, Value::Int(name == "odd" ? 1 : 0));
    }
    if (name == "divisibleby") {
      Value r = Binary(BinOp::kMod, v, arg0(), offset);
      return !Truthy(r);
    }
    if (name == "lower" || name == "upper") {  // str(value).islower() / isupper()
      return Truthy(CallMethod(Value::Str(ToStr(v)), name == "lower" ? "islower" : "isupper", {}, {}, offset));
    }
    if (name == "sameas") {
      const Value& o = arg0();
      if (v.type != o.type) return false;
      switch (v.type) {
        case T::kNone: case T::kUndefined: return true;
        case T::kBool: return v.b == o.b;
        case T::kInt: return v.i == o.i && v.i >= -5 && v.i <= 256;  // CPython's small-int cache
        case T::kList: return v.list == o.list;
        case T::kDict: case T::kNamespace: return v.dict == o.dict;
        case T::kCallable: return v.fn == o.fn;
        default: return false;
      }
    }
    if (name == "escaped") return false;
    if (name == "in") return Contains(arg0(), v, offset);
    if (name == "eq" || name == "equalto" || name == "==") return Equal(v, arg0());
    if (name == "ne" || name == "!=") return !Equal(v, arg0());
    if (name == "lt" || name == "lessthan" || name == "<") return Compare(v, arg0(), offset) < 0;
    if (name == "le" || name == "<=") return Compare(v, arg0(), offset) <= 0;
    if (name == "gt" || name == "greaterthan" || name == ">") return Compare(v, arg0(), offset) > 0;
    if (name == "ge" || name == ">=") return Compare(v, arg0(), offset) >= 0;
    if (name == "filter" || name == "test") return false;
    RuntimeError(offset, "no test named " + Quote(name));
  }

  // ---- filters ----

  Value ApplyFilter(const std::string& name, Value v, const std::vector<Value>& args, const std::vector<std::pair<std::string, Value>>& kwargs, size_t offset) {
    auto A = [&](size_t idx, const char* key) { return Arg(args, kwargs, idx, key); };
    auto str_of = [](const Value& x) { return x.type == T::kString ? x.s : ToStr(x); };
    if (name == "safe") return v;
    if (name == "string") return Value::Str(str_of(v));
    if (name == "trim") return Value::Str(PyStrip(str_of(v), A(0, "chars"), true, true));
    if (name == "upper") return Value::Str(FullCase(str_of(v), true));
    if (name == "lower") return Value::Str(FullCase(str_of(v), false));
    if (name == "capitalize") return Value::Str(PyCapitalize(str_of(v)));
    if (name == "title") return Value::Str(JinjaTitle(str_of(v)));
    if (name == "length" || name == "count") {
      switch (v.type) {
        case T::kUndefined: return Value::Int(0);
        case T::kString: return Value::Int(static_cast<int64_t>(CodePointLen(v.s)));
        case T::kList: return Value::Int(static_cast<int64_t>(v.list->size()));
        case T::kDict: case T::kNamespace: return Value::Int(static_cast<int64_t>(v.dict->items.size()));
        default: RuntimeError(offset, "object of type " + Quote(TypeName(v)) + " has no len()");
      }
    }
    if (name == "tojson") {
      JsonOptions opt;
      const Value* ea = A(0, "ensure_ascii");
      const Value* ind = A(1, "indent");
      const Value* seps = A(2, "separators");
      const Value* sk = A(3, "sort_keys");
      opt.ensure_ascii = ea != nullptr && Truthy(*ea);
      if (ind != nullptr && ind->type != T::kNone) {
        if (ind->type == T::kString) { opt.indent_is_str = true; opt.indent_str = ind->s; opt.indent = 0; }
        else opt.indent = static_cast<int>(std::max<int64_t>(0, IntArg(ind, 0, offset, "tojson indent")));
        opt.item_sep = ",";
      }
      if (seps != nullptr && seps->type != T::kNone) {
        if (seps->type != T::kList || seps->list->size() != 2 || (*seps->list)[0].type != T::kString || (*seps->list)[1].type != T::kString)
          RuntimeError(offset, "tojson: separators must be a pair of strings");
        opt.item_sep = (*seps->list)[0].s;
        opt.key_sep = (*seps->list)[1].s;
      }
      opt.sort_keys = sk != nullptr && Truthy(*sk);
      return Value::Str(ToJson(v, opt, offset));
    }
    if (name == "join") {
      const Value* d = A(0, "d");
      const Value* attr = A(1, "attribute");
      std::string sep = d ? str_of(*d) : std::string();
      std::string out;
      bool first = true;
      for (const Value& x : Iterate(v, offset)) {
        if (!first) out += sep;
        first = false;
        Value item = attr ? AttrPath(x, str_of(*attr), offset) : x;
        out += str_of(item);
      }
      return Value::Str(std::move(out));
    }
    if (name == "default" || name == "d") {
      const Value* def = A(0, "default_value");
      const Value* boolean = A(1, "boolean");
      bool use_default = v.IsUndefined() || (boolean != nullptr && Truthy(*boolean) && !Truthy(v));
      if (use_default) return def ? *def : Value::Str("");
      return v;
    }
    if (name == "items") {
      if (v.IsUndefined()) return Value::MakeList({});
      if (v.type != T::kDict) RuntimeError(offset, "items: can only get item pairs from a mapping");
      return CallMethod(v, "items", {}, {}, offset);
    }
    if (name == "list") return Value::MakeList(Iterate(v, offset));
    if (name == "first") {
      std::vector<Value> items = Iterate(v, offset);
      return items.empty() ? Value::Undefined("No first item, sequence was empty.") : items.front();
    }
    if (name == "last") {
      std::vector<Value> items = Iterate(v, offset);
      return items.empty() ? Value::Undefined("No last item, sequence was empty.") : items.back();
    }
    if (name == "reverse") {
      if (v.type == T::kString) {
        std::u32string u = Decode(v.s);
        std::reverse(u.begin(), u.end());
        return Value::Str(Encode(u));
      }
      std::vector<Value> items = Iterate(v, offset);
      std::reverse(items.begin(), items.end());
      return Value::MakeList(std::move(items));
    }
    if (name == "replace") {
      std::string s = str_of(v);
      const Value* old = A(0, "old");
      const Value* repl = A(1, "new");
      if (old == nullptr || repl == nullptr) RuntimeError(offset, "replace expects old and new");
      return Value::Str(PyReplace(s, str_of(*old), str_of(*repl), IntArg(A(2, "count"), -1, offset, "replace")));
    }
    if (name == "int") {
      int64_t def = IntArg(A(0, "default"), 0, offset, "int");
      int64_t base = IntArg(A(1, "base"), 10, offset, "int");
      return Value::Int(ToInt(v, def, static_cast<int>(base)));
    }
    if (name == "float") {
      const Value* def = A(0, "default");
      double d = def && def->IsNumber() ? (def->type == T::kFloat ? def->f : static_cast<double>(def->type == T::kInt ? def->i : def->b)) : 0.0;
      return Value::Float(ToFloat(v, d));
    }
    if (name == "abs") {
      if (v.type == T::kInt) {
        if (v.i == INT64_MIN) RuntimeError(offset, "integer overflow");
        return Value::Int(v.i < 0 ? -v.i : v.i);
      }
      if (v.type == T::kFloat) return Value::Float(std::fabs(v.f));
      if (v.type == T::kBool) return Value::Int(v.b ? 1 : 0);
      RuntimeError(offset, "bad operand type for abs(): " + Quote(TypeName(v)));
    }
    if (name == "round") {
      int64_t precision = IntArg(A(0, "precision"), 0, offset, "round");
      const Value* method = A(1, "method");
      std::string m = method ? str_of(*method) : "common";
      if (m != "common" && m != "ceil" && m != "floor") RuntimeError(offset, "round: method must be common, ceil or floor");
      if (!v.IsNumber()) RuntimeError(offset, "round: expected a number, got " + TypeName(v));
      if (m == "common" && v.type != T::kFloat) return Value::Int(v.type == T::kInt ? v.i : v.b);
      double x = v.type == T::kFloat ? v.f : static_cast<double>(v.type == T::kInt ? v.i : v.b);
      if (m == "common") {
        char buf[512];
        int p = static_cast<int>(std::clamp<int64_t>(precision, 0, 300));
        std::snprintf(buf, sizeof(buf), "%.*f", p, x);
        double r = std::strtod(buf, nullptr);
        if (precision < 0) {
          double scale = std::pow(10.0, static_cast<double>(-precision));
          r = std::nearbyint(x / scale) * scale;
        }
        return Value::Float(r);
      }
      double scale = std::pow(10.0, static_cast<double>(precision));
      return Value::Float((m == "ceil" ? std::ceil(x * scale) : std::floor(x * scale)) / scale);
    }
    if (name == "unique" || name == "sort" || name == "dictsort" || name == "min" || name == "max") return SortLike(name, v, args, kwargs, offset);
    if (name == "indent") {
      const Value* w = A(0, "width");
      std::string indention = w && w->type == T::kString ? w->s : std::string(static_cast<size_t>(std::max<int64_t>(0, IntArg(w, 4, offset, "indent"))), ' ');
      bool first = A(1, "first") && Truthy(*A(1, "first"));
      bool blank = A(2, "blank") && Truthy(*A(2, "blank"));
      if (v.type != T::kString && !v.IsUndefined()) RuntimeError(offset, "indent: expected a string, got " + TypeName(v));
      std::string s = str_of(v);
      s += "\n";
      std::vector<std::string> lines = SplitLines(s);
      std::string rv;
      if (blank) {
        for (size_t k = 0; k < lines.size(); ++k) {
          if (k) { rv += "\n"; rv += indention; }
          rv += lines[k];
        }
      } else {
        rv = lines.empty() ? std::string() : lines[0];
        if (lines.size() > 1) {
          rv += "\n";
          for (size_t k = 1; k < lines.size(); ++k) {
            if (k > 1) rv += "\n";
            if (!lines[k].empty()) rv += indention;
            rv += lines[k];
          }
        }
      }
      if (first) rv = indention + rv;
      return Value::Str(std::move(rv));
    }
    if (name == "wordcount") {
      int64_t n = 0;
      bool in_word = false;
      for (char32_t c : Decode(str_of(v))) {
        bool w = IsWordChar(c);
        if (w && !in_word) ++n;
        in_word = w;
      }
      return Value::Int(n);
    }
    if (name == "e" || name == "escape" || name == "forceescape") {
      std::string out;
      for (char c : str_of(v)) {
        switch (c) {
          case '&': out += "&amp;"; break;
          case '<': out += "&lt;"; break;
          case '>': out += "&gt;"; break;
          case '"': out += "&#34;"; break;
          case '\'': out += "&#39;"; break;
          default: out += c;
        }
      }
      return Value::Str(std::move(out));
    }
    if (name == "center") {
      int64_t width = IntArg(A(0, "width"), 80, offset, "center");
      std::string s = str_of(v);
      int64_t len = static_cast<int64_t>(CodePointLen(s));
      if (width <= len) return Value::Str(s);
      int64_t marg = width - len;
      int64_t left = marg / 2 + (marg & width & 1);
      return Value::Str(std::string(static_cast<size_t>(left), ' ') + s + std::string(static_cast<size_t>(marg - left), ' '));
    }
    if (name == "attr") return GetAttr(v, str_of(*A(0, "name")), offset);
    if (name == "sum") {
      const Value* attr = A(0, "attribute");
      const Value* start = A(1, "start");
      Value total = start ? *start : Value::Int(0);
      for (const Value& x : Iterate(v, offset)) total = Binary(BinOp::kAdd, total, attr ? AttrPath(x, str_of(*attr), offset) : x, offset);
      return total;
    }
    if (name == "map") {
      std::vector<Value> items = Iterate(v, offset);
      List out;
      const Value* attr = nullptr;
      for (const auto& [k, x] : kwargs)
        if (k == "attribute") attr = &x;
      if (attr != nullptr) {
        const Value* def = nullptr;
        for (const auto& [k, x] : kwargs)
          if (k == "default") def = &x;
        for (const Value& x : items) {
          Value r = AttrPath(x, str_of(*attr), offset);
          if (r.IsUndefined() && def) r = *def;
          out.push_back(std::move(r));
        }
        return Value::MakeList(std::move(out));
      }
      if (args.empty() || args[0].type != T::kString) RuntimeError(offset, "map: expected a filter name or attribute=");
      const std::string& fname = args[0].s;
      if (!IsKnownFilter(fname)) RuntimeError(offset, "map: unknown filter " + Quote(fname));
      std::vector<Value> rest(args.begin() + 1, args.end());
      for (const Value& x : items) out.push_back(ApplyFilter(fname, x, rest, kwargs, offset));
      return Value::MakeList(std::move(out));
    }
    if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
      bool by_attr = name == "selectattr" || name == "rejectattr";
      bool keep_if = name == "select" || name == "selectattr";
      size_t k = 0;
      std::string attr;
      if (by_attr) {
        if (args.empty()) RuntimeError(offset, name + ": missing attribute name");
        attr = str_of(args[0]);
        k = 1;
      }
      std::string test;
      std::vector<Value> targs;
      if (k < args.size()) {
        test = str_of(args[k]);
        if (!IsKnownTest(test)) RuntimeError(offset, name + ": unknown test " + Quote(test));
        targs.assign(args.begin() + static_cast<std::ptrdiff_t>(k) + 1, args.end());
      }
      List out;
      for (const Value& x : Iterate(v, offset)) {
        Value subject = by_attr ? AttrPath(x, attr, offset) : x;
        bool r = test.empty() ? Truthy(subject) : ApplyTest(test, subject, targs, offset);
        if (r == keep_if) out.push_back(x);
      }
      return Value::MakeList(std::move(out));
    }
    if (name == "format") return Value::Str(PercentFormat(str_of(v), args, offset));
    RuntimeError(offset, "no filter named " + Quote(name));
  }

  // printf-style formatting as Python's str % args, for %s, %r, %d, %i and %%.
  static std::string PercentFormat(const std::string& fmt, const std::vector<Value>& args, size_t offset) {
    std::string out;
    size_t ai = 0;
    for (size_t k = 0; k < fmt.size(); ++k) {
      if (fmt[k] != '%') { out += fmt[k]; continue; }
      if (k + 1 >= fmt.size()) RuntimeError(offset, "incomplete format");
      char c = fmt[++k];
      if (c == '%') { out += '%'; continue; }
      if (ai >= args.size()) RuntimeError(offset, "not enough arguments for format string");
      const Value& a = args[ai++];
      if (c == 's') {
        out += ToStr(a);
      } else if (c == 'r') {
        out += Repr(a);
      } else if (c == 'd' || c == 'i') {
        if (!a.IsNumber()) RuntimeError(offset, "%d format: a real number is required, not " + TypeName(a));
        out += std::to_string(a.type == T::kFloat ? static_cast<int64_t>(a.f) : a.type == T::kInt ? a.i : a.b);
      } else {
        Fail(K::kUnsupported, offset, std::string("string formatting: conversion '%") + c + "' is not supported");
      }
    }
    if (ai != args.size()) RuntimeError(offset, "not all arguments converted during string formatting");
    return out;
  }

  static int64_t ToInt(const Value& v, int64_t def, int base) {
    switch (v.type) {
      case T::kInt: return v.i;
      case T::kBool: return v.b ? 1 : 0;
      case T::kFloat: return std::isfinite(v.f) && std::fabs(v.f) < 9.2e18 ? static_cast<int64_t>(v.f) : def;
      case T::kString: {
        std::string t = PyStrip(v.s, nullptr, true, true);
        std::string digits;
        for (size_t k = 0; k < t.size(); ++k) {
          if (t[k] == '_' && k > 0 && k + 1 < t.size() && std::isalnum(static_cast<unsigned char>(t[k - 1])) && std::isalnum(static_cast<unsigned char>(t[k + 1]))) continue;
          digits += t[k];
        }
        if (!digits.empty()) {
          errno = 0;
          char* end = nullptr;
          long long r = std::strtoll(digits.c_str(), &end, base);
          if (errno == 0 && end != nullptr && *end == '\0' && std::isalnum(static_cast<unsigned char>(digits.back()))) return r;
        }
        double d = ToFloat(v, std::nan(""));
        if (std::isfinite(d) && std::fabs(d) < 9.2e18) return static_cast<int64_t>(d);
        return def;
      }
      default: return def;
    }
  }

  static double ToFloat(const Value& v, double def) {
    switch (v.type) {
      case T::kInt: return static_cast<double>(v.i);
      case T::kBool: return v.b ? 1.0 : 0.0;
      case T::kFloat: return v.f;
      case T::kString: {
        std::string t = PyStrip(v.s, nullptr, true, true);
        if (t.empty()) return def;
        std::string lower = MapChars(t, Lower);
        std::string body = lower[0] == '+' || lower[0] == '-' ? lower.substr(1) : lower;
        if (body == "inf" || body == "infinity" || body == "nan") return std::strtod(t.c_str(), nullptr);
        for (char c : body)
          if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == '+' || c == '-' || c == '_')) return def;
        std::string clean;
        for (char c : t)
          if (c != '_') clean += c;
        char* end = nullptr;
        double d = std::strtod(clean.c_str(), &end);
        if (end == clean.c_str() || *end != '\0') return def;
        return d;
      }
      default: return def;
    }
  }

  Value SortLike(const std::string& name, const Value& v, const std::vector<Value>& args, const std::vector<std::pair<std::string, Value>>& kwargs, size_t offset) {
    auto kw = [&](const char* key) -> const Value* {
      for (const auto& [k, x] : kwargs)
        if (k == key) return &x;
      return nullptr;
    };
    auto fold = [&](const Value& x, bool case_sensitive) {
      if (!case_sensitive && x.type == T::kString) return Value::Str(MapChars(x.s, Lower));
      return x;
    };
    if (name == "dictsort") {
      if (v.type != T::kDict) RuntimeError(offset, "dictsort: expected a mapping");
      const Value* cs = Arg(args, kwargs, 0, "case_sensitive");
      const Value* by = Arg(args, kwargs, 1, "by");
      const Value* rev = Arg(args, kwargs, 2, "reverse");
      bool case_sensitive = cs && Truthy(*cs);
      int pos = by && by->type == T::kString && by->s == "value" ? 1 : 0;
      List items;
      for (const auto& [k, x] : v.dict->items) items.push_back(Value::MakeList({k, x}, true));
      bool reverse = rev && Truthy(*rev);
      std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
        Value ka = fold((*a.list)[static_cast<size_t>(pos)], case_sensitive), kb = fold((*b.list)[static_cast<size_t>(pos)], case_sensitive);
        return reverse ? Compare(kb, ka, offset) < 0 : Compare(ka, kb, offset) < 0;
      });
      return Value::MakeList(std::move(items));
    }
    std::vector<Value> items = Iterate(v, offset);
    const Value* attr_v = kw("attribute");
    const Value* cs_v = kw("case_sensitive");
    if (name == "sort") {
      const Value* rev = Arg(args, kwargs, 0, "reverse");
      if (cs_v == nullptr && args.size() > 1) cs_v = &args[1];
      if (attr_v == nullptr && args.size() > 2) attr_v = &args[2];
      bool reverse = rev && Truthy(*rev);
      bool case_sensitive = cs_v && Truthy(*cs_v);
      std::string attr = attr_v && attr_v->type == T::kString ? attr_v->s : std::string();
      std::vector<std::pair<Value, size_t>> keyed;
      for (size_t k = 0; k < items.size(); ++k) {
        Step(offset);
        keyed.emplace_back(fold(attr.empty() ? items[k] : AttrPath(items[k], attr, offset), case_sensitive), k);
      }
      std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
        return reverse ? Compare(b.first, a.first, offset) < 0 : Compare(a.first, b.first, offset) < 0;
      });
      List out;
      for (const auto& kv : keyed) out.push_back(items[kv.second]);
      return Value::MakeList(std::move(out));
    }
    if (cs_v == nullptr && !args.empty()) cs_v = &args[0];
    if (attr_v == nullptr && args.size() > 1) attr_v = &args[1];
    bool case_sensitive = cs_v && Truthy(*cs_v);
    std::string attr = attr_v && attr_v->type == T::kString ? attr_v->s : std::string();
    auto key_of = [&](const Value& x) { return fold(attr.empty() ? x : AttrPath(x, attr, offset), case_sensitive); };
    if (name == "unique") {
      List out;
      std::vector<Value> seen;
      for (const Value& x : items) {
        Value key = key_of(x);
        bool dup = false;
        for (const Value& s : seen) dup = dup || Equal(s, key);
        if (!dup) {
          seen.push_back(key);
          out.push_back(x);
        }
      }
      return Value::MakeList(std::move(out));
    }
    // min / max
    if (items.empty()) return Value::Undefined("No aggregated item, sequence was empty.");
    size_t best = 0;
    Value best_key = key_of(items[0]);
    for (size_t k = 1; k < items.size(); ++k) {
      Value key = key_of(items[k]);
      int c = Compare(key, best_key, offset);
      if (name == "min" ? c < 0 : c > 0) {
        best = k;
        best_key = std::move(key);
      }
    }
    return items[best];
  }

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

}  // namespace

bool IsKnownFilter(std::string_view name) {
  static const std::unordered_set<std::string_view> kFilters = {
      "abs", "attr", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first", "float",
      "forceescape", "format", "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
      "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string", "sum",
      "title", "tojson", "trim", "unique", "upper", "wordcount"};
  return kFilters.count(name) != 0;
}

bool IsKnownTest(std::string_view name) {
  static const std::unordered_set<std::string_view> kTests = {
      "defined", "undefined", "none", "string", "mapping", "sequence", "iterable", "number", "integer", "float",
      "boolean", "true", "false", "callable", "odd", "even", "divisibleby", "lower", "upper", "sameas", "escaped",
      "in", "eq", "equalto", "==", "ne", "!=", "lt", "lessthan", "<", "le", "<=", "gt", "greaterthan", ">", "ge",
      ">=", "filter", "test"};
  return kTests.count(name) != 0;
}

std::string RenderProgram(const Program& program, const nlohmann::ordered_json& context, const RenderLimits& limits) {
  Renderer r(program, limits);
  return r.Run(context);
}

}  // namespace detinfer::jinja
