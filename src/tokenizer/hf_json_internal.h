// Internal to the hf_tokenizer_json.cc loader and the hf_json_*.cc files that parse each
// tokenizer.json component: the field readers they share (hf_json_fields.cc) and one parser
// per component, each in its own file: normalizers (hf_json_normalizers.cc), pre-tokenizers
// (hf_json_pre_tokenizers.cc), models (hf_json_models.cc), decoders (hf_json_decoders.cc) and
// the post_processor with the special-token rules (hf_json_post_processor.cc). Parsers named
// Parse<Component> fill the byte-level BPE / WordLevel parts (byte_level_bpe.h), those named
// ParsePipeline<Component> the general pipeline's (hf_pipeline.h).
#ifndef DETINFER_TOKENIZER_HF_JSON_INTERNAL_H_
#define DETINFER_TOKENIZER_HF_JSON_INTERNAL_H_

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/byte_level_bpe.h"
#include "tokenizer/hf_pipeline.h"
#include "tokenizer/hf_tokenizer_json.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/regex_split.h"
#include "tokenizer/special_tokens.h"

namespace detinfer {
namespace hf_json_internal {

using json = nlohmann::json;

// Field readers (hf_json_fields.cc). None throws: a wrong type is an error naming the JSON path.
Status TypeError(const std::string& src, const std::string& path, const char* want);
Result<std::string> GetString(const json& j, const std::string& src, const std::string& path);
Result<bool> GetBool(const json& obj, const char* key, bool dflt, const std::string& src,
                     const std::string& path);
Result<std::string> GetType(const json& obj, const std::string& src, const std::string& path);
std::string StringField(const json& obj, const char* key);
bool TrueField(const json& obj, const char* key);
std::string Unsupported(const std::string& src, const std::string& path, const std::string& type);
// The parts of a "Sequence" component (`key`: "normalizers", "pretokenizers", "decoders",
// "processors"), each passed in order to parse(part, its JSON path).
template <typename ParsePart>
Status ForEachPart(const json& j, const char* key, const std::string& src, const std::string& path,
                   ParsePart parse) {
  std::string list = path;
  list += '.';
  list += key;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return TypeError(src, list, "an array");
  for (size_t i = 0; i < it->size(); ++i) {
    std::string part = list;
    part += '[';
    part += std::to_string(i);
    part += ']';
    DETINFER_RETURN_IF_ERROR(parse((*it)[i], part));
  }
  return Status::Ok();
}
Status ParsePattern(const json& j, const std::string& src, const std::string& path,
                    std::string* literal, std::shared_ptr<RegexSplitter>* regex,
                    SplitBehavior behavior = SplitBehavior::kIsolated, bool invert = false);
Result<std::string> GetOneChar(const json& obj, const char* key, const std::string& dflt,
                               const std::string& src, const std::string& path);
Result<size_t> GetCount(const json& obj, const char* key, const std::string& src,
                        const std::string& path);

// Normalizers (hf_json_normalizers.cc).
Status ParseNormalizer(const json& j, const std::string& src, const std::string& path,
                       std::vector<NormalForm>* out);
Status ParsePipelineNormalizer(const json& j, const std::string& src, const std::string& path,
                               std::vector<HfNormalizerStep>* out);

// Pre-tokenizers (hf_json_pre_tokenizers.cc); ParsePrependScheme serves the Metaspace decoder
// too.
Status ParsePreTokenizer(const json& j, const std::string& src, const std::string& path,
                         std::vector<PreTokenizerStep>* steps, bool* byte_level);
Result<HfPreTokenizerStep::Prepend> ParsePrependScheme(const json& j, const std::string& src,
                                                       const std::string& path);
Status ParsePipelinePreTokenizer(const json& j, const std::string& src, const std::string& path,
                                 std::vector<HfPreTokenizerStep>* out);

// Models (hf_json_models.cc).
Status ParseModel(const json& root, const std::string& src, ByteLevelBpeParts* parts,
                  std::string* unk_token, bool* word_level);
Status ParsePipelineModel(const json& root, const std::string& src, HfPipelineParts* parts);

// Decoders (hf_json_decoders.cc).
Status ParsePipelineDecoder(const json& j, const std::string& src, const std::string& path,
                            std::vector<HfDecoderStep>* out);

// Post-processor and special-token rules (hf_json_post_processor.cc).
std::string TemplateBos(const json& pp);
Result<SpecialTokenRules> SpecialRules(const json& root, const std::string& src,
                                       const HfTokenizerOptions& options);

}  // namespace hf_json_internal
}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_HF_JSON_INTERNAL_H_
