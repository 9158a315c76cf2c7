// Tokenizers from a vocabulary given as lists, as GGUF files store it (tokenizer.ggml.*). The
// GGUF reader fills GgufVocab; these factories only check and build.
//   model "llama": SentencePiece-style score merging with "▁" for spaces, as llama.cpp's
//                  llama vocabulary does (score_bpe.h, flavour kLlamaCpp).
//   model "gpt2":  byte-level BPE with tokenizer.ggml.merges (byte_level_bpe.h); the
//                  pre-tokenizer regex is chosen by tokenizer.ggml.pre, as llama.cpp does.
#ifndef DETINFER_TOKENIZER_VOCAB_TOKENIZER_H_
#define DETINFER_TOKENIZER_VOCAB_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace detinfer {

struct GgufVocab {
  std::string source;                // names the file in error messages
  std::string model;                 // tokenizer.ggml.model: "llama" or "gpt2"
  std::string pre;                   // tokenizer.ggml.pre (gpt2 only): see MakeGgufTokenizer
  std::vector<std::string> tokens;   // tokenizer.ggml.tokens
  std::vector<float> scores;         // tokenizer.ggml.scores (required for llama)
  std::vector<int32_t> types;        // tokenizer.ggml.token_type (may be empty)
  std::vector<std::string> merges;   // tokenizer.ggml.merges, "a b" (required for gpt2)
  int32_t bos_id = -1;               // tokenizer.ggml.bos_token_id (-1: none)
  int32_t eos_id = -1;               // tokenizer.ggml.eos_token_id
  int32_t unk_id = -1;               // tokenizer.ggml.unknown_token_id
  bool add_space_prefix = true;      // tokenizer.ggml.add_space_prefix (llama)
  // tokenizer.ggml.add_bos_token / add_eos_token: what Encode(text, add_special_tokens = true)
  // adds (when the id exists). Absent keys keep these defaults, llama.cpp's for "llama".
  bool add_bos = true;
  bool add_eos = false;
};

// For gpt2, `pre` selects the split regex: "gpt-2" or "default" (GPT-2's), "llama-bpe" or
// "llama3" (Llama-3's), "qwen2" (Qwen2/3's); another name is an Unsupported error naming it.
// In gpt2 vocabularies control (3) and user-defined (4) tokens are matched verbatim in the
// input, as for llama. IsSpecial() is true for control tokens (what llama.cpp leaves out when
// it renders without special tokens).
Result<std::unique_ptr<Tokenizer>> MakeGgufTokenizer(GgufVocab vocab);

}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_VOCAB_TOKENIZER_H_
