// WordLevel: a whole-word vocabulary (Hugging Face tokenizers' WordLevel model), used by the
// verb-grammar default model (src/corpus/). Built from parts so that the tokenizer.json loader
// (hf_tokenizer_json.h) shares the added-token, normalizer and pre-tokenizer code with BPE.
//
// Encode: (1) split off added/special tokens verbatim; (2) normalize each remaining segment;
// (3) run the pre-tokenizer steps (regex splits; e.g. "Whitespace" = \w+|[^\w\s]+); (4) each
// piece is its vocabulary id, or unk_token's id when it is not in the vocabulary (an error when
// there is no unk_token, as Hugging Face's "Missing [UNK] token" error).
// Decode: the tokens' texts joined by one space, what Hugging Face's TokenizerImpl::decode does
// when the file has no decoder (`tokens.join(" ")`): "Yesterday I worked ." — punctuation is a
// token like any other and gets its space too.
#ifndef DETINFER_TOKENIZER_WORD_LEVEL_H_
#define DETINFER_TOKENIZER_WORD_LEVEL_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/byte_level_bpe.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/tokenizer.h"

namespace detinfer {

struct WordLevelParts {
  std::string source;  // names the file in error messages
  std::vector<std::pair<std::string, int32_t>> vocab;  // (word, id); ids unique
  std::vector<AddedToken> added_tokens;                // ids may repeat model vocab ids
  std::vector<NormalForm> normalizer;
  std::vector<PreTokenizerStep> pre_tokenizer;  // kSplit steps only
  int32_t unk_id = -1;
  int32_t bos_id = -1;
  int32_t eos_id = -1;
};

// Checks ids (non-negative, unique, below the number of entries), words (non-empty, valid
// UTF-8, listed once), special ids; errors name parts.source and the entry at fault.
Result<std::unique_ptr<Tokenizer>> MakeWordLevel(WordLevelParts parts);

// The pattern of Hugging Face's "Whitespace" pre-tokenizer, \w+|[^\w\s]+, spelled out with the
// Unicode classes of Rust's regex crate (UTS #18 Annex C: \w = Alphabetic, Mark,
// Decimal_Number, Connector_Punctuation, Join_Control; \s = White_Space) because PCRE2 10.42's
// UCP \w lacks marks, which would split a decomposed "e" + U+0301 in two.
inline constexpr std::string_view kHfWhitespacePattern =
    R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}]+)"
    R"(|[^\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}\p{White_Space}]+)";
// "WhitespaceSplit" splits on char::is_whitespace, i.e. White_Space, removing it.
inline constexpr std::string_view kWhiteSpaceRunPattern = R"(\p{White_Space}+)";

}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_WORD_LEVEL_H_
