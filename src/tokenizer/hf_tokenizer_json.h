// Hugging Face tokenizer.json loader for byte-level BPE models (GPT-2, Llama-3, Qwen2/3) and
// WordLevel models (whole-word vocabularies, e.g. the verb-grammar default model).
//
// Read: model (type "BPE": vocab, merges as "a b" strings or ["a", "b"] pairs, ignore_merges,
// unk_token; type "WordLevel": vocab, unk_token), added_tokens, normalizer (null,
// NFC/NFD/NFKC/NFKD, Sequence of them), pre_tokenizer (ByteLevel, Split with a Regex or String
// pattern and behavior Isolated or Removed, Whitespace, WhitespaceSplit, Sequence of them; BPE
// needs a last ByteLevel, WordLevel takes none), decoder (WordLevel: must be null, decoding
// joins tokens with spaces), and post_processor only to find the BOS
// (the first SpecialToken of a TemplateProcessing "single" template). Anything that would
// change the result and is not implemented is an Unsupported error naming it, never ignored.
#ifndef DETINFER_TOKENIZER_HF_TOKENIZER_JSON_H_
#define DETINFER_TOKENIZER_HF_TOKENIZER_JSON_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace detinfer {

struct HfTokenizerOptions {
  // Token texts for BOS / EOS (from tokenizer_config.json or the model config). Empty: BOS from
  // the post_processor template, no EOS. A name not in the vocabulary is an error.
  std::string bos_token;
  std::string eos_token;
  // tokenizer_config.json's tokenizer_class, add_bos_token and add_eos_token. For the classes
  // whose transformers fast tokenizer rebuilds the post-processor (LlamaTokenizer,
  // CodeLlamaTokenizer, GemmaTokenizer, with or without "Fast") Encode's special tokens are
  // [bos_token if add_bos_token (default true)] text [eos_token if add_eos_token (default
  // false)]; for any other class the file's post_processor decides and these flags are unused.
  std::string tokenizer_class;
  std::optional<bool> add_bos_token;
  std::optional<bool> add_eos_token;
};

// The options a tokenizer_config.json gives: bos_token / eos_token (a string or
// {"content": ...}), tokenizer_class, add_bos_token, add_eos_token. Anything missing or of
// another type is left at its default; JSON that does not parse (or is not an object) gives the
// defaults too, as transformers' loader would fail on it before tokenizing.
HfTokenizerOptions HfOptionsFromConfig(std::string_view tokenizer_config_json);

Result<std::unique_ptr<Tokenizer>> LoadHfTokenizerJson(const std::string& path,
                                                       const HfTokenizerOptions& options = {});

// `source` names the document in error messages.
Result<std::unique_ptr<Tokenizer>> ParseHfTokenizerJson(std::string_view json,
                                                        const std::string& source,
                                                        const HfTokenizerOptions& options = {});

}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_HF_TOKENIZER_JSON_H_
