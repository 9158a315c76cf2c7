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
#include "server/api_request.h"
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

}  // namespace detinfer::server

#endif  // DETINFER_SERVER_CHAT_TEMPLATE_H_
