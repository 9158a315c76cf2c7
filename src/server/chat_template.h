// Chat templates: how a list of messages becomes the prompt text a chat model was trained on.
//
// Two are built in (the Jinja templates of the models that use them, for the plain-text
// message case, the generation prompt appended when asked):
//   ChatML (Qwen2/3 and many fine-tunes):
//     <|im_start|>{role}\n{content}<|im_end|>\n ... <|im_start|>assistant\n
//   Llama-3:
//     <|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n{content, trimmed}<|eot_id|>
//     ... <|start_header_id|>assistant<|end_header_id|>\n\n
// The special tokens are written as text; the tokenizer maps them to their ids (added tokens).
#ifndef DETINFER_SERVER_CHAT_TEMPLATE_H_
#define DETINFER_SERVER_CHAT_TEMPLATE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "model/chat_config.h"
#include "server/api_request.h"
#include "template/chat_template_engine.h"
#include "tokenizer/tokenizer.h"

namespace detinfer::server {

enum class ChatTemplate { kChatMl, kLlama3 };

std::string_view ChatTemplateName(ChatTemplate t);  // "chatml", "llama3"
Result<ChatTemplate> ParseChatTemplateName(std::string_view name);

// add_generation_prompt appends the header of the assistant's turn (what a completion needs).
std::string RenderChat(ChatTemplate t, const std::vector<ChatMessage>& messages,
                       bool add_generation_prompt = true);

// The template a tokenizer's special tokens point to: Llama-3 when it has <|start_header_id|>,
// ChatML otherwise (also without a tokenizer).
ChatTemplate DetectChatTemplate(const Tokenizer* tokenizer);

// Ids of the tokens that end an assistant turn in template `t` (<|im_end|> or <|eot_id|>), when
// the vocabulary has them; empty otherwise.
std::vector<int32_t> EndOfTurnIds(ChatTemplate t, const Tokenizer* tokenizer);

// The id of the vocabulary entry whose text is exactly `text`, or -1.
int32_t FindTokenId(const Tokenizer& tokenizer, std::string_view text);

// How a conversation becomes prompt text and where the assistant's turn ends: the model's own
// Jinja chat template (rendered as transformers renders it, src/template/), or a built-in one.
// Immutable; shared by every request.
class ChatFormat {
 public:
  static ChatFormat Builtin(ChatTemplate t, const Tokenizer* tokenizer);
  // `source` parsed once (a syntax error or unsupported construct names its line); `config`
  // gives the bos_token / eos_token strings the template sees and the ids that end a turn.
  static Result<ChatFormat> Jinja(std::string_view source, std::string origin,
                                  const ModelChatConfig& config, const Tokenizer* tokenizer);
  // --chat-template VALUE: chatml or llama3 (built in), else a Jinja file.
  // Without a value: the model's own template when it ships one, else the built-in one its
  // special tokens point to.
  static Result<ChatFormat> Choose(const std::string& flag_value, const ModelChatConfig& config,
                                   const Tokenizer* tokenizer);

  // "chatml", "llama3", or "jinja"; origin(): where a Jinja template came from.
  std::string_view name() const;
  const std::string& origin() const { return origin_; }

  // The prompt text of a conversation. Errors: the template's own raise_exception message, or a
  // runtime error naming the template line.
  Result<std::string> Render(const ChatInput& chat) const;
  // A model's template writes the special tokens it wants (its bos_token) as text, so its text is
  // encoded without the tokenizer's own, as transformers' apply_chat_template does; text from a
  // built-in template gets the tokenizer's BOS (only: an EOS rule must not end the prompt)
  // unless it starts with it.
  bool writes_special_tokens() const { return program_.get() != nullptr; }
  // The ids of rendered `text` by those rules; add_special_tokens, when given, overrides them
  // (true: the tokenizer's own rules, as for a plain prompt; false: nothing added).
  Result<std::vector<int32_t>> Encode(const Tokenizer& tokenizer, const std::string& text,
                                      std::optional<bool> add_special_tokens) const;
  // Ids that end the assistant's turn (besides the tokenizer's EOS).
  const std::vector<int32_t>& end_of_turn_ids() const { return end_ids_; }

 private:
  ChatTemplate builtin_ = ChatTemplate::kChatMl;
  ChatTemplateProgram program_;  // set for a Jinja template
  std::string origin_;
  std::optional<std::string> bos_token_, eos_token_;
  std::vector<int32_t> end_ids_;
};

}  // namespace detinfer::server

#endif  // DETINFER_SERVER_CHAT_TEMPLATE_H_
