// Values of the chat-template interpreter with Python's semantics: truthiness, equality,
// ordering, str(), repr(), float repr and json.dumps as transformers' tojson calls it.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "template/jinja_internal.h"

namespace detinfer::jinja {

void Fail(JinjaError::Kind kind, size_t offset, std::string message) {
  throw JinjaError{kind, offset, std::move(message)};
}

static uint32_t CheckedDepth(uint32_t child_max) {
  if (child_max + 1 > kMaxValueDepth) {
    std::string msg = "value nested deeper than ";
    msg += std::to_string(kMaxValueDepth);
    msg += " levels";
    Fail(JinjaError::Kind::kLimit, SIZE_MAX, std::move(msg));
  }
  return child_max + 1;
}

Value Value::MakeList(List items, bool tuple) {
  Value v;
  v.type = Type::kList;
  v.is_tuple = tuple;
  uint32_t m = 0;
  for (const Value& x : items) m = std::max(m, x.depth);
  v.depth = CheckedDepth(m);
  v.list = std::make_shared<const List>(std::move(items));
  return v;
}

static uint32_t DictDepth(const Dict& d) {
  uint32_t m = 0;
  for (const auto& [k, x] : d.items) m = std::max({m, k.depth, x.depth});
  return CheckedDepth(m);
}

Value Value::MakeDict(std::shared_ptr<Dict> d) {
  Value v;
  v.type = Type::kDict;
  v.depth = DictDepth(*d);
  v.dict = std::move(d);
  return v;
}

Value Value::MakeNamespace(std::shared_ptr<Dict> d) {
  Value v;
  v.type = Type::kNamespace;
  v.depth = DictDepth(*d);
  v.dict = std::move(d);
  return v;
}

const Value* Dict::Find(const Value& key) const {
  if (key.type == Value::Type::kString) return FindStr(key.s);
  for (const auto& [k, v] : items)
    if (Equal(k, key)) return &v;
  return nullptr;
}

const Value* Dict::FindStr(std::string_view key) const {
  for (const auto& [k, v] : items)
    if (k.type == Value::Type::kString && k.s == key) return &v;
  return nullptr;
}

void Dict::Set(const Value& key, Value v) {
  for (auto& [k, old] : items) {
    if (Equal(k, key)) {
      old = std::move(v);
      return;
    }
  }
  items.emplace_back(key, std::move(v));
}

// ---- UTF-8 ----

void AppendUtf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

std::u32string Decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (n < 0 || (n > 0 && i + static_cast<size_t>(n) >= s.size())) {  // invalid or truncated
      out += U'\uFFFD';
      ++i;
      continue;
    }
    char32_t cp = n == 0 ? c : n == 1 ? (c & 0x1F) : n == 2 ? (c & 0x0F) : (c & 0x07);
    bool ok = true;
    for (int k = 1; k <= n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
      if ((cc & 0xC0) != 0x80) { ok = false; break; }
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (!ok) {
      out += U'\uFFFD';
      ++i;
      continue;
    }
    out += cp;
    i += static_cast<size_t>(n) + 1;
  }
  return out;
}

std::string Encode(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) AppendUtf8(out, c);
  return out;
}

bool IsAscii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

bool IsPySpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// ---- Python semantics ----

bool Truthy(const Value& v) {
  switch (v.type) {
    case Value::Type::kUndefined: case Value::Type::kNone: return false;
    case Value::Type::kBool: return v.b;
    case Value::Type::kInt: return v.i != 0;
    case Value::Type::kFloat: return v.f != 0;
    case Value::Type::kString: return !v.s.empty();
    case Value::Type::kList: return !v.list->empty();
    case Value::Type::kDict: return !v.dict->items.empty();
    case Value::Type::kNamespace: case Value::Type::kCallable: return true;
  }
  return false;
}

static double AsDouble(const Value& v) {
  return v.type == Value::Type::kFloat ? v.f : v.type == Value::Type::kInt ? static_cast<double>(v.i) : (v.b ? 1.0 : 0.0);
}

static int64_t AsInt(const Value& v) { return v.type == Value::Type::kInt ? v.i : (v.b ? 1 : 0); }

