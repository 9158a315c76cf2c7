// Tokenizer: text <-> token ids, the interface every tokenizer format implements.
//
// Implementations (each a factory returning std::unique_ptr<Tokenizer>):
//   hf_tokenizer_json.h  Hugging Face tokenizer.json: byte-level BPE (GPT-2, Llama-3, Qwen2/3),
//                        SentencePiece-style BPE and Unigram (hf_pipeline.h: Llama-2, Gemma),
//                        WordLevel (word_level.h; the verb-grammar default model)
//   llama2c_tokenizer.h  llama2.c tokenizer.bin (SentencePiece-style score merging, run.c)
//   vocab_tokenizer.h    a vocabulary given as lists (GGUF tokenizer.ggml.* metadata)
// Algorithms and known differences from the reference implementations: docs/tokenizers.md.
//
// All methods are const and keep no mutable state, so one tokenizer may serve many threads.
#ifndef DETINFER_TOKENIZER_TOKENIZER_H_
#define DETINFER_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace detinfer {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // `text` must be well-formed UTF-8 (the error names the byte offset otherwise).
  // add_special_tokens adds the special tokens this tokenizer's own rules add around a single
  // sequence, as Hugging Face's encode(text, add_special_tokens=True) does: for tokenizer.json
  // the post_processor (or the add_bos_token / add_eos_token rule of transformers' Llama and
  // Gemma tokenizers, see hf_tokenizer_json.h), for GGUF tokenizer.ggml.add_bos_token /
  // add_eos_token, for llama2.c a BOS. It may add nothing even where bos_id() >= 0 (Meta's
  // first Llama-3 tokenizer.json adds no BOS). Special-token strings inside `text` are always
  // matched (they become their ids either way).
  virtual Result<std::vector<int32_t>> Encode(std::string_view text,
                                              bool add_special_tokens) const = 0;

  // The text of `ids`: the bytes of each token (TokenBytes) concatenated, with ill-formed UTF-8
  // replaced by U+FFFD per maximal subpart (tokenizer.json tokenizers run the file's decoder
  // instead, see docs/tokenizers.md). Special tokens appear as their text. An id outside
  // [0, vocab_size()) is an error naming the id and the vocabulary size.
  virtual Result<std::string> Decode(std::span<const int32_t> ids) const;

  struct DecodeOptions {
    // Leave out the ids IsSpecial() reports, as Hugging Face's decode(skip_special_tokens=True).
    bool skip_special_tokens = false;
  };
  // Decode(ids) of the ids that remain after options are applied (ids are still checked).
  Result<std::string> Decode(std::span<const int32_t> ids, const DecodeOptions& options) const;

  // Whether `id` is a special token: a tokenizer.json added token marked "special", a GGUF
  // control token (type 3), llama2.c's BOS and EOS. False for ids outside the vocabulary.
  virtual bool IsSpecial(int32_t /*id*/) const { return false; }

  // The bytes token `id` contributes to decoded text when it follows `prev_id` (-1: it starts
  // the sequence). The previous token matters for SentencePiece vocabularies, which drop the
  // space the encoder prepended. May be a partial UTF-8 character (byte-fallback tokens).
  virtual Result<std::string> TokenBytes(int32_t id, int32_t prev_id) const = 0;

  // The token's string as stored in the vocabulary (e.g. "Ġthe", "▁the", "<0x0A>").
  virtual Result<std::string_view> TokenText(int32_t id) const = 0;

  virtual int32_t vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;  // -1 if none
  virtual int32_t eos_id() const = 0;  // -1 if none
  // The id text outside the vocabulary becomes (so callers can say how much was lost); -1 when
  // the tokenizer has none (byte-level vocabularies cover every input).
  virtual int32_t unk_id() const { return -1; }

 protected:
  // Ok if 0 <= id < vocab_size(), else an OutOfRange error naming both.
  Status CheckId(int32_t id) const;
};

}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_TOKENIZER_H_
