// Chat templates (src/template/): any bytes as a Jinja template, parsed and, when it parses,
// rendered with a conversation that has every field real templates read (system, tool calls,
// tool results, tools, bos/eos, keyword arguments) under small limits. Every failure must be a
// Status that says what went wrong — never a crash, a hang past the step limit or an internal
// error.
#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "template/chat_template_engine.h"

using namespace detinfer;

namespace {

void Check(const Status& s) {
  if (s.ok()) return;
  if (s.message().empty()) fuzz::Fail("an error without a message: " + s.ToString());
  if (s.code() == StatusCode::kInternal) fuzz::Fail("internal error on input: " + s.ToString());
}

const ChatInputs& Inputs() {
  static const ChatInputs in = [] {
    ChatInputs c;
    c.messages = nlohmann::ordered_json::parse(R"([
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "What is 2 + 2? \u00e9\ud83d\ude42"},
      {"role": "assistant", "content": null, "tool_calls": [{"type": "function",
        "function": {"name": "add", "arguments": {"a": 2, "b": 2}}}]},
      {"role": "tool", "content": "4", "tool_call_id": "1"},
      {"role": "assistant", "content": "4", "reasoning_content": "2 and 2"},
      {"role": "user", "content": "  thanks\n"}])");
    c.add_generation_prompt = true;
    c.bos_token = "<s>";
    c.eos_token = "</s>";
    c.tools = nlohmann::ordered_json::parse(R"([{"type": "function", "function": {"name": "add",
      "description": "Adds", "parameters": {"type": "object", "properties": {"a": {"type":
      "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}}}])");
    c.extra = {{"enable_thinking", false}};
    return c;
  }();
  return in;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  Result<ChatTemplateProgram> program = ParseChatTemplate(source);
  if (!program.ok()) {
    Check(program.status());
    return 0;
  }
  ChatTemplateLimits limits;
  limits.max_steps = 200'000;          // a loop that runs away ends here, quickly
  limits.max_output_bytes = 1u << 20;
  limits.clock = [] {
    std::tm t{};
    t.tm_year = 124;
    t.tm_mday = 1;
    return t;
  };
  Check(RenderChatTemplate(*program, Inputs(), limits).status());
  return 0;
}
