// Chat templates (issue #17): the Jinja `chat_template` a chat model ships (tokenizer_config.json
// or GGUF `tokenizer.chat_template`), rendered the way Hugging Face transformers renders it:
// jinja2's ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
// extensions=[loopcontrols]) with the `raise_exception` and `strftime_now` globals, a `tojson`
// that does not escape HTML (json.dumps, ensure_ascii=False) and `{% generation %}` blocks.
// The rendered text equals jinja2's byte for byte for the supported subset (docs/chat-templates.md).
//
// Parse once, render many: a ChatTemplateProgram is immutable and may be rendered from several
// threads at once. Rendering is bounded (steps, output bytes, macro depth); every error is a
// Status whose message names the template line and column, e.g.
//   "chat template line 3, column 12: unknown filter 'frobnicate'".
#ifndef DETINFER_TEMPLATE_CHAT_TEMPLATE_ENGINE_H_
#define DETINFER_TEMPLATE_CHAT_TEMPLATE_ENGINE_H_

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace detinfer {

namespace jinja {
struct Program;
}

// A parsed template. Cheap to copy (shared, immutable).
class ChatTemplateProgram {
 public:
  ChatTemplateProgram() = default;
  explicit ChatTemplateProgram(std::shared_ptr<const jinja::Program> p) : p_(std::move(p)) {}
  const jinja::Program* get() const { return p_.get(); }

 private:
  std::shared_ptr<const jinja::Program> p_;
};

struct ChatTemplateLimits {
  uint64_t max_steps = 5'000'000;       // statements + expression nodes evaluated
  size_t max_output_bytes = 64u << 20;  // rendered text
  int max_call_depth = 64;              // nested macro calls
  // The clock behind strftime_now(); empty: the local time now (what transformers uses).
  std::function<std::tm()> clock;
};

// Errors: InvalidArgument for a syntax error, Unsupported for a construct outside the subset.
Result<ChatTemplateProgram> ParseChatTemplate(std::string_view source);

// Renders with `context` as the template's variables (an object). Ordered JSON keeps the key
// order of the input, which tojson and dict iteration reproduce (as Python dicts do).
// Errors: InvalidArgument (a runtime error, or the template's raise_exception: the message is
// the template's), ResourceExhausted (a limit).
Result<std::string> Render(const ChatTemplateProgram& program, const nlohmann::ordered_json& context,
                           const ChatTemplateLimits& limits = {});
// The same from nlohmann::json, whose objects iterate in sorted key order: dict order (and so
// tojson output) follows that order, not the order of the original text.
Result<std::string> Render(const ChatTemplateProgram& program, const nlohmann::json& context,
                           const ChatTemplateLimits& limits = {});

// What transformers' apply_chat_template passes to the template.
struct ChatInputs {
  // The conversation: an array of message objects, passed through as they are (tool_calls,
  // reasoning_content and any other field reach the template).
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  bool add_generation_prompt = false;
  // Special tokens; absent ones are not passed (Qwen's tokenizers have no bos_token, so the
  // template sees it undefined).
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  // Tool definitions (JSON schemas). Absent: the template sees tools = None, as with
  // transformers (`tools is defined` is true, `tools is none` is true).
  std::optional<nlohmann::ordered_json> tools;
  // Further keyword arguments (an object), e.g. {"enable_thinking": false} for Qwen3. They
  // override the fields above when they share a name.
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
};

Result<std::string> RenderChatTemplate(const ChatTemplateProgram& program, const ChatInputs& inputs,
                                       const ChatTemplateLimits& limits = {});

// The template named `name` in a tokenizer_config.json: `chat_template` is either a string (the
// "default" template) or a list of {"name", "template"} objects. nullopt when the file has no
// chat_template (nor a chat_template.jinja beside it, which newer transformers versions write);
// NotFound when templates exist but none has that name.
Result<std::optional<std::string>> ReadChatTemplateFromTokenizerConfig(const std::filesystem::path& path,
                                                                       std::string_view name = "default");

}  // namespace detinfer

#endif  // DETINFER_TEMPLATE_CHAT_TEMPLATE_ENGINE_H_
