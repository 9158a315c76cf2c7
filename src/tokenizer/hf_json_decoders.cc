// tokenizer.json "decoder" for the general pipeline.
#include <nlohmann/json.hpp>

#include "tokenizer/hf_json_internal.h"

namespace detinfer {
namespace hf_json_internal {

Status ParsePipelineDecoder(const json& j, const std::string& src, const std::string& path,
                            std::vector<HfDecoderStep>* out) {
  DETINFER_ASSIGN_OR_RETURN(std::string type, GetType(j, src, path));
  HfDecoderStep step;
  if (type == "Sequence") {
    return ForEachPart(j, "decoders", src, path, [&](const json& p, const std::string& at) {
      return ParsePipelineDecoder(p, src, at, out);
    });
  } else if (type == "Replace") {
    step.kind = HfDecoderStep::Kind::kReplace;
    std::shared_ptr<RegexSplitter> regex;
    DETINFER_RETURN_IF_ERROR(ParsePattern(j, src, path, &step.literal, &regex));
    if (regex && j["pattern"].contains("Regex")) step.regex = regex;
    auto it = j.find("content");
    if (it == j.end()) return TypeError(src, path + ".content", "a string");
    DETINFER_ASSIGN_OR_RETURN(step.content, GetString(*it, src, path + ".content"));
  } else if (type == "ByteFallback") {
    step.kind = HfDecoderStep::Kind::kByteFallback;
  } else if (type == "Fuse") {
    step.kind = HfDecoderStep::Kind::kFuse;
  } else if (type == "Strip") {
    step.kind = HfDecoderStep::Kind::kStrip;
    DETINFER_ASSIGN_OR_RETURN(step.content, GetOneChar(j, "content", " ", src, path));
    DETINFER_ASSIGN_OR_RETURN(step.start, GetCount(j, "start", src, path));
    DETINFER_ASSIGN_OR_RETURN(step.stop, GetCount(j, "stop", src, path));
  } else if (type == "Metaspace") {
    step.kind = HfDecoderStep::Kind::kMetaspace;
    DETINFER_ASSIGN_OR_RETURN(step.content, GetOneChar(j, "replacement", "\u2581", src, path));
    DETINFER_ASSIGN_OR_RETURN(HfPreTokenizerStep::Prepend p, ParsePrependScheme(j, src, path));
    step.strip_first = p != HfPreTokenizerStep::Prepend::kNever;
  } else if (type == "ByteLevel") {
    step.kind = HfDecoderStep::Kind::kByteLevel;
  } else {
    return Status::Unsupported(Unsupported(src, path, type));
  }
  out->push_back(std::move(step));
  return Status::Ok();
}

}  // namespace hf_json_internal
}  // namespace detinfer
