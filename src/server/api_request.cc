#include "server/api_request.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

namespace detinfer::server {

ApiError ParamError(const std::string& param, const std::string& message) {
  ApiError e;
  e.param = param;
  e.message = message;
  return e;
}

namespace {

using Json = nlohmann::json;

// Deepest nesting of arrays/objects, counted on the raw bytes (outside strings) before the
// parser builds anything, so that a hostile body cannot make it recurse or allocate deeply.
int JsonDepth(std::string_view body) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// nlohmann's message without its "[json.exception.parse_error.101] parse error at line 1,
// column 5: " prefix (the caller gives the byte offset).
std::string JsonReason(std::string_view what) {
  const size_t bracket = what.find("] ");
  if (bracket != std::string_view::npos) what.remove_prefix(bracket + 2);
  const size_t colon = what.find(": ");
  if (what.rfind("parse error", 0) == 0 && colon != std::string_view::npos) {
    what.remove_prefix(colon + 2);
  }
  return std::string(what);
}

std::optional<ApiError> ParseObject(std::string_view body, const ParseLimits& limits, Json* out) {
  if (JsonDepth(body) > limits.max_json_depth) {
    return ParamError("", "the request body nests arrays/objects deeper than " +
                              std::to_string(limits.max_json_depth) + " levels");
  }
  try {
    *out = Json::parse(body.begin(), body.end());
  } catch (const nlohmann::json::parse_error& e) {
    // Say what and where: "at byte 17: syntax error while parsing object key - ...", not a
    // bare "not valid JSON" (invalid UTF-8 in a string is named as such, with its offset).
    // nlohmann counts from 1 (n + 1 for the end of the input); offsets here count from 0.
    const size_t offset = e.byte > 0 ? e.byte - 1 : 0;
    return ParamError("", "the request body is not valid JSON: at byte " + std::to_string(offset) +
                              ": " + JsonReason(e.what()));
  } catch (const nlohmann::json::out_of_range& e) {  // e.g. 1e999
    return ParamError("", "the request body is not valid JSON: " + JsonReason(e.what()));
  }
  if (!out->is_object()) return ParamError("", "the request body must be a JSON object");
  return std::nullopt;
}

std::optional<ApiError> GetString(const Json& j, const char* key, std::string* out) {
  if (!j.is_string()) return ParamError(key, std::string("'") + key + "' must be a string");
  *out = j.get<std::string>();
  return std::nullopt;
}

// A bound as a person writes it: 0, 1, 0.5, 100 (not std::to_string's 0.000000).
std::string Bound(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string OutOfRange(const char* key, const std::string& lo, const std::string& hi,
                       const Json& got) {
  std::string m = "'";
  m += key;
  m += "' must be in [";
  m += lo;
  m += ", ";
  m += hi;
  m += "], got ";
  m += got.dump();
  return m;
}

std::optional<ApiError> GetFloat(const Json& j, const char* key, float lo, float hi, float* out) {
  if (!j.is_number()) return ParamError(key, std::string("'") + key + "' must be a number");
  const double v = j.get<double>();
  if (!(v >= lo && v <= hi)) return ParamError(key, OutOfRange(key, Bound(lo), Bound(hi), j));
  *out = static_cast<float>(v);
  return std::nullopt;
}

std::optional<ApiError> GetInt(const Json& j, const char* key, int64_t lo, int64_t hi,
                               int32_t* out) {
  // 3.0 is accepted as 3 (JavaScript clients cannot tell them apart); 3.5 is not.
  bool integral = j.is_number_integer();
  int64_t v = 0;
  if (j.is_number_unsigned()) {
    const uint64_t u = j.get<uint64_t>();
    v = u > uint64_t(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                          : int64_t(u);
  } else if (integral) {
    v = j.get<int64_t>();
  } else if (j.is_number_float()) {
    // An integer too large for 64 bits (99999999999999999999) is parsed as a float: it is out
    // of range, not "not an integer".
    const double d = j.get<double>();
    integral = std::isfinite(d) && d == std::floor(d);
    if (integral) {
      v = d >= 9.2e18    ? std::numeric_limits<int64_t>::max()
          : d <= -9.2e18 ? std::numeric_limits<int64_t>::min()
                         : static_cast<int64_t>(d);
    }
  }
  if (!integral) return ParamError(key, std::string("'") + key + "' must be an integer");
  if (v < lo || v > hi) {
    return ParamError(key, OutOfRange(key, std::to_string(lo), std::to_string(hi), j));
  }
  *out = static_cast<int32_t>(v);
  return std::nullopt;
}

std::optional<ApiError> GetBool(const Json& j, const char* key, bool* out) {
  if (!j.is_boolean()) return ParamError(key, std::string("'") + key + "' must be true or false");
  *out = j.get<bool>();
  return std::nullopt;
}

// A list of token ids; `what` names it in errors.
std::optional<ApiError> GetIds(const Json& j, const std::string& key, std::vector<int32_t>* out) {
  for (size_t i = 0; i < j.size(); ++i) {
    const Json& v = j[i];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 ||
        v.get<int64_t>() > std::numeric_limits<int32_t>::max() || v.is_number_float()) {
      return ParamError(key, "'" + key + "' item " + std::to_string(i) +
                                 " is not a token id (a non-negative integer): " + v.dump());
    }
    out->push_back(static_cast<int32_t>(v.get<int64_t>()));
  }
  return std::nullopt;
}

bool IsIdList(const Json& j) {
  return j.is_array() && !j.empty() && j[0].is_number();
}

// "text" | [ids] | ["text", ...] | [[ids], ...] -> one or more prompts.
std::optional<ApiError> GetPrompts(const Json& j, const char* key, size_t max_prompts,
                                   std::vector<PromptInput>* out) {
  if (j.is_string()) {
    out->push_back({true, j.get<std::string>(), {}});
    return std::nullopt;
  }
  if (!j.is_array() || j.empty()) {
    return ParamError(key,
                      std::string("'") + key +
                          "' must be a string, a list of token ids, or a non-empty list of either");
  }
  if (IsIdList(j)) {
    PromptInput p;
    if (auto e = GetIds(j, key, &p.ids)) return e;
    out->push_back(std::move(p));
    return std::nullopt;
  }
  if (j.size() > max_prompts) {
    return ParamError(key, std::string("'") + key + "' lists " + std::to_string(j.size()) +
                               " prompts; at most " + std::to_string(max_prompts) +
                               " are accepted");
  }
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string item = std::string(key) + "[" + std::to_string(i) + "]";
    if (j[i].is_string()) {
      out->push_back({true, j[i].get<std::string>(), {}});
    } else if (IsIdList(j[i])) {
      PromptInput p;
      if (auto e = GetIds(j[i], item, &p.ids)) return e;
      out->push_back(std::move(p));
    } else {
      return ParamError(item, "'" + item + "' must be a string or a non-empty list of token ids");
    }
  }
  return std::nullopt;
}

std::optional<ApiError> GetOnePrompt(const Json& j, const char* key, PromptInput* out) {
  std::vector<PromptInput> list;
  if (auto e = GetPrompts(j, key, 1, &list)) return e;
  if (list.size() != 1)
    return ParamError(key, std::string("'") + key + "' must be a single prompt");
  *out = std::move(list[0]);
  return std::nullopt;
}

std::optional<ApiError> GetStop(const Json& j, size_t max_stops, std::vector<std::string>* out) {
  if (j.is_null()) return std::nullopt;
  if (j.is_string()) {
    out->push_back(j.get<std::string>());
  } else if (j.is_array()) {
    for (const Json& v : j) {
      if (!v.is_string()) return ParamError("stop", "'stop' must be a string or a list of strings");
      out->push_back(v.get<std::string>());
    }
  } else {
    return ParamError("stop", "'stop' must be a string or a list of strings");
  }
  if (out->size() > max_stops) {
    return ParamError("stop",
                      "at most " + std::to_string(max_stops) + " stop strings are accepted");
  }
  for (const std::string& s : *out) {
    if (s.empty()) return ParamError("stop", "'stop' contains an empty string");
  }
  return std::nullopt;
}

// Message content: a string, or a list of {"type": "text", "text": ...} parts (joined).
std::optional<ApiError> GetContent(const Json& j, const std::string& key, std::string* out) {
  if (j.is_string()) {
    *out = j.get<std::string>();
    return std::nullopt;
  }
  if (j.is_null()) return std::nullopt;
  if (!j.is_array())
    return ParamError(key, "'" + key + "' must be a string or a list of text parts");
  for (const Json& part : j) {
    if (!part.is_object() || !part.contains("type") || part["type"] != "text" ||
        !part.contains("text") || !part["text"].is_string()) {
      return ParamError(key, "'" + key +
                                 "' parts must be {\"type\": \"text\", \"text\": \"...\"} "
                                 "(other content types are not supported)");
    }
    *out += part["text"].get<std::string>();
  }
  return std::nullopt;
}

std::optional<ApiError> GetMessages(const Json& j, size_t max_messages,
                                    std::vector<ChatMessage>* out) {
  if (!j.is_array() || j.empty())
    return ParamError("messages", "'messages' must be a non-empty list");
  if (j.size() > max_messages) {
    return ParamError("messages",
                      "at most " + std::to_string(max_messages) + " messages are accepted");
  }
  static const std::set<std::string> kRoles = {"system", "developer", "user", "assistant", "tool"};
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string key = "messages[" + std::to_string(i) + "]";
    const Json& m = j[i];
    if (!m.is_object()) return ParamError(key, "'" + key + "' must be an object");
    ChatMessage msg;
    if (!m.contains("role") || !m["role"].is_string()) {
      return ParamError(key + ".role", "'" + key + ".role' must be a string");
    }
    msg.role = m["role"].get<std::string>();
    if (kRoles.count(msg.role) == 0) {
      return ParamError(key + ".role",
                        "'" + key + ".role' is '" + msg.role +
                            "'; expected system, developer, user, assistant or tool");
    }
    if (!m.contains("content"))
      return ParamError(key + ".content", "'" + key + ".content' is missing");
    if (auto e = GetContent(m["content"], key + ".content", &msg.content)) return e;
    out->push_back(std::move(msg));
  }
  return std::nullopt;
}

// The chat fields a model's own template reads, beside "messages": type checks only (the
// values are taken from the ordered parse in OrderedChat). True when `key` was one of them.
bool ChatField(const std::string& key, const Json& v, ChatInput* chat, std::optional<ApiError>* e) {
  if (key == "tools") {
    if (!v.is_null() && !v.is_array())
      *e = ParamError("tools", "'tools' must be a list of tool definitions");
  } else if (key == "chat_template_kwargs") {
    if (!v.is_null() && !v.is_object()) {
      *e = ParamError("chat_template_kwargs", "'chat_template_kwargs' must be an object");
    }
  } else if (key == "add_generation_prompt") {
    *e = GetBool(v, "add_generation_prompt", &chat->add_generation_prompt);
  } else {
    return false;
  }
  return true;
}

// The messages, tools and keyword arguments as sent, in their key order (a template's tojson
// prints keys in that order, as Python dicts keep it), each message's content joined as
// GetMessages joined it.
std::optional<ApiError> OrderedChat(std::string_view body, ChatInput* chat) {
  const nlohmann::ordered_json j =
      nlohmann::ordered_json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return ParamError("", "the request body is not valid JSON");
  const nlohmann::ordered_json& messages = j["messages"];
  chat->raw = nlohmann::ordered_json::array();
  for (size_t i = 0; i < messages.size() && i < chat->messages.size(); ++i) {
    nlohmann::ordered_json m = messages[i];
    if (m["content"].is_array()) m["content"] = chat->messages[i].content;
    chat->raw.push_back(std::move(m));
  }
  if (j.contains("tools") && !j["tools"].is_null()) chat->tools = j["tools"];
  if (j.contains("chat_template_kwargs") && !j["chat_template_kwargs"].is_null()) {
    chat->kwargs = j["chat_template_kwargs"];
  }
  return std::nullopt;
}

// Fields OpenAI clients commonly send that we accept only at their neutral value.
std::optional<ApiError> CheckNeutral(const std::string& key, const Json& v) {
  if (key == "best_of") {
    if (!v.is_null() && !(v.is_number() && v.get<double>() == 1.0)) {
      return ParamError(key,
                        "'best_of' other than 1 is not supported (it would rank samples by their "
                        "logprob server-side); ask for 'n' samples and pick among them");
    }
  } else if (key == "logit_bias") {
    if (!v.is_null() && !(v.is_object() && v.empty())) {
      return ParamError(key, "'logit_bias' is not supported");
    }
  } else if (key == "suffix") {
    if (!v.is_null()) return ParamError(key, "'suffix' is not supported");
  } else if (key == "response_format") {
    // Structured output needs grammar-constrained decoding, which detinfer does not do yet:
    // refused, never ignored (an ignored json_schema would return unconstrained text).
    if (!v.is_null() && !(v.is_object() && v.size() == 1 && v.contains("type") &&
                          v["type"] == "text")) {
      return ParamError(key,
                        "'response_format' other than {\"type\": \"text\"} is not supported "
                        "(no constrained decoding); ask for JSON in the prompt instead");
    }
  } else if (key == "tool_choice") {
    // The tools are given to the chat template (the model sees them and may answer with a
    // call in its own text); forcing a call needs constrained decoding: refused.
    if (!v.is_null() && v != "auto" && v != "none") {
      return ParamError(key,
                        "'tool_choice' other than \"auto\" or \"none\" is not supported (a "
                        "forced tool call needs constrained decoding)");
    }
  } else if (key == "parallel_tool_calls") {
    if (!v.is_null() && !v.is_boolean())
      return ParamError(key, "'parallel_tool_calls' must be a boolean");
  }
  return std::nullopt;
}

std::optional<ApiError> ParseCompletionFields(const Json& body, ApiKind kind,
                                              const ParseLimits& limits, CompletionRequest* r) {
  r->kind = kind;
  const bool chat = kind == ApiKind::kChat;
  if (body.contains("stop_token_ids") && body.contains("stop_ids")) {
    return ParamError("stop_ids",
                      "'stop_ids' is an alias of 'stop_token_ids'; send only one of them");
  }
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& key = it.key();
    const Json& v = it.value();
    std::optional<ApiError> e;
    if (key == "model") {
      e = GetString(v, "model", &r->model);
    } else if (key == "prompt" && !chat) {
      e = GetPrompts(v, "prompt", limits.max_prompts, &r->prompts);
    } else if (key == "messages" && chat) {
      e = GetMessages(v, limits.max_messages, &r->chat.messages);
    } else if (chat && ChatField(key, v, &r->chat, &e)) {
    } else if (key == "max_tokens" || key == "max_completion_tokens") {
      if (!v.is_null()) {
        int32_t n = 0;
        // 0 is OpenAI's "score the prompt" (with echo, checked below).
        e = GetInt(v, key == "max_tokens" ? "max_tokens" : "max_completion_tokens", 0,
                   std::numeric_limits<int32_t>::max(), &n);
        r->max_tokens = n;
      }
    } else if (key == "temperature") {
      if (!v.is_null()) e = GetFloat(v, "temperature", 0.0f, 100.0f, &r->temperature);
    } else if (key == "top_p") {
      if (!v.is_null()) e = GetFloat(v, "top_p", 0.0f, 1.0f, &r->top_p);
      if (!e && r->top_p == 0.0f) e = ParamError("top_p", "'top_p' must be in (0, 1], got 0");
    } else if (key == "top_k") {
      // -1 means "no limit" in vLLM; 0 does here.
      if (!v.is_null()) e = GetInt(v, "top_k", -1, std::numeric_limits<int32_t>::max(), &r->top_k);
      if (r->top_k < 0) r->top_k = 0;
    } else if (key == "min_p") {
      if (!v.is_null()) e = GetFloat(v, "min_p", 0.0f, 1.0f, &r->min_p);
    } else if (key == "seed") {
      if (!v.is_null()) {
        if (v.is_number_unsigned()) {
          r->seed = v.get<uint64_t>();
        } else if (v.is_number_integer()) {
          // OpenAI's examples use negative seeds too: their bits are the seed.
          r->seed = static_cast<uint64_t>(v.get<int64_t>());
        } else if (v.is_number_float() && std::isfinite(v.get<double>()) &&
                   v.get<double>() == std::floor(v.get<double>())) {
          // 7.0 is 7. An integer literal beyond 64 bits (18446744073709551616) reaches us as a
          // float: as a double it is <= -2^63 or >= 2^64, out of range.
          const double d = v.get<double>();
          if (d > -9223372036854775808.0 && d < 18446744073709551616.0) {
            r->seed = d < 0 ? static_cast<uint64_t>(static_cast<int64_t>(d))
                            : static_cast<uint64_t>(d);
          } else {
            e = ParamError("seed",
                           OutOfRange("seed", "-9223372036854775808", "18446744073709551615", v));
          }
        } else {
          e = ParamError("seed", "'seed' must be an integer");
        }
      }
    } else if (key == "repetition_penalty") {
      if (!v.is_null()) e = GetFloat(v, key.c_str(), 0.0f, 100.0f, &r->repetition_penalty);
      if (!e && !(r->repetition_penalty > 0.0f)) {
        e = ParamError(key, "'repetition_penalty' must be > 0 (1 = none), got 0");
      }
    } else if (key == "presence_penalty") {
      if (!v.is_null()) e = GetFloat(v, key.c_str(), -2.0f, 2.0f, &r->presence_penalty);
    } else if (key == "frequency_penalty") {
      if (!v.is_null()) e = GetFloat(v, key.c_str(), -2.0f, 2.0f, &r->frequency_penalty);
    } else if (key == "min_tokens") {
      if (!v.is_null()) {
        e = GetInt(v, key.c_str(), 0, std::numeric_limits<int32_t>::max(), &r->min_tokens);
      }
    } else if (key == "stop") {
      e = GetStop(v, limits.max_stops, &r->stop);
    } else if (key == "stop_token_ids" || key == "stop_ids") {
      // `stop_ids` is what `detinfer generate --requests` calls it; both name one list.
      if (!v.is_array()) {
        e = ParamError(key, "'" + key + "' must be a list of token ids");
      } else {
        e = GetIds(v, key, &r->stop_token_ids);
      }
    } else if (key == "ignore_eos") {
      e = GetBool(v, "ignore_eos", &r->ignore_eos);
    } else if (key == "skip_special_tokens") {
      if (!v.is_null()) e = GetBool(v, "skip_special_tokens", &r->skip_special_tokens);
    } else if (key == "logprobs") {
      if (chat) {
        if (!v.is_null()) e = GetBool(v, "logprobs", &r->logprobs);
      } else if (!v.is_null()) {
        e = GetInt(v, "logprobs", 0, limits.max_top_logprobs, &r->top_logprobs);
        r->logprobs = !e;
      }
    } else if (key == "top_logprobs" && chat) {
      if (!v.is_null()) e = GetInt(v, "top_logprobs", 0, limits.max_top_logprobs, &r->top_logprobs);
    } else if (key == "prompt_logprobs") {
      if (!v.is_null()) {
        int32_t k = 0;
        e = GetInt(v, "prompt_logprobs", 0, limits.max_top_logprobs, &k);
        r->prompt_logprobs = k;
      }
    } else if (key == "return_token_ids") {
      if (!v.is_null()) e = GetBool(v, "return_token_ids", &r->return_token_ids);
    } else if (key == "receipt") {
      if (!v.is_null()) e = GetBool(v, "receipt", &r->receipt);
    } else if (key == "echo" && !chat) {
      e = GetBool(v, "echo", &r->echo);
    } else if (key == "stream") {
      if (!v.is_null()) e = GetBool(v, "stream", &r->stream);
    } else if (key == "stream_options") {
      if (!v.is_null()) {
        if (!v.is_object()) {
          e = ParamError("stream_options", "'stream_options' must be an object");
        } else if (v.contains("include_usage")) {
          e = GetBool(v["include_usage"], "stream_options.include_usage", &r->include_usage);
        }
      }
    } else if (key == "n") {
      if (!v.is_null()) e = GetInt(v, "n", 1, limits.max_samples, &r->n);
    } else if (key == "best_of" || key == "logit_bias" || key == "suffix" ||
               key == "response_format" || key == "tool_choice" ||
               key == "parallel_tool_calls") {
      e = CheckNeutral(key, v);
    } else if (key == "user") {
      // Accepted and unused (OpenAI uses it for abuse monitoring).
    } else {
      r->ignored_fields.push_back(key);
    }
    if (e) return e;
  }
  if (chat && r->chat.messages.empty()) return ParamError("messages", "'messages' is required");
  if (!chat && r->prompts.empty()) return ParamError("prompt", "'prompt' is required");
  if (chat && r->top_logprobs > 0 && !r->logprobs) {
    return ParamError("top_logprobs", "'top_logprobs' needs 'logprobs': true");
  }
  if (r->max_tokens && *r->max_tokens == 0) {
    // Nothing to generate: only an echoed prompt (with its logprobs) makes an answer.
    const char* name = body.contains("max_completion_tokens") ? "max_completion_tokens"
                                                              : "max_tokens";
    if (chat || !r->echo) {
      return ParamError(name, std::string("'") + name +
                                  "' must be >= 1 (0 is for 'echo', to score "
                                  "the prompt), got 0");
    }
    if (r->stream) {
      return ParamError(name, std::string("'") + name + "' 0 (echo only) is not streamed");
    }
    if (r->receipt) {
      return ParamError("receipt", std::string("'receipt' records generated tokens: not with '") +
                                       name + "' 0 (echo only)");
    }
  }
  if (r->stream && r->prompt_logprobs) {
    return ParamError("prompt_logprobs",
                      "'prompt_logprobs' is not streamed; send the request without "
                      "'stream'");
  }
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> ParseJsonObject(std::string_view body, const ParseLimits& limits,
                                        nlohmann::json* out) {
  try {
    return ParseObject(body, limits, out);
  } catch (const std::exception& ex) {
    return ParamError("", std::string("malformed request: ") + ex.what());
  }
}

std::optional<ApiError> ParseCompletionRequest(std::string_view body, ApiKind kind,
                                               const ParseLimits& limits, CompletionRequest* out) {
  try {
    Json j;
    if (auto e = ParseObject(body, limits, &j)) return e;
    *out = CompletionRequest{};
    if (auto e = ParseCompletionFields(j, kind, limits, out)) return e;
    if (kind == ApiKind::kChat) return OrderedChat(body, &out->chat);
    return std::nullopt;
  } catch (const std::exception& ex) {  // a json accessor we did not expect to throw
    return ParamError("", std::string("malformed request: ") + ex.what());
  }
}

std::optional<ApiError> ParseScoreRequest(std::string_view body, const ParseLimits& limits,
                                          ScoreRequest* out) {
  try {
    Json j;
    if (auto e = ParseObject(body, limits, &j)) return e;
    *out = ScoreRequest{};
    bool have_prompt = false, have_completion = false;
    for (auto it = j.begin(); it != j.end(); ++it) {
      std::optional<ApiError> e;
      if (it.key() == "model") {
        e = GetString(it.value(), "model", &out->model);
      } else if (it.key() == "prompt") {
        e = GetOnePrompt(it.value(), "prompt", &out->prompt);
        have_prompt = true;
      } else if (it.key() == "completion") {
        e = GetOnePrompt(it.value(), "completion", &out->completion);
        have_completion = true;
      } else {
        out->ignored_fields.push_back(it.key());
      }
      if (e) return e;
    }
    if (!have_prompt) return ParamError("prompt", "'prompt' is required");
    if (!have_completion) return ParamError("completion", "'completion' is required");
    return std::nullopt;
  } catch (const std::exception& ex) {
    return ParamError("", std::string("malformed request: ") + ex.what());
  }
}

std::optional<ApiError> ParseTokenizeRequest(std::string_view body, const ParseLimits& limits,
                                             TokenizeRequest* out) {
  try {
    Json j;
    if (auto e = ParseObject(body, limits, &j)) return e;
    *out = TokenizeRequest{};
    bool have_prompt = false;
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& key = it.key();
      const Json& v = it.value();
      std::optional<ApiError> e;
      if (key == "model") {
        e = GetString(v, "model", &out->model);
      } else if (key == "prompt") {
        e = GetString(v, "prompt", &out->prompt);
        have_prompt = true;
      } else if (key == "messages") {
        e = GetMessages(v, limits.max_messages, &out->chat.messages);
        out->is_chat = true;
      } else if (ChatField(key, v, &out->chat, &e)) {
      } else if (key == "add_special_tokens") {
        bool b = false;
        e = GetBool(v, "add_special_tokens", &b);
        out->add_special_tokens = b;
      } else if (key == "return_token_strs") {
        if (!v.is_null()) e = GetBool(v, "return_token_strs", &out->return_token_strs);
      } else {
        out->ignored_fields.push_back(key);
      }
      if (e) return e;
    }
    if (have_prompt && out->is_chat) {
      return ParamError("messages", "send either 'prompt' or 'messages', not both");
    }
    if (!have_prompt && !out->is_chat)
      return ParamError("prompt", "'prompt' or 'messages' is required");
    if (out->is_chat) return OrderedChat(body, &out->chat);
    return std::nullopt;
  } catch (const std::exception& ex) {
    return ParamError("", std::string("malformed request: ") + ex.what());
  }
}

std::optional<ApiError> ParseDetokenizeRequest(std::string_view body, const ParseLimits& limits,
                                               DetokenizeRequest* out) {
  try {
    Json j;
    if (auto e = ParseObject(body, limits, &j)) return e;
    *out = DetokenizeRequest{};
    bool have_tokens = false;
    for (auto it = j.begin(); it != j.end(); ++it) {
      std::optional<ApiError> e;
      if (it.key() == "model") {
        e = GetString(it.value(), "model", &out->model);
      } else if (it.key() == "tokens") {
        // An empty list is valid here: it decodes to "".
        if (!it.value().is_array()) {
          e = ParamError("tokens", "'tokens' must be a list of token ids");
        } else {
          e = GetIds(it.value(), "tokens", &out->tokens);
        }
        have_tokens = true;
      } else {
        out->ignored_fields.push_back(it.key());
      }
      if (e) return e;
    }
    if (!have_tokens) return ParamError("tokens", "'tokens' is required");
    return std::nullopt;
  } catch (const std::exception& ex) {
    return ParamError("", std::string("malformed request: ") + ex.what());
  }
}

}  // namespace detinfer::server
