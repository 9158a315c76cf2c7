// What an OpenAI-style request body says, once parsed and type-checked (no model needed), and
// the OpenAI-shaped error a bad one gets.
//
// Parsing is a pure function of the body bytes (api_request.cc) so that it can be fuzzed alone.
#ifndef DETINFER_SERVER_API_REQUEST_H_
#define DETINFER_SERVER_API_REQUEST_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace detinfer::server {

// {"error": {"message", "type", "param", "code"}} with an HTTP status.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the offending field, empty if none
  std::string code;   // e.g. "context_length_exceeded", empty if none
};

// A 400 naming the field at fault (`param`; empty for the body as a whole). The parsers of
// every endpoint (here and server/rl_request.h) make their errors with it.
ApiError ParamError(const std::string& param, const std::string& message);

enum class ApiKind { kCompletion, kChat };

// A prompt is text or token ids (never both).
struct PromptInput {
  bool is_text = false;
  std::string text;
  std::vector<int32_t> ids;
};

struct ChatMessage {
  std::string role;     // system, developer, user, assistant or tool
  std::string content;  // text parts joined
};

// A conversation as a chat template takes it. `messages` are the checked, joined-text form the
// built-in templates use; `raw` the same messages as sent (key order kept, every field such as
// tool_calls, name or reasoning_content passed on, content parts joined into a string) for a
// model's own Jinja template, with the request's `tools` and `chat_template_kwargs`.
struct ChatInput {
  std::vector<ChatMessage> messages;
  nlohmann::ordered_json raw = nlohmann::ordered_json::array();
  std::optional<nlohmann::ordered_json> tools;  // a list of tool definitions
  nlohmann::ordered_json kwargs = nlohmann::ordered_json::object();  // chat_template_kwargs
  bool add_generation_prompt = true;
};

struct CompletionRequest {
  ApiKind kind = ApiKind::kCompletion;
  std::string model;
  std::vector<PromptInput> prompts;   // completions: one or more
  ChatInput chat;                     // chat: at least one message
  std::optional<int32_t> max_tokens;  // absent: 16 for completions, the rest of the context for chat
  // OpenAI's defaults: temperature 1, top_p 1. Our sampling is seeded, so a request without a
  // seed uses seed 0 and still repeats exactly.
  float temperature = 1.0f;
  float top_p = 1.0f;
  int32_t top_k = 0;
  float min_p = 0.0f;
  uint64_t seed = 0;
  // vLLM's extensions and OpenAI's penalties (engine/penalties.h): functions of the request's
  // own tokens only, so they keep every invariance.
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int32_t min_tokens = 0;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;  // extension (as vLLM); alias `stop_ids`
  bool ignore_eos = false;              // extension: do not stop at the end-of-sequence token
  bool skip_special_tokens = true;      // vLLM's: special tokens' text left out of the answer
  bool logprobs = false;                // completions: "logprobs": N (N >= 0); chat: true
  int32_t top_logprobs = 0;             // alternatives per token
  bool echo = false;                    // completions only
  // vLLM's: the prompt tokens' logprobs, ranks and this many alternatives per position
  // (PromptLogprobsJson); not streamed.
  std::optional<int32_t> prompt_logprobs;
  // Samples per prompt (OpenAI's `n`): choice prompt * n + i is sample i of prompt `prompt`,
  // seeded as engine/sample_group.h derives it from `seed`.
  int32_t n = 1;
  bool stream = false;
  bool include_usage = false;           // stream_options.include_usage
  // vLLM's: the prompt's ids too (completions: per choice; chat: the rendered prompt's, once
  // per response). Generated ids are always in `token_ids`.
  bool return_token_ids = false;
  // Ours: each choice also carries its run receipt (verify/receipt.h, docs/receipts.md), which
  // `detinfer replay` checks on any machine; streamed, on the choice's last chunk.
  bool receipt = false;
  std::vector<std::string> ignored_fields;  // unknown top-level fields, sorted
};

// Teacher-forced scoring (our extension): logprobs of `completion` after `prompt`.
struct ScoreRequest {
  std::string model;
  PromptInput prompt;
  PromptInput completion;
  std::vector<std::string> ignored_fields;
};

// POST /tokenize (vLLM's request shapes): a prompt, or chat messages rendered with the model's
// chat template, to token ids.
struct TokenizeRequest {
  std::string model;
  bool is_chat = false;               // "messages" given (else "prompt")
  std::string prompt;
  ChatInput chat;                     // "messages", "add_generation_prompt", "tools", ...
  // The tokenizer's own special tokens (BOS, ...). Default: true for a prompt; for messages what
  // chat completions do (none after a model's template, which writes its own).
  std::optional<bool> add_special_tokens;
  bool return_token_strs = false;     // also the vocabulary piece of each id
  std::vector<std::string> ignored_fields;
};

// POST /detokenize: token ids to text.
struct DetokenizeRequest {
  std::string model;
  std::vector<int32_t> tokens;
  std::vector<std::string> ignored_fields;
};

struct ParseLimits {
  size_t max_prompts = 64;       // entries of a prompt list
  size_t max_stops = 16;
  size_t max_messages = 1024;
  int32_t max_top_logprobs = 20;
  int32_t max_samples = 128;     // `n`: engine/sample_group.h's kMaxSamplesPerPrompt
  int max_json_depth = 64;       // nesting of arrays and objects
};

// Bytes -> a JSON object (within limits.max_json_depth), or the error saying why not.
std::optional<ApiError> ParseJsonObject(std::string_view body, const ParseLimits& limits,
                                        nlohmann::json* out);

// Bytes -> request, or the error naming the field at fault (HTTP 400). Never throws, never
// reads outside `body`; unknown fields are listed in `ignored_fields`, not rejected.
std::optional<ApiError> ParseCompletionRequest(std::string_view body, ApiKind kind,
                                               const ParseLimits& limits, CompletionRequest* out);
std::optional<ApiError> ParseScoreRequest(std::string_view body, const ParseLimits& limits,
                                          ScoreRequest* out);
std::optional<ApiError> ParseTokenizeRequest(std::string_view body, const ParseLimits& limits,
                                             TokenizeRequest* out);
std::optional<ApiError> ParseDetokenizeRequest(std::string_view body, const ParseLimits& limits,
                                               DetokenizeRequest* out);

}  // namespace detinfer::server

#endif  // DETINFER_SERVER_API_REQUEST_H_
