// The tokenizer.json field readers the component parsers share.
#include <nlohmann/json.hpp>

#include "tokenizer/hf_json_internal.h"
#include "tokenizer/utf8.h"

namespace detinfer {
namespace hf_json_internal {

// Field accessors that never throw: a wrong type is an error naming the JSON path.
Status TypeError(const std::string& src, const std::string& path, const char* want) {
  return Status::InvalidArgument(src + ": " + path + " must be " + want);
}

Result<std::string> GetString(const json& j, const std::string& src, const std::string& path) {
  if (!j.is_string()) return TypeError(src, path, "a string");
  return j.get<std::string>();
}

Result<bool> GetBool(const json& obj, const char* key, bool dflt, const std::string& src,
                     const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return dflt;
  if (!it->is_boolean()) return TypeError(src, path + "." + key, "a boolean");
  return it->get<bool>();
}

Result<std::string> GetType(const json& obj, const std::string& src, const std::string& path) {
  if (!obj.is_object()) return TypeError(src, path, "an object");
  auto it = obj.find("type");
  if (it == obj.end()) return Status::InvalidArgument(src + ": " + path + " has no \"type\"");
  return GetString(*it, src, path + ".type");
}

// obj[key] if it is a string / true boolean, without nlohmann's throwing value().
std::string StringField(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}
bool TrueField(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}

std::string Unsupported(const std::string& src, const std::string& path, const std::string& type) {
  std::string msg = src;
  msg += ": ";
  msg += path;
  msg += ": type '";
  msg += type;
  msg += "' is not supported";
  return msg;
}

// {"String": s} or {"Regex": r}, as Replace and Split patterns are written.
Status ParsePattern(const json& j, const std::string& src, const std::string& path,
                    std::string* literal, std::shared_ptr<RegexSplitter>* regex,
                    SplitBehavior behavior, bool invert) {
  auto pat = j.find("pattern");
  if (pat == j.end() || !pat->is_object()) return TypeError(src, path + ".pattern", "an object");
  if (auto r = pat->find("Regex"); r != pat->end()) {
    DETINFER_ASSIGN_OR_RETURN(std::string p, GetString(*r, src, path + ".pattern.Regex"));
    DETINFER_ASSIGN_OR_RETURN(RegexSplitter s, RegexSplitter::Compile(p, false, behavior,
                                                                     src + ": " + path + ".pattern.Regex", invert));
    *regex = std::make_shared<RegexSplitter>(std::move(s));
    return Status::Ok();
  }
  if (auto s = pat->find("String"); s != pat->end()) {
    DETINFER_ASSIGN_OR_RETURN(*literal, GetString(*s, src, path + ".pattern.String"));
    if (regex != nullptr && literal->empty() == false) {
      DETINFER_ASSIGN_OR_RETURN(RegexSplitter rs, RegexSplitter::Compile(*literal, true, behavior,
                                                                        src + ": " + path + ".pattern.String", invert));
      *regex = std::make_shared<RegexSplitter>(std::move(rs));
    }
    return Status::Ok();
  }
  return Status::InvalidArgument(src + ": " + path + ".pattern has neither Regex nor String");
}

Result<std::string> GetOneChar(const json& obj, const char* key, const std::string& dflt,
                               const std::string& src, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return dflt;
  DETINFER_ASSIGN_OR_RETURN(std::string s, GetString(*it, src, path + "." + key));
  DETINFER_RETURN_IF_ERROR(ValidateUtf8(s, src + ": " + path + "." + key));
  if (s.empty() || Utf8CharLength(s, 0) != s.size()) {
    return Status::InvalidArgument(src + ": " + path + "." + key + " must be one character, got '" +
                                   s + "'");
  }
  return s;
}

Result<size_t> GetCount(const json& obj, const char* key, const std::string& src,
                        const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_unsigned()) {
    return TypeError(src, path + "." + key, "a non-negative integer");
  }
  return it->get<size_t>();
}

}  // namespace hf_json_internal
}  // namespace detinfer
