#include "tokenizer/hf_tokenizer_json.h"

#include <nlohmann/json.hpp>

#include "core/json_depth.h"
#include "core/mapped_file.h"
#include "tokenizer/byte_level_bpe.h"
#include "tokenizer/word_level.h"

namespace detinfer {
namespace {

using nlohmann::json;

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

Status ParseNormalizer(const json& j, const std::string& src, const std::string& path,
                       std::vector<NormalForm>* out) {
  if (j.is_null()) return Status::Ok();
  DETINFER_ASSIGN_OR_RETURN(std::string type, GetType(j, src, path));
  if (type == "Sequence") {
    auto it = j.find("normalizers");
    if (it == j.end() || !it->is_array()) return TypeError(src, path + ".normalizers", "an array");
    for (size_t i = 0; i < it->size(); ++i) {
      DETINFER_RETURN_IF_ERROR(
          ParseNormalizer((*it)[i], src, path + ".normalizers[" + std::to_string(i) + "]", out));
    }
    return Status::Ok();
  }
  DETINFER_ASSIGN_OR_RETURN(NormalForm form, ParseNormalForm(type, src + ": " + path));
  out->push_back(form);
  return Status::Ok();
}

// Appends the steps of one pre-tokenizer; *byte_level is set when a ByteLevel step was seen
// (it must be the last one: its byte mapping happens after all splitting here).
Status ParsePreTokenizer(const json& j, const std::string& src, const std::string& path,
                         std::vector<PreTokenizerStep>* steps, bool* byte_level) {
  DETINFER_ASSIGN_OR_RETURN(std::string type, GetType(j, src, path));
  if (*byte_level) {
    return Status::Unsupported(src + ": " + path + " (" + type +
                               ") follows a ByteLevel pre-tokenizer; only a last ByteLevel is "
                               "supported");
  }
  if (type == "Sequence") {
    auto it = j.find("pretokenizers");
    if (it == j.end() || !it->is_array()) return TypeError(src, path + ".pretokenizers", "an array");
    for (size_t i = 0; i < it->size(); ++i) {
      DETINFER_RETURN_IF_ERROR(ParsePreTokenizer(
          (*it)[i], src, path + ".pretokenizers[" + std::to_string(i) + "]", steps, byte_level));
    }
    return Status::Ok();
  }
  if (type == "ByteLevel") {
    DETINFER_ASSIGN_OR_RETURN(bool prefix, GetBool(j, "add_prefix_space", true, src, path));
    DETINFER_ASSIGN_OR_RETURN(bool use_regex, GetBool(j, "use_regex", true, src, path));
    if (prefix) steps->push_back({PreTokenizerStep::Kind::kPrefixSpace, {}});
    if (use_regex) {
      DETINFER_ASSIGN_OR_RETURN(RegexSplitter s,
                                RegexSplitter::Compile(kGpt2Pattern, false,
                                                       SplitBehavior::kIsolated, src + ": " + path));
      steps->push_back({PreTokenizerStep::Kind::kSplit, std::move(s)});
    }
    *byte_level = true;
    return Status::Ok();
  }
  // Hugging Face's Whitespace keeps only the matches of \w+|[^\w\s]+ (Invert + Removed). As
  // two steps: drop the white space, then split what is left by the pattern, which covers
  // every non-space character, so "Isolated" yields exactly the matches.
  if (type == "Whitespace" || type == "WhitespaceSplit") {
    DETINFER_ASSIGN_OR_RETURN(RegexSplitter spaces,
                              RegexSplitter::Compile(kWhiteSpaceRunPattern, false,
                                                     SplitBehavior::kRemoved, src + ": " + path));
    steps->push_back({PreTokenizerStep::Kind::kSplit, std::move(spaces)});
    if (type == "Whitespace") {
      DETINFER_ASSIGN_OR_RETURN(RegexSplitter words,
                                RegexSplitter::Compile(kHfWhitespacePattern, false,
                                                       SplitBehavior::kIsolated, src + ": " + path));
      steps->push_back({PreTokenizerStep::Kind::kSplit, std::move(words)});
    }
    return Status::Ok();
  }
  if (type == "Split") {
    auto pat = j.find("pattern");
    if (pat == j.end() || !pat->is_object()) return TypeError(src, path + ".pattern", "an object");
    bool literal = false;
    std::string pattern_path;
    const json* p = nullptr;
    if (auto r = pat->find("Regex"); r != pat->end()) {
      p = &*r;
      pattern_path = path + ".pattern.Regex";
    } else if (auto s = pat->find("String"); s != pat->end()) {
      p = &*s;
      literal = true;
      pattern_path = path + ".pattern.String";
    } else {
      return Status::InvalidArgument(src + ": " + path + ".pattern has neither Regex nor String");
    }
    DETINFER_ASSIGN_OR_RETURN(std::string pattern, GetString(*p, src, pattern_path));
    DETINFER_ASSIGN_OR_RETURN(bool invert, GetBool(j, "invert", false, src, path));
    if (invert) return Status::Unsupported(src + ": " + path + ".invert = true is not supported");
    std::string behavior = "Isolated";
    if (auto b = j.find("behavior"); b != j.end()) {
      DETINFER_ASSIGN_OR_RETURN(behavior, GetString(*b, src, path + ".behavior"));
    }
    SplitBehavior sb;
    if (behavior == "Isolated") {
      sb = SplitBehavior::kIsolated;
    } else if (behavior == "Removed") {
      sb = SplitBehavior::kRemoved;
    } else {
      return Status::Unsupported(src + ": " + path + ".behavior '" + behavior +
                                 "' is not supported (Isolated and Removed are)");
    }
    DETINFER_ASSIGN_OR_RETURN(RegexSplitter s,
                              RegexSplitter::Compile(pattern, literal, sb, src + ": " + pattern_path));
    steps->push_back({PreTokenizerStep::Kind::kSplit, std::move(s)});
    return Status::Ok();
  }
  return Status::Unsupported(src + ": " + path + ": pre-tokenizer type '" + type +
                             "' is not supported (ByteLevel, Split, Whitespace, WhitespaceSplit and "
                             "Sequence are)");
}

// The text of the first SpecialToken of a TemplateProcessing "single" template, searching
// Sequence post-processors; empty if there is none.
std::string TemplateBos(const json& pp) {
  if (!pp.is_object()) return "";
  auto type = pp.find("type");
  if (type == pp.end() || !type->is_string()) return "";
  if (*type == "Sequence") {
    auto procs = pp.find("processors");
    if (procs == pp.end() || !procs->is_array()) return "";
    for (const json& p : *procs) {
      if (std::string bos = TemplateBos(p); !bos.empty()) return bos;
    }
    return "";
  }
  if (*type != "TemplateProcessing") return "";
  auto single = pp.find("single");
  if (single == pp.end() || !single->is_array() || single->empty()) return "";
  const json& first = (*single)[0];
  if (!first.is_object()) return "";
  auto st = first.find("SpecialToken");
  if (st == first.end() || !st->is_object()) return "";
  auto id = st->find("id");
  return id != st->end() && id->is_string() ? id->get<std::string>() : "";
}

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
  }
  return Status::Ok();
}

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
    DETINFER_ASSIGN_OR_RETURN(bool single_word, GetBool(a, "single_word", false, src, path));
    if (single_word) {
      return Status::Unsupported(src + ": " + path + " ('" + t.content +
                                 "') sets single_word, which is not supported");
    }
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

}  // namespace

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
  ByteLevelBpeParts parts;
  parts.source = source;
  std::string unk;
  bool word_level = false;
  DETINFER_RETURN_IF_ERROR(ParseModel(root, source, &parts, &unk, &word_level));
  DETINFER_RETURN_IF_ERROR(ParseAddedTokens(root, source, &parts));
  if (auto n = root.find("normalizer"); n != root.end()) {
    DETINFER_RETURN_IF_ERROR(ParseNormalizer(*n, source, "normalizer", &parts.normalizer));
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
  return MakeByteLevelBpe(std::move(parts));
}

Result<std::unique_ptr<Tokenizer>> LoadHfTokenizerJson(const std::string& path,
                                                       const HfTokenizerOptions& options) {
  DETINFER_ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  const char* data = reinterpret_cast<const char*>(file.data());
  return ParseHfTokenizerJson(std::string_view(data, file.size()), path, options);
}

}  // namespace detinfer
