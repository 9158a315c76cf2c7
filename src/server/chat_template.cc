#include "server/chat_template.h"

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

}  // namespace detinfer::server
