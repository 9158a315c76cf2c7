// tokenizer.json "model": BPE and WordLevel for the byte-level BPE / WordLevel tokenizers, BPE
// and Unigram for the general pipeline.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>

#include "tokenizer/hf_json_internal.h"

namespace detinfer {
namespace hf_json_internal {
namespace {

Status ParseMerges(const json& merges, const std::string& src, ByteLevelBpeParts* parts) {
  if (!merges.is_array()) return TypeError(src, "model.merges", "an array");
  parts->merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    const std::string path = "model.merges[" + std::to_string(i) + "]";
    if (m.is_string()) {
      // Split at the first space after the first byte (llama.cpp does the same), so a left side
      // cannot be empty.
      const std::string& s = m.get_ref<const std::string&>();
      const size_t sp = s.find(' ', 1);
      if (sp == std::string::npos || sp + 1 >= s.size()) {
        return Status::InvalidArgument(src + ": " + path + " '" + s +
                                       "' is not two tokens separated by a space");
      }
      parts->merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      parts->merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      return TypeError(src, path, "a string \"a b\" or a pair [\"a\", \"b\"]");
    }
  }
  return Status::Ok();
}

}  // namespace

// Reads model.type ("BPE" when absent) into *word_level: true for "WordLevel", whose fields are
// vocab and unk_token only.
Status ParseModel(const json& root, const std::string& src, ByteLevelBpeParts* parts,
                  std::string* unk_token, bool* word_level) {
  auto model_it = root.find("model");
  if (model_it == root.end() || !model_it->is_object()) {
    return Status::InvalidArgument(src + ": missing \"model\" object");
  }
  const json& model = *model_it;
  if (auto t = model.find("type"); t != model.end()) {
    DETINFER_ASSIGN_OR_RETURN(std::string type, GetString(*t, src, "model.type"));
    if (type != "BPE" && type != "WordLevel") {
      return Status::Unsupported(src + ": model.type '" + type +
                                 "' is not supported (BPE and WordLevel are)");
    }
    *word_level = type == "WordLevel";
  }
  auto vocab = model.find("vocab");
  if (vocab == model.end() || !vocab->is_object()) {
    return Status::InvalidArgument(src + ": missing \"model.vocab\" object");
  }
  parts->vocab.reserve(vocab->size());
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it->is_number_integer()) return TypeError(src, "model.vocab['" + it.key() + "']", "an integer id");
    const int64_t id = it->get<int64_t>();
    if (id < 0 || id > INT32_MAX) {
      return Status::InvalidArgument(src + ": model.vocab['" + it.key() + "'] has invalid id " +
                                     std::to_string(id));
    }
    parts->vocab.emplace_back(it.key(), static_cast<int32_t>(id));
  }
  if (*word_level) {
    if (auto u = model.find("unk_token"); u != model.end() && !u->is_null()) {
      DETINFER_ASSIGN_OR_RETURN(*unk_token, GetString(*u, src, "model.unk_token"));
    }
    return Status::Ok();
  }
  if (auto m = model.find("merges"); m != model.end()) {
    DETINFER_RETURN_IF_ERROR(ParseMerges(*m, src, parts));
  }
  DETINFER_ASSIGN_OR_RETURN(parts->ignore_merges, GetBool(model, "ignore_merges", false, src, "model"));
  DETINFER_ASSIGN_OR_RETURN(bool byte_fallback, GetBool(model, "byte_fallback", false, src, "model"));
  if (byte_fallback) return Status::Unsupported(src + ": model.byte_fallback = true is not supported");
  if (auto d = model.find("dropout"); d != model.end() && !d->is_null()) {
    if (!d->is_number()) return TypeError(src, "model.dropout", "a number or null");
    if (d->get<double>() > 0.0) {
      return Status::Unsupported(src + ": model.dropout > 0 is random and is not supported");
    }
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto f = model.find(key);
    if (f != model.end() && !f->is_null() && !(f->is_string() && f->get<std::string>().empty())) {
      return Status::Unsupported(src + ": model." + key + " is not supported");
    }
  }
  if (auto u = model.find("unk_token"); u != model.end() && !u->is_null()) {
    DETINFER_ASSIGN_OR_RETURN(*unk_token, GetString(*u, src, "model.unk_token"));
    DETINFER_ASSIGN_OR_RETURN(bool fuse_unk, GetBool(model, "fuse_unk", false, src, "model"));
    if (fuse_unk) return Status::Unsupported(src + ": model.fuse_unk needs the general pipeline");
  }
  return Status::Ok();
}

