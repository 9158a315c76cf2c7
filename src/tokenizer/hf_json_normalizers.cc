// tokenizer.json "normalizer": Unicode forms for byte-level BPE / WordLevel, the general
// pipeline's steps otherwise.
#include <nlohmann/json.hpp>

#include "tokenizer/hf_json_internal.h"

namespace detinfer {
namespace hf_json_internal {

Status ParseNormalizer(const json& j, const std::string& src, const std::string& path,
                       std::vector<NormalForm>* out) {
  if (j.is_null()) return Status::Ok();
  DETINFER_ASSIGN_OR_RETURN(std::string type, GetType(j, src, path));
  if (type == "Sequence") {
    return ForEachPart(j, "normalizers", src, path, [&](const json& p, const std::string& at) {
      return ParseNormalizer(p, src, at, out);
    });
  }
  DETINFER_ASSIGN_OR_RETURN(NormalForm form, ParseNormalForm(type, src + ": " + path));
  out->push_back(form);
  return Status::Ok();
}

Status ParsePipelineNormalizer(const json& j, const std::string& src, const std::string& path,
                               std::vector<HfNormalizerStep>* out) {
  if (j.is_null()) return Status::Ok();
  DETINFER_ASSIGN_OR_RETURN(std::string type, GetType(j, src, path));
  HfNormalizerStep step;
  if (type == "Sequence") {
    return ForEachPart(j, "normalizers", src, path, [&](const json& p, const std::string& at) {
      return ParsePipelineNormalizer(p, src, at, out);
    });
  } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    step.kind = HfNormalizerStep::Kind::kUnicode;
    DETINFER_ASSIGN_OR_RETURN(step.form, ParseNormalForm(type, src + ": " + path));
  } else if (type == "Lowercase") {
    step.kind = HfNormalizerStep::Kind::kLowercase;
  } else if (type == "Strip") {
    step.kind = HfNormalizerStep::Kind::kStrip;
    DETINFER_ASSIGN_OR_RETURN(step.left, GetBool(j, "strip_left", false, src, path));
    DETINFER_ASSIGN_OR_RETURN(step.right, GetBool(j, "strip_right", false, src, path));
  } else if (type == "Prepend") {
    step.kind = HfNormalizerStep::Kind::kPrepend;
    auto it = j.find("prepend");
    if (it == j.end()) return TypeError(src, path + ".prepend", "a string");
    DETINFER_ASSIGN_OR_RETURN(step.text, GetString(*it, src, path + ".prepend"));
  } else if (type == "Replace") {
    step.kind = HfNormalizerStep::Kind::kReplace;
    std::shared_ptr<RegexSplitter> regex;
    DETINFER_RETURN_IF_ERROR(ParsePattern(j, src, path, &step.literal, &regex));
    if (regex && j["pattern"].contains("Regex")) step.regex = regex;
    auto it = j.find("content");
    if (it == j.end()) return TypeError(src, path + ".content", "a string");
    DETINFER_ASSIGN_OR_RETURN(step.text, GetString(*it, src, path + ".content"));
  } else {
    return Status::Unsupported(Unsupported(src, path, type));
  }
  out->push_back(std::move(step));
  return Status::Ok();
}

}  // namespace hf_json_internal
}  // namespace detinfer
