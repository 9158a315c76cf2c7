#include "tokenizer/hf_tokenizer_json.h"

#include <nlohmann/json.hpp>

#include "core/json_depth.h"
#include "core/mapped_file.h"
#include <cmath>

#include "tokenizer/byte_level_bpe.h"
#include "tokenizer/hf_pipeline.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/utf8.h"
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
    DETINFER_ASSIGN_OR_RETURN(bool fuse_unk, GetBool(model, "fuse_unk", false, src, "model"));
    if (fuse_unk) return Status::Unsupported(src + ": model.fuse_unk needs the general pipeline");
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

// obj[key] if it is a string / true boolean, without nlohmann's throwing value().
std::string StringField(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}
bool TrueField(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}

bool IsWordLevel(const json& root) {
  auto m = root.find("model");
  if (m == root.end() || !m->is_object()) return false;
  auto t = m->find("type");
  return t != m->end() && t->is_string() && *t == "WordLevel";
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
                    SplitBehavior behavior = SplitBehavior::kIsolated, bool invert = false) {
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

// Metaspace's prepend_scheme, with the legacy add_prefix_space as tokenizers reads it: false
// means "never" and contradicts an explicit other scheme.
Result<HfPreTokenizerStep::Prepend> ParsePrependScheme(const json& j, const std::string& src,
                                                       const std::string& path) {
  HfPreTokenizerStep::Prepend scheme = HfPreTokenizerStep::Prepend::kAlways;
  if (auto it = j.find("prepend_scheme"); it != j.end() && !it->is_null()) {
    DETINFER_ASSIGN_OR_RETURN(std::string s, GetString(*it, src, path + ".prepend_scheme"));
    if (s == "first") {
      scheme = HfPreTokenizerStep::Prepend::kFirst;
    } else if (s == "always") {
      scheme = HfPreTokenizerStep::Prepend::kAlways;
    } else if (s == "never") {
      scheme = HfPreTokenizerStep::Prepend::kNever;
    } else {
      return Status::InvalidArgument(src + ": " + path + ".prepend_scheme '" + s +
                                     "' is not first, always or never");
    }
  }
  if (auto it = j.find("add_prefix_space"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) return TypeError(src, path + ".add_prefix_space", "a boolean");
    if (!it->get<bool>()) {
      if (scheme != HfPreTokenizerStep::Prepend::kNever) {
        return Status::InvalidArgument(src + ": " + path +
                                       ".add_prefix_space = false does not match prepend_scheme");
      }
    }
  }
  return scheme;
}

Status ParsePipelineNormalizer(const json& j, const std::string& src, const std::string& path,
                               std::vector<HfNormalizerStep>* out) {
  if (j.is_null()) return Status::Ok();
  DETINFER_ASSIGN_OR_RETURN(std::string type, GetType(j, src, path));
  HfNormalizerStep step;
  if (type == "Sequence") {
    auto it = j.find("normalizers");
    if (it == j.end() || !it->is_array()) return TypeError(src, path + ".normalizers", "an array");
    for (size_t i = 0; i < it->size(); ++i) {
      DETINFER_RETURN_IF_ERROR(ParsePipelineNormalizer(
          (*it)[i], src, path + ".normalizers[" + std::to_string(i) + "]", out));
    }
    return Status::Ok();
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

// A Split over one-character matches of `pattern` (Digits, Punctuation).
Status CharClassSplit(std::string_view pattern, SplitBehavior behavior, const std::string& what,
                      std::vector<HfPreTokenizerStep>* out) {
  DETINFER_ASSIGN_OR_RETURN(RegexSplitter s, RegexSplitter::Compile(pattern, false, behavior, what));
  HfPreTokenizerStep step;
  step.kind = HfPreTokenizerStep::Kind::kSplit;
  step.splitter = std::make_shared<RegexSplitter>(std::move(s));
  out->push_back(std::move(step));
  return Status::Ok();
}

Result<SplitBehavior> ParseBehavior(const json& j, const std::string& src, const std::string& path,
                                    const char* dflt) {
  std::string b = dflt;
  if (auto it = j.find("behavior"); it != j.end()) {
    DETINFER_ASSIGN_OR_RETURN(b, GetString(*it, src, path + ".behavior"));
  }
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  return Status::InvalidArgument(src + ": " + path + ".behavior '" + b +
                                 "' is not Isolated, Removed, MergedWithPrevious, MergedWithNext "
                                 "or Contiguous");
}

Status ParsePipelinePreTokenizer(const json& j, const std::string& src, const std::string& path,
                                 std::vector<HfPreTokenizerStep>* out) {
  if (j.is_null()) return Status::Ok();
  DETINFER_ASSIGN_OR_RETURN(std::string type, GetType(j, src, path));
  const std::string what = src + ": " + path;
  if (type == "Sequence") {
    auto it = j.find("pretokenizers");
    if (it == j.end() || !it->is_array()) return TypeError(src, path + ".pretokenizers", "an array");
    for (size_t i = 0; i < it->size(); ++i) {
      DETINFER_RETURN_IF_ERROR(ParsePipelinePreTokenizer(
          (*it)[i], src, path + ".pretokenizers[" + std::to_string(i) + "]", out));
    }
    return Status::Ok();
  }
  HfPreTokenizerStep step;
  if (type == "Split") {
    DETINFER_ASSIGN_OR_RETURN(SplitBehavior b, ParseBehavior(j, src, path, "Isolated"));
    DETINFER_ASSIGN_OR_RETURN(bool invert, GetBool(j, "invert", false, src, path));
    std::string literal;
    DETINFER_RETURN_IF_ERROR(ParsePattern(j, src, path, &literal, &step.splitter, b, invert));
    if (!step.splitter) {
      // An empty String pattern never matches: the whole text is one non-match.
      DETINFER_ASSIGN_OR_RETURN(RegexSplitter s,
                                RegexSplitter::Compile("(?!)", false, b, what, invert));
      step.splitter = std::make_shared<RegexSplitter>(std::move(s));
    }
    step.kind = HfPreTokenizerStep::Kind::kSplit;
  } else if (type == "Metaspace") {
    step.kind = HfPreTokenizerStep::Kind::kMetaspace;
    DETINFER_ASSIGN_OR_RETURN(step.replacement, GetOneChar(j, "replacement", "\u2581", src, path));
    DETINFER_ASSIGN_OR_RETURN(step.prepend, ParsePrependScheme(j, src, path));
    DETINFER_ASSIGN_OR_RETURN(step.split, GetBool(j, "split", true, src, path));
  } else if (type == "ByteLevel") {
    step.kind = HfPreTokenizerStep::Kind::kByteLevel;
    DETINFER_ASSIGN_OR_RETURN(step.add_prefix_space, GetBool(j, "add_prefix_space", true, src, path));
    DETINFER_ASSIGN_OR_RETURN(bool use_regex, GetBool(j, "use_regex", true, src, path));
    if (use_regex) {
      DETINFER_ASSIGN_OR_RETURN(RegexSplitter s, RegexSplitter::Compile(kGpt2Pattern, false,
                                                                       SplitBehavior::kIsolated, what));
      step.splitter = std::make_shared<RegexSplitter>(std::move(s));
    }
  } else if (type == "Whitespace" || type == "WhitespaceSplit") {
    DETINFER_RETURN_IF_ERROR(
        CharClassSplit(kWhiteSpaceRunPattern, SplitBehavior::kRemoved, what, out));
    if (type == "Whitespace") {
      DETINFER_RETURN_IF_ERROR(
          CharClassSplit(kHfWhitespacePattern, SplitBehavior::kIsolated, what, out));
    }
    return Status::Ok();
  } else if (type == "Digits") {
    DETINFER_ASSIGN_OR_RETURN(bool individual, GetBool(j, "individual_digits", false, src, path));
    // Rust's char::is_numeric is the general categories Nd, Nl, No.
    return CharClassSplit(R"(\p{N})",
                          individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous,
                          what, out);
  } else if (type == "Punctuation") {
    DETINFER_ASSIGN_OR_RETURN(SplitBehavior b, ParseBehavior(j, src, path, "Isolated"));
    // is_ascii_punctuation || Unicode P*.
    return CharClassSplit(R"([\p{P}\x{21}-\x{2F}\x{3A}-\x{40}\x{5B}-\x{60}\x{7B}-\x{7E}])", b,
                          what, out);
  } else {
    return Status::Unsupported(Unsupported(src, path, type));
  }
  out->push_back(std::move(step));
  return Status::Ok();
}

Status ParsePipelineDecoder(const json& j, const std::string& src, const std::string& path,
                            std::vector<HfDecoderStep>* out) {
  DETINFER_ASSIGN_OR_RETURN(std::string type, GetType(j, src, path));
  HfDecoderStep step;
  if (type == "Sequence") {
    auto it = j.find("decoders");
    if (it == j.end() || !it->is_array()) return TypeError(src, path + ".decoders", "an array");
    for (size_t i = 0; i < it->size(); ++i) {
      DETINFER_RETURN_IF_ERROR(ParsePipelineDecoder(
          (*it)[i], src, path + ".decoders[" + std::to_string(i) + "]", out));
    }
    return Status::Ok();
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

// The id of token text `name`: added tokens first, then the model vocabulary; -1 if absent.
int32_t LookUpName(const json& root, const std::string& name) {
  if (auto a = root.find("added_tokens"); a != root.end() && a->is_array()) {
    for (const json& t : *a) {
      if (t.is_object() && StringField(t, "content") == name && t.contains("id") &&
          t["id"].is_number_integer()) {
        return t["id"].get<int32_t>();
      }
    }
  }
  auto m = root.find("model");
  if (m == root.end() || !m->is_object()) return -1;
  auto v = m->find("vocab");
  if (v == m->end()) return -1;
  if (v->is_object()) {
    auto it = v->find(name);
    return it != v->end() && it->is_number_integer() ? it->get<int32_t>() : -1;
  }
  if (v->is_array()) {
    for (size_t i = 0; i < v->size(); ++i) {
      const json& e = (*v)[i];
      if (e.is_array() && !e.empty() && e[0].is_string() && e[0] == name) {
        return static_cast<int32_t>(i);
      }
    }
  }
  return -1;
}

// Appends what one post-processor adds around a single sequence to *prefix / *suffix (a later
// processor of a Sequence wraps the result of the earlier ones).
Status ParsePostProcessor(const json& root, const json& j, const std::string& src,
                          const std::string& path, std::vector<int32_t>* prefix,
                          std::vector<int32_t>* suffix) {
  if (j.is_null()) return Status::Ok();
  DETINFER_ASSIGN_OR_RETURN(std::string type, GetType(j, src, path));
  if (type == "Sequence") {
    auto it = j.find("processors");
    if (it == j.end() || !it->is_array()) return TypeError(src, path + ".processors", "an array");
    for (size_t i = 0; i < it->size(); ++i) {
      DETINFER_RETURN_IF_ERROR(ParsePostProcessor(
          root, (*it)[i], src, path + ".processors[" + std::to_string(i) + "]", prefix, suffix));
    }
    return Status::Ok();
  }
  if (type == "ByteLevel") return Status::Ok();  // trims offsets only
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    // {"sep": ["[SEP]", 102], "cls": ["[CLS]", 101]}: cls A sep.
    auto id_of = [&](const char* key) -> Result<int32_t> {
      auto it = j.find(key);
      if (it == j.end() || !it->is_array() || it->size() != 2 || !(*it)[1].is_number_integer()) {
        return TypeError(src, path + "." + key, "a [token, id] pair");
      }
      return (*it)[1].get<int32_t>();
    };
    DETINFER_ASSIGN_OR_RETURN(int32_t cls, id_of("cls"));
    DETINFER_ASSIGN_OR_RETURN(int32_t sep, id_of("sep"));
    prefix->insert(prefix->begin(), cls);
    suffix->push_back(sep);
    return Status::Ok();
  }
  if (type != "TemplateProcessing") return Status::Unsupported(Unsupported(src, path, type));
  auto single = j.find("single");
  if (single == j.end() || !single->is_array()) return TypeError(src, path + ".single", "an array");
  const json empty = json::object();
  auto specials_it = j.find("special_tokens");
  const json& specials = specials_it != j.end() && specials_it->is_object() ? *specials_it : empty;
  std::vector<int32_t> before, after;
  bool seen_sequence = false;
  for (size_t i = 0; i < single->size(); ++i) {
    const json& piece = (*single)[i];
    const std::string ppath = path + ".single[" + std::to_string(i) + "]";
    if (!piece.is_object()) return TypeError(src, ppath, "an object");
    if (auto seq = piece.find("Sequence"); seq != piece.end()) {
      if (!seq->is_object() || StringField(*seq, "id") != "A") {
        return Status::Unsupported(src + ": " + ppath +
                                   ": a single template may only hold sequence A");
      }
      if (seen_sequence) {
        return Status::Unsupported(src + ": " + ppath + ": sequence A appears twice");
      }
      seen_sequence = true;
      continue;
    }
    auto st = piece.find("SpecialToken");
    if (st == piece.end() || !st->is_object() || !st->contains("id") || !(*st)["id"].is_string()) {
      return TypeError(src, ppath, "{\"Sequence\": ...} or {\"SpecialToken\": {\"id\": ...}}");
    }
    const std::string name = (*st)["id"].get<std::string>();
    auto sp = specials.find(name);
    if (sp == specials.end()) {
      // Hugging Face refuses a template naming a token special_tokens lacks; detinfer takes the
      // token of that name (the same ids wherever Hugging Face loads the file).
      const int32_t id = LookUpName(root, name);
      if (id < 0) {
        return Status::InvalidArgument(src + ": " + ppath + ": special token '" + name +
                                       "' is neither in " + path + ".special_tokens nor in the "
                                       "vocabulary");
      }
      (seen_sequence ? after : before).push_back(id);
      continue;
    }
    if (!sp->is_object() || !sp->contains("ids") || !(*sp)["ids"].is_array()) {
      return TypeError(src, path + ".special_tokens['" + name + "']", "an object with \"ids\"");
    }
    for (const json& id : (*sp)["ids"]) {
      if (!id.is_number_integer()) return TypeError(src, path + ".special_tokens['" + name + "'].ids", "integers");
      (seen_sequence ? after : before).push_back(id.get<int32_t>());
    }
  }
  prefix->insert(prefix->begin(), before.begin(), before.end());
  suffix->insert(suffix->end(), after.begin(), after.end());
  return Status::Ok();
}

// transformers' LlamaTokenizerFast, CodeLlamaTokenizerFast and GemmaTokenizerFast replace the
// file's post_processor by a template from add_bos_token (default true) / add_eos_token (default
// false) in update_post_processor(); other classes keep the file's.
std::string_view RebuildingClass(std::string_view cls) {
  if (cls.ends_with("Fast")) cls.remove_suffix(4);
  if (cls == "LlamaTokenizer" || cls == "CodeLlamaTokenizer") return "llama";
  if (cls == "GemmaTokenizer") return "gemma";
  return "";
}

Result<SpecialTokenRules> SpecialRules(const json& root, const std::string& src,
                                       const HfTokenizerOptions& options) {
  SpecialTokenRules r;
  auto resolve = [&](const std::string& name, const char* what, int32_t* id) -> Status {
    if (name.empty()) return Status::Ok();
    *id = LookUpName(root, name);
    if (*id < 0) {
      return Status::InvalidArgument(src + ": " + what + " '" + name + "' is not in the vocabulary");
    }
    return Status::Ok();
  };
  const std::string_view rebuild = RebuildingClass(options.tokenizer_class);
  if (!rebuild.empty()) {
    const bool llama = rebuild == "llama";
    const std::string bos = !options.bos_token.empty() ? options.bos_token : llama ? "<s>" : "<bos>";
    const std::string eos = !options.eos_token.empty() ? options.eos_token : llama ? "</s>" : "<eos>";
    if (options.add_bos_token.value_or(true)) {
      int32_t id = -1;
      DETINFER_RETURN_IF_ERROR(resolve(bos, "BOS token", &id));
      r.prefix.push_back(id);
    }
    if (options.add_eos_token.value_or(false)) {
      int32_t id = -1;
      DETINFER_RETURN_IF_ERROR(resolve(eos, "EOS token", &id));
      r.suffix.push_back(id);
    }
  } else if (auto pp = root.find("post_processor"); pp != root.end()) {
    DETINFER_RETURN_IF_ERROR(ParsePostProcessor(root, *pp, src, "post_processor", &r.prefix, &r.suffix));
  }
  std::string bos = options.bos_token;
  if (bos.empty()) {
    if (auto pp = root.find("post_processor"); pp != root.end()) bos = TemplateBos(*pp);
  }
  DETINFER_RETURN_IF_ERROR(resolve(bos, "BOS token", &r.bos_id));
  DETINFER_RETURN_IF_ERROR(resolve(options.eos_token, "EOS token", &r.eos_id));
  if (auto a = root.find("added_tokens"); a != root.end() && a->is_array()) {
    for (const json& t : *a) {
      if (t.is_object() && TrueField(t, "special") && t.contains("id") && t["id"].is_number_integer()) {
        r.special.push_back(t["id"].get<int32_t>());
      }
    }
  }
  return r;
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