Status ParsePipelineModel(const json& root, const std::string& src, HfPipelineParts* parts) {
  auto model_it = root.find("model");
  if (model_it == root.end() || !model_it->is_object()) {
    return Status::InvalidArgument(src + ": missing \"model\" object");
  }
  const json& model = *model_it;
  std::string type = "BPE";
  if (auto t = model.find("type"); t != model.end()) {
    DETINFER_ASSIGN_OR_RETURN(type, GetString(*t, src, "model.type"));
  }
  if (type == "Unigram") {
    parts->model = HfPipelineParts::Model::kUnigram;
    auto vocab = model.find("vocab");
    if (vocab == model.end() || !vocab->is_array()) {
      return TypeError(src, "model.vocab", "an array of [piece, score] pairs");
    }
    for (size_t i = 0; i < vocab->size(); ++i) {
      const json& e = (*vocab)[i];
      const std::string path = "model.vocab[" + std::to_string(i) + "]";
      if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number()) {
        return TypeError(src, path, "a [piece, score] pair");
      }
      parts->vocab.emplace_back(e[0].get<std::string>(), static_cast<int32_t>(i));
      parts->scores.push_back(e[1].get<double>());
      if (!std::isfinite(parts->scores.back())) {
        return Status::InvalidArgument(src + ": " + path + " has a score that is not finite");
      }
    }
    if (auto u = model.find("unk_id"); u != model.end() && !u->is_null()) {
      if (!u->is_number_integer() || u->get<int64_t>() < 0 ||
          u->get<int64_t>() >= static_cast<int64_t>(vocab->size())) {
        return TypeError(src, "model.unk_id", "null or an index into model.vocab");
      }
      parts->unk_id = static_cast<int32_t>(u->get<int64_t>());
    }
    DETINFER_ASSIGN_OR_RETURN(parts->byte_fallback,
                              GetBool(model, "byte_fallback", false, src, "model"));
    return Status::Ok();
  }
  if (type != "BPE") {
    return Status::Unsupported(src + ": model.type '" + type +
                               "' is not supported (BPE, Unigram and WordLevel are)");
  }
  ByteLevelBpeParts bpe;
  std::string unk;
  bool word_level = false;
  // ParseModel refuses byte_fallback and fuse_unk for the byte-level path; read them first and
  // hide them from it.
  json copy = model;
  DETINFER_ASSIGN_OR_RETURN(parts->byte_fallback, GetBool(model, "byte_fallback", false, src, "model"));
  DETINFER_ASSIGN_OR_RETURN(parts->fuse_unk, GetBool(model, "fuse_unk", false, src, "model"));
  copy.erase("byte_fallback");
  copy.erase("fuse_unk");
  json shell = json::object();
  shell["model"] = std::move(copy);
  DETINFER_RETURN_IF_ERROR(ParseModel(shell, src, &bpe, &unk, &word_level));
  parts->vocab = std::move(bpe.vocab);
  parts->merges = std::move(bpe.merges);
  parts->ignore_merges = bpe.ignore_merges;
  if (!unk.empty()) {
    for (const auto& [text, id] : parts->vocab) {
      if (text == unk) parts->unk_id = id;
    }
    // Hugging Face ignores an unk_token missing from the vocabulary until it is needed, then
    // fails; detinfer refuses the file at once.
    if (parts->unk_id < 0) {
      return Status::InvalidArgument(src + ": model.unk_token '" + unk +
                                     "' is not in the model vocabulary");
    }
  }
  return Status::Ok();
}

}  // namespace hf_json_internal
}  // namespace detinfer
