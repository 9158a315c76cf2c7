// The globals (range, dict, namespace, raise_exception, strftime_now) and the str, dict and list
// methods that chat templates call, as Python runs them; methods that would mutate a value are
// refused, as in jinja2's ImmutableSandboxedEnvironment.
#include <algorithm>
#include <cctype>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include <unicode/uchar.h>

#include "template/jinja_internal.h"

namespace detinfer::jinja {
namespace {

using K = JinjaError::Kind;
using T = Value::Type;

constexpr int64_t kMaxRange = 100000;  // jinja2.sandbox.MAX_RANGE

}  // namespace

std::tm Renderer::Now() {
  if (lim_.clock) return lim_.clock();
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

Value Renderer::CallBuiltin(const std::string& name, const std::vector<Value>& args, const std::vector<std::pair<std::string, Value>>& kwargs, size_t offset) {
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

int64_t Renderer::IntArg(const Value* v, int64_t def, size_t offset, const char* what) {
  if (v == nullptr || v->type == T::kNone) return def;
  if (v->type == T::kInt) return v->i;
  if (v->type == T::kBool) return v->b ? 1 : 0;
  RuntimeError(offset, std::string(what) + ": expected an integer, got " + TypeName(*v));
}

const std::string& Renderer::StrArg(const Value* v, size_t offset, const char* what) {
  if (v == nullptr || v->type != T::kString) RuntimeError(offset, std::string(what) + ": expected a string argument");
  return v->s;
}

Value Renderer::CallMethod(const Value& self, const std::string& name, const std::vector<Value>& args, const std::vector<std::pair<std::string, Value>>& kwargs, size_t offset) {
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
std::string Renderer::StrFormat(const std::string& s, const std::vector<Value>& args, const std::vector<std::pair<std::string, Value>>& kwargs, size_t offset) {
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

}  // namespace detinfer::jinja
