// tokenizer.json "post_processor" and the special-token rules (what Encode(text, true) adds,
// bos_id / eos_id, the special ids) built from it or from the tokenizer class's own rule.
#include <nlohmann/json.hpp>

#include "tokenizer/hf_json_internal.h"

namespace detinfer {
namespace hf_json_internal {
namespace {

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
    return ForEachPart(j, "processors", src, path, [&](const json& p, const std::string& at) {
      return ParsePostProcessor(root, p, src, at, prefix, suffix);
    });
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

}  // namespace

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

}  // namespace hf_json_internal
}  // namespace detinfer
