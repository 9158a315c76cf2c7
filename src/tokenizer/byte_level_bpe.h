// ByteLevelBpe: GPT-2-style byte-level BPE (GPT-2, Llama-3, Qwen2/3), built from parts so that
// both Hugging Face tokenizer.json (hf_tokenizer_json.h) and GGUF "gpt2" vocabularies
// (vocab_tokenizer.h) use the same code.
//
// Encode: (1) split off added/special tokens verbatim; (2) normalize each remaining segment;
// (3) run the pre-tokenizer steps (regex splits, ByteLevel's prefix space); (4) map each piece's
// bytes to the GPT-2 byte alphabet (byte_level.h); (5) with ignore_merges, a piece that is
// itself a vocabulary entry is that token; otherwise start from one symbol per character and
// merge by merge rank (pair_merge.h), lowest rank first, leftmost on ties.
// Decode: per token, map its characters back to bytes when all of them are in the byte
// alphabet, else take its text as is (the Hugging Face ByteLevel decoder's rule).
#ifndef DETINFER_TOKENIZER_BYTE_LEVEL_BPE_H_
#define DETINFER_TOKENIZER_BYTE_LEVEL_BPE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/regex_split.h"
#include "tokenizer/tokenizer.h"

namespace detinfer {

struct PreTokenizerStep {
  enum class Kind { kSplit, kPrefixSpace };  // kPrefixSpace: ByteLevel's add_prefix_space
  Kind kind = Kind::kSplit;
  RegexSplitter splitter;  // for kSplit
};

struct ByteLevelBpeParts {
  std::string source;  // names the file in error messages
  // Model vocabulary: (token text in the byte alphabet, id). Ids must be unique.
  std::vector<std::pair<std::string, int32_t>> vocab;
  // Merges in rank order: rank i merges merges[i].first + merges[i].second.
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<AddedToken> added_tokens;  // ids may repeat model vocab ids
  std::vector<NormalForm> normalizer;
  std::vector<PreTokenizerStep> pre_tokenizer;
  bool ignore_merges = false;
  int32_t unk_id = -1;
  int32_t bos_id = -1;
  int32_t eos_id = -1;
};

// Checks ids (non-negative, unique, below the number of entries so the id table stays
// proportional to the input), merges (both sides and their concatenation in the vocabulary),
// special ids; errors name parts.source and the entry at fault.
Result<std::unique_ptr<Tokenizer>> MakeByteLevelBpe(ByteLevelBpeParts parts);

}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_BYTE_LEVEL_BPE_H_
