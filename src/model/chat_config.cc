#include "model/chat_config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/json_depth.h"
#include "model/file_kind.h"
#include "model/gguf.h"
#include "template/chat_template_engine.h"

namespace detinfer {

namespace fs = std::filesystem;

namespace {

constexpr int kMaxJsonDepth = 64;

// The file's JSON object, nullopt when the file does not exist.
Result<std::optional<nlohmann::json>> ReadJsonObject(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::optional<nlohmann::json>();
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  DETINFER_RETURN_IF_ERROR(CheckJsonDepth(text, kMaxJsonDepth, path.string()));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument(path.string() + " is not a JSON object");
  }
  return std::optional<nlohmann::json>(std::move(j));
}

// tokenizer_config.json names a special token as a string or as {"content": "..."}.
std::optional<std::string> TokenString(const nlohmann::json& config, const char* key) {
  if (!config.contains(key)) return std::nullopt;
  const nlohmann::json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return v["content"].get<std::string>();
  }
  return std::nullopt;
}

void AddId(int64_t id, std::vector<int32_t>* ids) {
  if (id >= 0 && id <= std::numeric_limits<int32_t>::max()) ids->push_back(static_cast<int32_t>(id));
}

Status ReadHf(const fs::path& dir, ModelChatConfig* c) {
  const fs::path config_path = dir / "tokenizer_config.json";
  DETINFER_ASSIGN_OR_RETURN(std::optional<nlohmann::json> config, ReadJsonObject(config_path));
  if (config) {
    c->bos_token = TokenString(*config, "bos_token");
    c->eos_token = TokenString(*config, "eos_token");
  }
  // The template: tokenizer_config.json's chat_template, else chat_template.jinja (newer
  // transformers versions write it as its own file).
  const fs::path jinja_path = dir / "chat_template.jinja";
  if (config) {
    auto t = ReadChatTemplateFromTokenizerConfig(config_path);
    // NotFound: a list of named templates without a "default" one; then there is none to use.
    if (!t.ok() && t.status().code() != StatusCode::kNotFound) return t.status();
    if (t.ok() && *t) {
      c->chat_template = std::move(**t);
      c->chat_template_origin = config->contains("chat_template")
                                    ? config_path.string() + " (chat_template)"
                                    : jinja_path.string();
    }
  } else if (std::ifstream in(jinja_path, std::ios::binary); in) {
    std::stringstream ss;
    ss << in.rdbuf();
    c->chat_template = ss.str();
    c->chat_template_origin = jinja_path.string();
  }
  const fs::path gen_path = dir / "generation_config.json";
  DETINFER_ASSIGN_OR_RETURN(std::optional<nlohmann::json> gen, ReadJsonObject(gen_path));
  if (gen && gen->contains("eos_token_id")) {
    const nlohmann::json& e = (*gen)["eos_token_id"];
    if (e.is_number_integer()) {
      AddId(e.get<int64_t>(), &c->end_ids);
    } else if (e.is_array()) {
      for (const nlohmann::json& v : e) {
        if (!v.is_number_integer()) {
          return Status::InvalidArgument(gen_path.string() + ": eos_token_id lists " + v.dump() +
                                         ", not a token id");
        }
        AddId(v.get<int64_t>(), &c->end_ids);
      }
    } else if (!e.is_null()) {
      return Status::InvalidArgument(gen_path.string() + ": eos_token_id is " + e.dump() +
                                     ", not a token id or a list of them");
    }
  }
  return Status::Ok();
}

Status ReadGguf(const std::string& path, ModelChatConfig* c) {
  DETINFER_ASSIGN_OR_RETURN(GgufFile g, GgufFile::Open(path));
  if (g.Find("tokenizer.chat_template") != nullptr) {
    DETINFER_ASSIGN_OR_RETURN(std::string_view t, g.GetString("tokenizer.chat_template"));
    c->chat_template = std::string(t);
    c->chat_template_origin = path + " (tokenizer.chat_template)";
  }
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"}) {
    if (g.Find(key) == nullptr) continue;
    DETINFER_ASSIGN_OR_RETURN(int64_t id, g.GetInt(key, 0, std::numeric_limits<int32_t>::max()));
    AddId(id, &c->end_ids);
  }
  return Status::Ok();
}

}  // namespace

Result<ModelChatConfig> ReadModelChatConfig(const std::string& model_path, ModelFormat format,
                                            const std::string& tokenizer_path) {
  ModelChatConfig c;
  if (!tokenizer_path.empty()) {
    DETINFER_ASSIGN_OR_RETURN(const FileKind kind, SniffFile(tokenizer_path));
    if (kind == FileKind::kGguf) {
      DETINFER_RETURN_IF_ERROR(ReadGguf(tokenizer_path, &c));
    } else {
      DETINFER_RETURN_IF_ERROR(ReadHf(fs::path(tokenizer_path).parent_path(), &c));
    }
  } else if (format == ModelFormat::kGguf) {
    DETINFER_RETURN_IF_ERROR(ReadGguf(model_path, &c));
  } else if (format == ModelFormat::kHuggingFace) {
    const fs::path p(model_path);
    DETINFER_RETURN_IF_ERROR(ReadHf(fs::is_directory(p) ? p : p.parent_path(), &c));
  }
  std::sort(c.end_ids.begin(), c.end_ids.end());
  c.end_ids.erase(std::unique(c.end_ids.begin(), c.end_ids.end()), c.end_ids.end());
  return c;
}

Result<ModelChatConfig> ReadModelChatConfig(const std::string& model_path,
                                            const std::string& tokenizer_path) {
  const fs::path p(model_path);
  ModelFormat format = ModelFormat::kLlama2c;  // no chat files
  if (fs::is_directory(p) || fs::exists(p.parent_path() / "config.json")) {
    format = ModelFormat::kHuggingFace;
  } else {
    DETINFER_ASSIGN_OR_RETURN(const FileKind kind, SniffFile(model_path));
    if (kind == FileKind::kGguf) format = ModelFormat::kGguf;
  }
  return ReadModelChatConfig(model_path, format, tokenizer_path);
}

}  // namespace detinfer