static bool EqualAt(const Value& a, const Value& b, int depth);

bool Equal(const Value& a, const Value& b) { return EqualAt(a, b, 0); }

static bool EqualAt(const Value& a, const Value& b, int depth) {
  if (depth > 2 * static_cast<int>(kMaxValueDepth)) Fail(JinjaError::Kind::kLimit, SIZE_MAX, "comparing values nested too deeply");
  if (a.IsNumber() && b.IsNumber()) {
    if (a.type == Value::Type::kFloat || b.type == Value::Type::kFloat) return AsDouble(a) == AsDouble(b);
    return AsInt(a) == AsInt(b);
  }
  if (a.type != b.type) return false;
  switch (a.type) {
    case Value::Type::kUndefined: case Value::Type::kNone: return true;
    case Value::Type::kString: return a.s == b.s;
    case Value::Type::kList:
      if (a.is_tuple != b.is_tuple || a.list->size() != b.list->size()) return false;
      for (size_t k = 0; k < a.list->size(); ++k)
        if (!EqualAt((*a.list)[k], (*b.list)[k], depth + 1)) return false;
      return true;
    case Value::Type::kDict: {
      if (a.dict->items.size() != b.dict->items.size()) return false;
      for (const auto& [k, v] : a.dict->items) {
        const Value* o = b.dict->Find(k);
        if (o == nullptr || !EqualAt(v, *o, depth + 1)) return false;
      }
      return true;
    }
    case Value::Type::kNamespace: return a.dict == b.dict;
    case Value::Type::kCallable: return a.fn == b.fn;
    default: return false;
  }
}

int Compare(const Value& a, const Value& b, size_t offset) {
  if (a.IsNumber() && b.IsNumber()) {
    if (a.type == Value::Type::kFloat || b.type == Value::Type::kFloat) {
      double x = AsDouble(a), y = AsDouble(b);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    int64_t x = AsInt(a), y = AsInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.type == Value::Type::kString && b.type == Value::Type::kString) {
    int c = a.s.compare(b.s);  // UTF-8 byte order is code point order
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.type == Value::Type::kList && b.type == Value::Type::kList && a.is_tuple == b.is_tuple) {
    size_t n = std::min(a.list->size(), b.list->size());
    for (size_t k = 0; k < n; ++k) {
      if (Equal((*a.list)[k], (*b.list)[k])) continue;
      return Compare((*a.list)[k], (*b.list)[k], offset);
    }
    return a.list->size() < b.list->size() ? -1 : a.list->size() > b.list->size() ? 1 : 0;
  }
  if (a.IsUndefined() || b.IsUndefined()) Fail(JinjaError::Kind::kRuntime, offset, (a.IsUndefined() ? a : b).s);
  std::string msg = "cannot compare ";
  msg += TypeName(a);
  msg += " with ";
  msg += TypeName(b);
  Fail(JinjaError::Kind::kRuntime, offset, std::move(msg));
}

std::string TypeName(const Value& v) {
  switch (v.type) {
    case Value::Type::kUndefined: return "undefined";
    case Value::Type::kNone: return "NoneType object";
    case Value::Type::kBool: return "bool object";
    case Value::Type::kInt: return "int object";
    case Value::Type::kFloat: return "float object";
    case Value::Type::kString: return "str object";
    case Value::Type::kList: return v.is_tuple ? "tuple object" : "list object";
    case Value::Type::kDict: return "dict object";
    case Value::Type::kNamespace: return "Namespace object";
    case Value::Type::kCallable: return "function object";
  }
  return "object";
}

std::string FloatRepr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // Shortest round-trip digits, then Python's layout: fixed for 1e-4 <= |d| < 1e16.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t e = sci.find('e');
  std::string mant = sci.substr(0, e);
  int exp = std::stoi(sci.substr(e + 1));
  std::string digits;
  for (char c : mant)
    if (c != '.') digits += c;
  std::string out = neg ? "-" : "";
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      if (digits.size() <= static_cast<size_t>(exp) + 1) {
        out += digits;
        out.append(static_cast<size_t>(exp) + 1 - digits.size(), '0');
        out += ".0";
      } else {
        out += digits.substr(0, static_cast<size_t>(exp) + 1);
        out += '.';
        out += digits.substr(static_cast<size_t>(exp) + 1);
      }
    } else {
      out += "0.";
      out.append(static_cast<size_t>(-exp - 1), '0');
      out += digits;
    }
  } else {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out += digits.substr(1);
    }
    out += 'e';
    out += exp < 0 ? '-' : '+';
    int ax = exp < 0 ? -exp : exp;
    if (ax < 10) out += '0';
    out += std::to_string(ax);
  }
  return out;
}

