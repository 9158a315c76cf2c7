// Hugging Face tokenizer.json loader.
//
// Files that need nothing beyond byte-level BPE (GPT-2, Llama-3, Qwen2/3: a BPE model, Unicode
// normalizers, Split + ByteLevel pre-tokenizers, a ByteLevel decoder) use byte_level_bpe.h;
// plain WordLevel files use word_level.h; everything else goes through the general pipeline
// (hf_pipeline.h): SentencePiece-style BPE with byte_fallback / fuse_unk (Llama-2, Mistral,
// Gemma), Unigram, the normalizers Prepend, Replace, Lowercase, Strip, NFx, the pre-tokenizers
// Metaspace, Split (every behaviour, invert), Whitespace, WhitespaceSplit, Digits, Punctuation,
// ByteLevel, and the decoders Replace, ByteFallback, Fuse, Strip, Metaspace, ByteLevel.
// The post_processor (TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel,
// Sequence) decides what Encode(text, true) adds, unless the options name a tokenizer class
// whose transformers fast tokenizer rebuilds it (see HfTokenizerOptions). Anything that would
// change the result and is not implemented is an Unsupported error naming the component and
// its JSON path, never ignored. docs/tokenizers.md has the details and the known differences.
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
  // Token texts for bos_id() / eos_id() (from tokenizer_config.json or the model config).
  // Empty: BOS from the post_processor template, no EOS. A name not in the vocabulary is an
  // error. They do not decide what Encode adds (the post_processor does, or the rule below).
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
