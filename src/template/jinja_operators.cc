// The renderer's operators, with Python's semantics on template values: comparisons and `in`,
// arithmetic (integer overflow is an error, not a wrap), str % args, attribute and item access
// and slicing.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>
#include <unordered_set>
#include <vector>

#include "template/jinja_internal.h"

namespace detinfer::jinja {
namespace {

using K = JinjaError::Kind;
using T = Value::Type;

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

}  // namespace

bool Renderer::CompareOp(CmpOp op, const Value& a, const Value& b, size_t offset) {
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

bool Renderer::Contains(const Value& container, const Value& item, size_t offset) {
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

[[noreturn]] void Renderer::TypeError(const Value& a, const Value& b, size_t offset, const char* sym) {
  std::string msg = "unsupported operand type(s) for ";
  msg += sym;
  msg += ": '";
  msg += TypeName(a);
  msg += "' and '";
  msg += TypeName(b);
  msg += "'";
  RuntimeError(offset, std::move(msg));
}

Value Renderer::Binary(BinOp op, const Value& a, const Value& b, size_t offset) {
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

// printf-style formatting as Python's str % args, for %s, %r, %d, %i and %%.
std::string Renderer::PercentFormat(const std::string& fmt, const std::vector<Value>& args, size_t offset) {
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

// ---- attribute and item access ----

Value Renderer::Method(const Value& self, const std::string& name) {
  Callable c;
  c.kind = Callable::Kind::kMethod;
  c.name = name;
  c.self = self;
  return MakeCallable(std::move(c));
}

Value Renderer::GetAttr(const Value& obj, const std::string& name, size_t offset) {
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

Value Renderer::GetItem(const Value& obj, const Value& key, size_t offset) {
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

Value Renderer::Slice(const Value& obj, const Value& vs, const Value& ve, const Value& vt, size_t offset) {
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
Value Renderer::AttrPath(const Value& obj, const std::string& path, size_t offset) {
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

}  // namespace detinfer::jinja