static void ReprString(std::string& out, const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos;
  bool has_double = s.find('"') != std::string::npos;
  char q = (has_single && !has_double) ? '"' : '\'';
  out += q;
  for (char32_t c : Decode(s)) {
    if (c == static_cast<char32_t>(q) || c == U'\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == U'\n') {
      out += "\\n";
    } else if (c == U'\r') {
      out += "\\r";
    } else if (c == U'\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0xA0) || c == 0xAD) {
      char buf[16];
      std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned>(c));
      out += buf;
    } else if (c == 0x2028 || c == 0x2029 || (c >= 0xD800 && c <= 0xDFFF)) {
      char buf[16];
      std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      AppendUtf8(out, c);
    }
  }
  out += q;
}

static void ReprInto(std::string& out, const Value& v, int depth) {
  if (depth > 2 * static_cast<int>(kMaxValueDepth))
    Fail(JinjaError::Kind::kLimit, SIZE_MAX, "printing a value nested too deeply (a namespace that contains itself?)");
  switch (v.type) {
    case Value::Type::kString: ReprString(out, v.s); return;
    case Value::Type::kList: {
      out += v.is_tuple ? '(' : '[';
      bool first = true;
      for (const Value& x : *v.list) {
        if (!first) out += ", ";
        first = false;
        ReprInto(out, x, depth + 1);
      }
      if (v.is_tuple && v.list->size() == 1) out += ',';
      out += v.is_tuple ? ')' : ']';
      return;
    }
    case Value::Type::kDict:
    case Value::Type::kNamespace: {
      // A namespace prints as jinja2's Namespace repr around the same dict repr.
      const bool ns = v.type == Value::Type::kNamespace;
      out += ns ? "<Namespace {" : "{";
      bool first = true;
      for (const auto& [k, x] : v.dict->items) {
        if (!first) out += ", ";
        first = false;
        ReprInto(out, k, depth + 1);
        out += ": ";
        ReprInto(out, x, depth + 1);
      }
      out += ns ? "}>" : "}";
      return;
    }
    case Value::Type::kUndefined: out += "Undefined"; return;  // jinja2's Undefined.__repr__
    default: out += ToStr(v); return;
  }
}

std::string Repr(const Value& v) {
  std::string out;
  ReprInto(out, v, 0);
  return out;
}

std::string ToStr(const Value& v) {
  switch (v.type) {
    case Value::Type::kUndefined: return "";
    case Value::Type::kNone: return "None";
    case Value::Type::kBool: return v.b ? "True" : "False";
    case Value::Type::kInt: return std::to_string(v.i);
    case Value::Type::kFloat: return FloatRepr(v.f);
    case Value::Type::kString: return v.s;
    case Value::Type::kCallable: return "<function>";
    default: return Repr(v);
  }
}

// ---- json.dumps ----

static void JsonString(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  auto esc = [&](unsigned c) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "\\u%04x", c);
    out += buf;
  };
  if (!ensure_ascii) {
    for (char ch : s) {
      unsigned char c = static_cast<unsigned char>(ch);
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20) esc(c); else out += ch;
      }
    }
  } else {
    for (char32_t c : Decode(s)) {
      switch (c) {
        case U'"': out += "\\\""; break;
        case U'\\': out += "\\\\"; break;
        case U'\n': out += "\\n"; break;
        case U'\r': out += "\\r"; break;
        case U'\t': out += "\\t"; break;
        case U'\b': out += "\\b"; break;
        case U'\f': out += "\\f"; break;
        default:
          if (c < 0x20 || c > 0x7E) {
            if (c >= 0x10000) {
              char32_t x = c - 0x10000;
              esc(static_cast<unsigned>(0xD800 + (x >> 10)));
              esc(static_cast<unsigned>(0xDC00 + (x & 0x3FF)));
            } else {
              esc(static_cast<unsigned>(c));
            }
          } else {
            out += static_cast<char>(c);
          }
      }
    }
  }
  out += '"';
}

