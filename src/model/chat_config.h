// ModelChatConfig: what a model ships for chat, beside its tokenizer — its own Jinja chat
// template and the ids that end a generated turn. Read from the files Hugging Face writes
// (tokenizer_config.json's chat_template or chat_template.jinja; generation_config.json's
// eos_token_id) or from a GGUF file's metadata (tokenizer.chat_template, tokenizer.ggml.eos_token_id
// and eot_token_id), so a chat model ends its turn where its authors' runtime would.
#ifndef DETINFER_MODEL_CHAT_CONFIG_H_
#define DETINFER_MODEL_CHAT_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/weights.h"

namespace detinfer {

struct ModelChatConfig {
  std::string chat_template;  // Jinja source; empty when the model ships none
  std::string chat_template_origin;  // the file (and key) it came from; empty without one
  // The special-token strings a template sees as bos_token / eos_token (tokenizer_config.json),
  // when the files name them.
  std::optional<std::string> bos_token, eos_token;
  // Ids that end generation besides the tokenizer's EOS: generation_config.json's eos_token_id
  // (an id or a list: Llama-3.1-Instruct lists <|eot_id|> and <|eom_id|>, Gemma 3 <end_of_turn>),
  // GGUF eos_token_id and eot_token_id. Sorted, without duplicates.
  std::vector<int32_t> end_ids;
};

// `model_path` in `format`; `tokenizer_path`, when given, is where the tokenizer came from (its
// directory holds tokenizer_config.json for a tokenizer.json; a GGUF tokenizer carries its own
// metadata). Files that are absent give empty fields; a file that is present but malformed is
// an error naming it (a chat template silently dropped would change every chat prompt).
Result<ModelChatConfig> ReadModelChatConfig(const std::string& model_path, ModelFormat format,
                                            const std::string& tokenizer_path);

// The same, with the model's format told from its path (a directory or a file beside a
// config.json: Hugging Face; a GGUF file), for callers that only map the tokenizer.
Result<ModelChatConfig> ReadModelChatConfig(const std::string& model_path,
                                            const std::string& tokenizer_path);

}  // namespace detinfer

#endif  // DETINFER_MODEL_CHAT_CONFIG_H_
