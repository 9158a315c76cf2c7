#include "server/chat_template.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace detinfer::server {

namespace {

// Llama-3's template applies Jinja's |trim to each message: ASCII whitespace at both ends.
std::string Trim(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

}  // namespace

std::string_view ChatTemplateName(ChatTemplate t) {
  return t == ChatTemplate::kLlama3 ? "llama3" : "chatml";
}

Result<ChatTemplate> ParseChatTemplateName(std::string_view name) {
  if (name == "chatml") return ChatTemplate::kChatMl;
  if (name == "llama3") return ChatTemplate::kLlama3;
  return Status::InvalidArgument("--chat-template: unknown template '" + std::string(name) +
                                 "' (expected chatml or llama3)");
}

std::string RenderChat(ChatTemplate t, const std::vector<ChatMessage>& messages,
                       bool add_generation_prompt) {
  std::string out;
  if (t == ChatTemplate::kChatMl) {
    for (const ChatMessage& m : messages) {
      out += "<|im_start|>";
      out += m.role;
      out += '\n';
      out += m.content;
      out += "<|im_end|>\n";
    }
    if (add_generation_prompt) out += "<|im_start|>assistant\n";
    return out;
  }
  out += "<|begin_of_text|>";
  for (const ChatMessage& m : messages) {
    out += "<|start_header_id|>";
    out += m.role;
    out += "<|end_header_id|>\n\n";
    out += Trim(m.content);
    out += "<|eot_id|>";
  }
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

int32_t FindTokenId(const Tokenizer& tokenizer, std::string_view text) {
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    auto t = tokenizer.TokenText(id);
    if (t.ok() && *t == text) return id;
  }
  return -1;
}

ChatTemplate DetectChatTemplate(const Tokenizer* tokenizer) {
  if (tokenizer != nullptr && FindTokenId(*tokenizer, "<|start_header_id|>") >= 0) {
    return ChatTemplate::kLlama3;
  }
  return ChatTemplate::kChatMl;
}

std::vector<int32_t> EndOfTurnIds(ChatTemplate t, const Tokenizer* tokenizer) {
  if (tokenizer == nullptr) return {};
  const int32_t id =
      FindTokenId(*tokenizer, t == ChatTemplate::kLlama3 ? "<|eot_id|>" : "<|im_end|>");
  if (id < 0) return {};
  return {id};
}

ChatFormat ChatFormat::Builtin(ChatTemplate t, const Tokenizer* tokenizer) {
  ChatFormat f;
  f.builtin_ = t;
  f.origin_ = "built in";
  f.end_ids_ = EndOfTurnIds(t, tokenizer);
  return f;
}

Result<ChatFormat> ChatFormat::Jinja(std::string_view source, std::string origin,
                                     const ModelChatConfig& config, const Tokenizer* tokenizer) {
  auto program = ParseChatTemplate(source);
  if (!program.ok()) {
    return Status(program.status().code(), origin + ": " + program.status().message());
  }
  ChatFormat f;
  f.program_ = std::move(program).value();
  f.origin_ = std::move(origin);
  // The strings the template sees: tokenizer_config.json's, else the tokenizer's own tokens
  // (a GGUF file names ids, not strings).
  auto token_text = [&](int32_t id) -> std::optional<std::string> {
    if (tokenizer == nullptr || id < 0) return std::nullopt;
    auto t = tokenizer->TokenText(id);
    return t.ok() ? std::optional<std::string>(std::string(*t)) : std::nullopt;
  };
  f.bos_token_ = config.bos_token ? config.bos_token : token_text(tokenizer ? tokenizer->bos_id() : -1);
  f.eos_token_ = config.eos_token ? config.eos_token : token_text(tokenizer ? tokenizer->eos_id() : -1);
  f.end_ids_ = config.end_ids;
  return f;
}

Result<ChatFormat> ChatFormat::Choose(const std::string& flag_value, const ModelChatConfig& config,
                                      const Tokenizer* tokenizer) {
  if (flag_value.empty()) {
    if (!config.chat_template.empty()) {
      return Jinja(config.chat_template, config.chat_template_origin, config, tokenizer);
    }
    return Builtin(DetectChatTemplate(tokenizer), tokenizer);
  }
  if (auto t = ParseChatTemplateName(flag_value); t.ok()) return Builtin(*t, tokenizer);
  std::ifstream in(flag_value, std::ios::binary);
  if (!in) {
    return Status::InvalidArgument("--chat-template: '" + flag_value +
                                   "' is neither chatml, llama3 nor a readable Jinja file");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return Jinja(ss.str(), flag_value, config, tokenizer);
}

std::string_view ChatFormat::name() const {
  return program_.get() != nullptr ? "jinja" : ChatTemplateName(builtin_);
}

Result<std::vector<int32_t>> ChatFormat::Encode(const Tokenizer& tokenizer, const std::string& text,
                                                std::optional<bool> add_special_tokens) const {
  if (add_special_tokens) return tokenizer.Encode(text, *add_special_tokens);
  DETINFER_ASSIGN_OR_RETURN(std::vector<int32_t> ids, tokenizer.Encode(text, false));
  if (writes_special_tokens() || tokenizer.bos_id() < 0) return ids;
  // A built-in template that writes the BOS token itself (Llama-3) must not get a second one.
  auto bos = tokenizer.TokenText(tokenizer.bos_id());
  if (bos.ok() && !bos->empty() && text.rfind(*bos, 0) == 0) return ids;
  ids.insert(ids.begin(), tokenizer.bos_id());
  return ids;
}

Result<std::string> ChatFormat::Render(const ChatInput& chat) const {
  if (program_.get() == nullptr) {
    return RenderChat(builtin_, chat.messages, chat.add_generation_prompt);
  }
  ChatInputs in;
  in.messages = chat.raw;
  in.add_generation_prompt = chat.add_generation_prompt;
  in.bos_token = bos_token_;
  in.eos_token = eos_token_;
  in.tools = chat.tools;
  in.extra = chat.kwargs;
  return RenderChatTemplate(program_, in);
}

}  // namespace detinfer::server