static std::string JsonFloat(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return FloatRepr(d);
}

static void JsonInto(std::string& out, const Value& v, const JsonOptions& opt, int level, size_t offset, int depth) {
  if (depth > 200) Fail(JinjaError::Kind::kLimit, offset, "tojson: value nested too deeply");
  auto newline = [&](int lvl) {
    out += '\n';
    for (int k = 0; k < lvl; ++k) {
      if (opt.indent_is_str) out += opt.indent_str; else out.append(static_cast<size_t>(opt.indent), ' ');
    }
  };
  bool indented = opt.indent >= 0 || opt.indent_is_str;
  switch (v.type) {
    case Value::Type::kNone: out += "null"; return;
    case Value::Type::kBool: out += v.b ? "true" : "false"; return;
    case Value::Type::kInt: out += std::to_string(v.i); return;
    case Value::Type::kFloat: out += JsonFloat(v.f); return;
    case Value::Type::kString: JsonString(out, v.s, opt.ensure_ascii); return;
    case Value::Type::kList: {
      if (v.list->empty()) { out += "[]"; return; }
      out += '[';
      bool first = true;
      for (const Value& x : *v.list) {
        if (!first) out += opt.item_sep;
        first = false;
        if (indented) newline(level + 1);
        JsonInto(out, x, opt, level + 1, offset, depth + 1);
      }
      if (indented) newline(level);
      out += ']';
      return;
    }
    case Value::Type::kDict: {
      if (v.dict->items.empty()) { out += "{}"; return; }
      std::vector<std::pair<std::string, const Value*>> items;
      for (const auto& [k, x] : v.dict->items) {
        std::string key;
        switch (k.type) {
          case Value::Type::kString: key = k.s; break;
          case Value::Type::kInt: key = std::to_string(k.i); break;
          case Value::Type::kFloat: key = JsonFloat(k.f); break;
          case Value::Type::kBool: key = k.b ? "true" : "false"; break;
          case Value::Type::kNone: key = "null"; break;
          default: Fail(JinjaError::Kind::kRuntime, offset, "tojson: keys must be str, int, float, bool or None, not " + TypeName(k));
        }
        items.emplace_back(std::move(key), &x);
      }
      if (opt.sort_keys)
        std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      out += '{';
      bool first = true;
      for (const auto& [key, x] : items) {
        if (!first) out += opt.item_sep;
        first = false;
        if (indented) newline(level + 1);
        JsonString(out, key, opt.ensure_ascii);
        out += opt.key_sep;
        JsonInto(out, *x, opt, level + 1, offset, depth + 1);
      }
      if (indented) newline(level);
      out += '}';
      return;
    }
    case Value::Type::kUndefined:
      Fail(JinjaError::Kind::kRuntime, offset, v.s.empty() ? "tojson: Object of type Undefined is not JSON serializable" : v.s);
    default: {
      std::string msg = "tojson: Object of type ";
      msg += TypeName(v);
      msg += " is not JSON serializable";
      Fail(JinjaError::Kind::kRuntime, offset, std::move(msg));
    }
  }
}

std::string ToJson(const Value& v, const JsonOptions& opt, size_t offset) {
  std::string out;
  JsonInto(out, v, opt, 0, offset, 0);
  return out;
}

Value FromJson(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::None();
    case nlohmann::ordered_json::value_t::boolean: return Value::Bool(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::Int(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) return Value::Int(static_cast<int64_t>(u));
      return Value::Float(static_cast<double>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return Value::Float(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value::Str(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      List items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(FromJson(x));
      return Value::MakeList(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      auto d = std::make_shared<Dict>();
      d->items.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) d->items.emplace_back(Value::Str(it.key()), FromJson(it.value()));
      return Value::MakeDict(std::move(d));
    }
    default: return Value::None();
  }
}

}  // namespace detinfer::jinja
