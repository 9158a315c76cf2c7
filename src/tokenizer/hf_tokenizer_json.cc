#include "tokenizer/hf_tokenizer_json.h"

#include <nlohmann/json.hpp>

#include "core/json_depth.h"
#include "core/mapped_file.h"

#include "tokenizer/byte_level_bpe.h"
#include "tokenizer/hf_json_internal.h"
#include "tokenizer/hf_pipeline.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/utf8.h"
#include "tokenizer/word_level.h"

namespace detinfer {
namespace hf_json_internal {
namespace {

Status ParseAddedTokens(const json& root, const std::string& src, ByteLevelBpeParts* parts) {
  auto added = root.find("added_tokens");
  if (added == root.end() || added->is_null()) return Status::Ok();
  if (!added->is_array()) return TypeError(src, "added_tokens", "an array");
  for (size_t i = 0; i < added->size(); ++i) {
    const json& a = (*added)[i];
    const std::string path = "added_tokens[" + std::to_string(i) + "]";
    if (!a.is_object()) return TypeError(src, path, "an object");
    AddedToken t;
    auto id = a.find("id");
    if (id == a.end() || !id->is_number_integer()) return TypeError(src, path + ".id", "an integer");
    const int64_t v = id->get<int64_t>();
    if (v < 0 || v > INT32_MAX) {
      return Status::InvalidArgument(src + ": " + path + ".id " + std::to_string(v) + " is invalid");
    }
    t.id = static_cast<int32_t>(v);
    auto content = a.find("content");
    if (content == a.end()) return Status::InvalidArgument(src + ": " + path + " has no content");
    DETINFER_ASSIGN_OR_RETURN(t.content, GetString(*content, src, path + ".content"));
    DETINFER_ASSIGN_OR_RETURN(t.lstrip, GetBool(a, "lstrip", false, src, path));
    DETINFER_ASSIGN_OR_RETURN(t.rstrip, GetBool(a, "rstrip", false, src, path));
    DETINFER_ASSIGN_OR_RETURN(t.special, GetBool(a, "special", false, src, path));
    DETINFER_ASSIGN_OR_RETURN(t.single_word, GetBool(a, "single_word", false, src, path));
    DETINFER_ASSIGN_OR_RETURN(t.normalized, GetBool(a, "normalized", false, src, path));
    parts->added_tokens.push_back(std::move(t));
  }
  return Status::Ok();
}

// The id of token text `name` (added tokens first, then the model vocabulary); -1 if absent.
int32_t LookUp(const ByteLevelBpeParts& parts, const std::string& name) {
  for (const AddedToken& a : parts.added_tokens) {
    if (a.content == name) return a.id;
  }
  for (const auto& [text, id] : parts.vocab) {
    if (text == name) return id;
  }
  return -1;
}

// The byte-level BPE and WordLevel tokenizers as before the general pipeline (hf_pipeline.h):
// anything they would treat differently from Hugging Face is Unsupported here, and the caller
// then tries the general pipeline.
Result<std::unique_ptr<Tokenizer>> LegacyFromJson(const json& root, const std::string& source,
                                                  const HfTokenizerOptions& options) {
  ByteLevelBpeParts parts;
  parts.source = source;
  std::string unk;
  bool word_level = false;
  DETINFER_RETURN_IF_ERROR(ParseModel(root, source, &parts, &unk, &word_level));
  DETINFER_RETURN_IF_ERROR(ParseAddedTokens(root, source, &parts));
  if (auto n = root.find("normalizer"); n != root.end()) {
    DETINFER_RETURN_IF_ERROR(ParseNormalizer(*n, source, "normalizer", &parts.normalizer));
  }
  for (const AddedToken& a : parts.added_tokens) {
    if (a.single_word || (a.normalized && !parts.normalizer.empty())) {
      // The general pipeline handles these; WordLevel files have no other path.
      return Status::Unsupported(source + ": added token '" + a.content + "' sets " +
                                 (a.single_word ? "single_word" : "normalized") +
                                 (word_level ? ", which is not supported with a WordLevel model"
                                             : ", which needs the general pipeline"));
    }
  }
  bool byte_level = false;
  if (auto p = root.find("pre_tokenizer"); p != root.end() && !p->is_null()) {
    DETINFER_RETURN_IF_ERROR(
        ParsePreTokenizer(*p, source, "pre_tokenizer", &parts.pre_tokenizer, &byte_level));
  }
  if (word_level && byte_level) {
    return Status::Unsupported(source + ": a WordLevel model with a ByteLevel pre-tokenizer is "
                               "not supported");
  }
  if (word_level) {
    // Decoding joins tokens with spaces, Hugging Face's rule when there is no decoder; any
    // decoder would change that.
    if (auto d = root.find("decoder"); d != root.end() && !d->is_null()) {
      DETINFER_ASSIGN_OR_RETURN(std::string type, GetType(*d, source, "decoder"));
      return Status::Unsupported(source + ": decoder '" + type +
                                 "' is not supported for a WordLevel model (only none is)");
    }
  } else if (!byte_level) {
    return Status::Unsupported(source + ": pre_tokenizer has no ByteLevel step; only byte-level "
                               "BPE tokenizer.json files are supported");
  }
  auto resolve = [&](const std::string& name, const char* what, int32_t* id) -> Status {
    if (name.empty()) return Status::Ok();
    *id = LookUp(parts, name);
    if (*id < 0) {
      return Status::InvalidArgument(source + ": " + what + " '" + name +
                                     "' is not in the vocabulary");
    }
    return Status::Ok();
  };
  DETINFER_RETURN_IF_ERROR(resolve(unk, "model.unk_token", &parts.unk_id));
  std::string bos = options.bos_token;
  if (bos.empty()) {
    if (auto pp = root.find("post_processor"); pp != root.end()) bos = TemplateBos(*pp);
  }
  DETINFER_RETURN_IF_ERROR(resolve(bos, "BOS token", &parts.bos_id));
  DETINFER_RETURN_IF_ERROR(resolve(options.eos_token, "EOS token", &parts.eos_id));
  if (word_level) {
    WordLevelParts w;
    w.source = std::move(parts.source);
    w.vocab = std::move(parts.vocab);
    w.added_tokens = std::move(parts.added_tokens);
    w.normalizer = std::move(parts.normalizer);
    w.pre_tokenizer = std::move(parts.pre_tokenizer);
    w.unk_id = parts.unk_id;
    w.bos_id = parts.bos_id;
    w.eos_id = parts.eos_id;
    return MakeWordLevel(std::move(w));
  }
  if (auto d = root.find("decoder"); d != root.end() && !d->is_null()) {
    DETINFER_ASSIGN_OR_RETURN(std::string type, GetType(*d, source, "decoder"));
    if (type != "ByteLevel") {
      return Status::Unsupported(source + ": decoder '" + type + "' needs the general pipeline");
    }
  }
  return MakeByteLevelBpe(std::move(parts));
}

bool IsWordLevel(const json& root) {
  auto m = root.find("model");
  if (m == root.end() || !m->is_object()) return false;
  auto t = m->find("type");
  return t != m->end() && t->is_string() && *t == "WordLevel";
}

Result<std::unique_ptr<Tokenizer>> PipelineFromJson(const json& root, const std::string& src) {
  HfPipelineParts parts;
  parts.source = src;
  DETINFER_RETURN_IF_ERROR(ParsePipelineModel(root, src, &parts));
  ByteLevelBpeParts added;
  DETINFER_RETURN_IF_ERROR(ParseAddedTokens(root, src, &added));
  parts.added_tokens = std::move(added.added_tokens);
  if (auto n = root.find("normalizer"); n != root.end()) {
    DETINFER_RETURN_IF_ERROR(ParsePipelineNormalizer(*n, src, "normalizer", &parts.normalizer));
  }
  if (auto p = root.find("pre_tokenizer"); p != root.end()) {
    DETINFER_RETURN_IF_ERROR(ParsePipelinePreTokenizer(*p, src, "pre_tokenizer", &parts.pre_tokenizer));
  }
  if (auto d = root.find("decoder"); d != root.end() && !d->is_null()) {
    parts.has_decoder = true;
    DETINFER_RETURN_IF_ERROR(ParsePipelineDecoder(*d, src, "decoder", &parts.decoder));
  }
  return MakeHfPipeline(std::move(parts));
}

}  // namespace
}  // namespace hf_json_internal

// The steps above and the component parsers share hf_json_internal; the public entry points
// below name the ones they call.
using hf_json_internal::IsWordLevel;
using hf_json_internal::json;
using hf_json_internal::LegacyFromJson;
using hf_json_internal::PipelineFromJson;
using hf_json_internal::SpecialRules;

Result<std::unique_ptr<Tokenizer>> ParseHfTokenizerJson(std::string_view text,
                                                        const std::string& source,
                                                        const HfTokenizerOptions& options) {
  // nlohmann reports malformed JSON by exception; it is turned into a Status right here.
  DETINFER_RETURN_IF_ERROR(CheckJsonDepth(text, kMaxJsonDepth, source));
  json root;
  try {
    root = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return Status::InvalidArgument(source + ": not valid JSON: " + e.what());
  }
  if (!root.is_object()) return Status::InvalidArgument(source + ": top level is not an object");
  auto legacy = LegacyFromJson(root, source, options);
  std::unique_ptr<Tokenizer> model;
  if (legacy.ok()) {
    model = std::move(legacy).value();
  } else if (legacy.status().code() == StatusCode::kUnsupported && !IsWordLevel(root)) {
    DETINFER_ASSIGN_OR_RETURN(model, PipelineFromJson(root, source));
  } else {
    return legacy.status();
  }
  DETINFER_ASSIGN_OR_RETURN(SpecialTokenRules rules, SpecialRules(root, source, options));
  return WithSpecialTokenRules(std::move(model), std::move(rules), source);
}

HfTokenizerOptions HfOptionsFromConfig(std::string_view text) {
  HfTokenizerOptions o;
  if (!CheckJsonDepth(text, kMaxJsonDepth, "tokenizer_config.json").ok()) return o;
  const json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return o;
  auto name = [&](const char* key) -> std::string {
    auto it = j.find(key);
    if (it == j.end()) return "";
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
      return (*it)["content"].get<std::string>();
    }
    return "";
  };
  o.bos_token = name("bos_token");
  o.eos_token = name("eos_token");
  if (auto it = j.find("tokenizer_class"); it != j.end() && it->is_string()) {
    o.tokenizer_class = it->get<std::string>();
  }
  for (auto [key, flag] : {std::pair{"add_bos_token", &o.add_bos_token},
                           std::pair{"add_eos_token", &o.add_eos_token}}) {
    if (auto it = j.find(key); it != j.end() && it->is_boolean()) *flag = it->get<bool>();
  }
  return o;
}

Result<std::unique_ptr<Tokenizer>> LoadHfTokenizerJson(const std::string& path,
                                                       const HfTokenizerOptions& options) {
  DETINFER_ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  const char* data = reinterpret_cast<const char*>(file.data());
  return ParseHfTokenizerJson(std::string_view(data, file.size()), path, options);
}

}  // namespace detinfer
