// WithSpecialTokenRules: what Encode(text, add_special_tokens = true) adds around the ids of a
// text, and which ids are special, kept apart from the model that tokenizes the text.
//
// tokenizer.json files say it in their post_processor (TemplateProcessing, BertProcessing,
// RobertaProcessing; ByteLevel adds nothing), which transformers' Llama and Gemma tokenizers
// replace by a template built from tokenizer_config.json's add_bos_token / add_eos_token; GGUF
// files say it in tokenizer.ggml.add_bos_token / add_eos_token (hf_tokenizer_json.h and
// vocab_tokenizer.h turn those into these rules).
#ifndef DETINFER_TOKENIZER_SPECIAL_TOKENS_H_
#define DETINFER_TOKENIZER_SPECIAL_TOKENS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace detinfer {

struct SpecialTokenRules {
  std::vector<int32_t> prefix;   // ids Encode(text, true) puts before the text's ids
  std::vector<int32_t> suffix;   // ... and after them
  std::vector<int32_t> special;  // ids IsSpecial() reports (may repeat), besides inner's own
  int32_t bos_id = -1;           // what bos_id() / eos_id() report (-1: none)
  int32_t eos_id = -1;
};

// `inner` tokenizes the text (it is called with add_special_tokens = false); the result
// delegates everything else to it. Ids outside inner's vocabulary are an error naming `source`
// and the id.
Result<std::unique_ptr<Tokenizer>> WithSpecialTokenRules(std::unique_ptr<Tokenizer> inner,
                                                         SpecialTokenRules rules,
                                                         const std::string& source);

}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_SPECIAL_TOKENS_H_
