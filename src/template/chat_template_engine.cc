#include "template/chat_template_engine.h"

#include <exception>
#include <fstream>
#include <sstream>

#include "core/json_depth.h"
#include "template/jinja_internal.h"

namespace detinfer {
namespace {

Status ToStatus(const jinja::JinjaError& e, const jinja::Program* prog, std::string_view source) {
  std::string msg = "chat template";
  if (e.offset != SIZE_MAX) {
    msg += ' ';
    if (prog != nullptr) {
      msg += prog->Where(e.offset);
    } else {
      // Parse errors: locate the offset in the normalised source (same line structure).
      size_t line = 1, col = 1;
      for (size_t k = 0; k < e.offset && k < source.size(); ++k) {
        if (source[k] == '\n') { ++line; col = 1; } else { ++col; }
      }
      msg += "line ";
      msg += std::to_string(line);
      msg += ", column ";
      msg += std::to_string(col);
    }
  }
  msg += ": ";
  if (e.kind == jinja::JinjaError::Kind::kRaised) msg += "raise_exception: ";
  msg += e.message;
  switch (e.kind) {
    case jinja::JinjaError::Kind::kUnsupported: return Status::Unsupported(std::move(msg));
    case jinja::JinjaError::Kind::kLimit: return Status::ResourceExhausted(std::move(msg));
    default: return Status::InvalidArgument(std::move(msg));
  }
}

std::string Normalise(std::string_view source) {
  std::string s;
  s.reserve(source.size());
  for (size_t k = 0; k < source.size(); ++k) {
    if (source[k] == '\r') {
      s += '\n';
      if (k + 1 < source.size() && source[k + 1] == '\n') ++k;
    } else {
      s += source[k];
    }
  }
  return s;
}

}  // namespace

Result<ChatTemplateProgram> ParseChatTemplate(std::string_view source) {
  try {
    std::shared_ptr<const jinja::Program> prog = jinja::Parse(source);
    return ChatTemplateProgram(std::move(prog));
  } catch (const jinja::JinjaError& e) {
    return ToStatus(e, nullptr, Normalise(source));
  } catch (const std::exception& e) {  // e.g. bad_alloc: nothing is thrown past the API
    return Status::Internal(std::string("chat template: ") + e.what());
  }
}

Result<std::string> Render(const ChatTemplateProgram& program, const nlohmann::ordered_json& context,
                           const ChatTemplateLimits& limits) {
  if (program.get() == nullptr) return Status::InvalidArgument("chat template: rendering an empty (unparsed) program");
  if (!context.is_object()) return Status::InvalidArgument("chat template: the render context must be a JSON object");
  jinja::RenderLimits lim;
  lim.max_steps = limits.max_steps;
  lim.max_output_bytes = limits.max_output_bytes;
  lim.max_call_depth = limits.max_call_depth;
  lim.clock = limits.clock;
  try {
    return jinja::RenderProgram(*program.get(), context, lim);
  } catch (const jinja::JinjaError& e) {
    return ToStatus(e, program.get(), {});
  } catch (const std::exception& e) {
    return Status::Internal(std::string("chat template: ") + e.what());
  }
}

Result<std::string> Render(const ChatTemplateProgram& program, const nlohmann::json& context,
                           const ChatTemplateLimits& limits) {
  // Strings that are not UTF-8 become U+FFFD here (dump would otherwise throw).
  return Render(program, nlohmann::ordered_json::parse(context.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)),
                limits);
}

Result<std::string> RenderChatTemplate(const ChatTemplateProgram& program, const ChatInputs& inputs,
                                       const ChatTemplateLimits& limits) {
  if (!inputs.messages.is_array()) return Status::InvalidArgument("chat template: messages must be a JSON array");
  if (!inputs.extra.is_object()) return Status::InvalidArgument("chat template: extra arguments must be a JSON object");
  // transformers: render(messages=..., tools=..., documents=..., add_generation_prompt=...,
  // **special_tokens, **kwargs).
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  ctx["messages"] = inputs.messages;
  ctx["tools"] = inputs.tools.has_value() ? *inputs.tools : nlohmann::ordered_json(nullptr);
  ctx["documents"] = nullptr;
  ctx["add_generation_prompt"] = inputs.add_generation_prompt;
  if (inputs.bos_token) ctx["bos_token"] = *inputs.bos_token;
  if (inputs.eos_token) ctx["eos_token"] = *inputs.eos_token;
  for (auto it = inputs.extra.begin(); it != inputs.extra.end(); ++it) ctx[it.key()] = it.value();
  return Render(program, ctx, limits);
}

Result<std::optional<std::string>> ReadChatTemplateFromTokenizerConfig(const std::filesystem::path& path,
                                                                       std::string_view name) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open " + path.string());
  std::stringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  DETINFER_RETURN_IF_ERROR(CheckJsonDepth(text, kMaxJsonDepth, path.string()));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument(path.string() + ": not a JSON object");
  auto it = j.find("chat_template");
  if (it == j.end() || it->is_null()) {
    std::filesystem::path side = path.parent_path() / "chat_template.jinja";
    std::ifstream jin(side, std::ios::binary);
    if (!jin) return std::optional<std::string>();
    if (name != "default") return Status::NotFound(side.string() + ": holds only the default chat template, not '" + std::string(name) + "'");
    std::stringstream jb;
    jb << jin.rdbuf();
    return std::optional<std::string>(jb.str());
  }
  if (it->is_string()) {
    if (name != "default") return Status::NotFound(path.string() + ": chat_template is a single (default) template, not '" + std::string(name) + "'");
    return std::optional<std::string>(it->get<std::string>());
  }
  if (it->is_array()) {
    for (const auto& entry : *it) {
      if (!entry.is_object()) return Status::InvalidArgument(path.string() + ": chat_template list entries must be objects");
      auto n = entry.find("name");
      auto t = entry.find("template");
      if (n == entry.end() || t == entry.end() || !n->is_string() || !t->is_string())
        return Status::InvalidArgument(path.string() + ": chat_template list entries need string 'name' and 'template'");
      if (n->get<std::string>() == name) return std::optional<std::string>(t->get<std::string>());
    }
    return Status::NotFound(path.string() + ": no chat template named '" + std::string(name) + "'");
  }
  return Status::InvalidArgument(path.string() + ": chat_template must be a string or a list of {name, template}");
}

}  // namespace detinfer
