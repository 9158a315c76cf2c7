// jinja2's tests (`x is defined`) and filters (`x | tojson`) that chat templates use, and the
// names of both that the parser accepts.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_set>
#include <vector>

#include "template/jinja_internal.h"

namespace detinfer::jinja {
namespace {

using T = Value::Type;

}  // namespace

// ---- tests ----

bool Renderer::ApplyTest(const std::string& name, const Value& v, const std::vector<Value>& args, size_t offset) {
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

Value Renderer::ApplyFilter(const std::string& name, Value v, const std::vector<Value>& args, const std::vector<std::pair<std::string, Value>>& kwargs, size_t offset) {
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

int64_t Renderer::ToInt(const Value& v, int64_t def, int base) {
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

double Renderer::ToFloat(const Value& v, double def) {
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

Value Renderer::SortLike(const std::string& name, const Value& v, const std::vector<Value>& args, const std::vector<std::pair<std::string, Value>>& kwargs, size_t offset) {
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

}  // namespace detinfer::jinja
