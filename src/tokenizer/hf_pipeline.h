// HfPipeline: the general Hugging Face tokenizers pipeline for tokenizer.json files that are not
// plain byte-level BPE (those keep byte_level_bpe.h) or plain WordLevel (word_level.h):
// SentencePiece-style BPE (Llama-2, Mistral, Gemma: byte_fallback, Prepend/Replace normalizers,
// Metaspace) and Unigram models. Each step does what the tokenizers crate's component of the
// same name does (docs/tokenizers.md lists them and the source files they follow).
//
// Encode: (1) added tokens with normalized = false are split off in the raw text; (2) the
// normalizer runs on each remaining segment; (3) added tokens with normalized = true are split
// off in the normalized text; (4) the pre-tokenizer steps split / rewrite each segment; (5) the
// model turns each piece into ids. Decode: the ids' token strings run through the decoder steps
// and are concatenated (joined by " " when the file has no decoder).
#ifndef DETINFER_TOKENIZER_HF_PIPELINE_H_
#define DETINFER_TOKENIZER_HF_PIPELINE_H_

#include <cstdint>
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

struct HfNormalizerStep {
  enum class Kind { kUnicode, kLowercase, kStrip, kPrepend, kReplace };
  Kind kind = Kind::kUnicode;
  NormalForm form = NormalForm::kNfc;  // kUnicode
  bool left = false, right = false;    // kStrip
  std::string text;                    // kPrepend: the prefix; kReplace: the replacement
  std::string literal;                 // kReplace with a String pattern
  std::shared_ptr<RegexSplitter> regex;  // kReplace with a Regex pattern
};

struct HfPreTokenizerStep {
  enum class Kind { kSplit, kMetaspace, kByteLevel };
  enum class Prepend { kFirst, kAlways, kNever };
  Kind kind = Kind::kSplit;
  std::shared_ptr<RegexSplitter> splitter;  // kSplit; kByteLevel with use_regex
  std::string replacement;                  // kMetaspace (one character)
  Prepend prepend = Prepend::kAlways;       // kMetaspace
  bool split = true;                        // kMetaspace
  bool add_prefix_space = false;            // kByteLevel
};

struct HfDecoderStep {
  enum class Kind { kReplace, kByteFallback, kFuse, kStrip, kMetaspace, kByteLevel };
  Kind kind = Kind::kReplace;
  std::string literal;                   // kReplace String pattern
  std::shared_ptr<RegexSplitter> regex;  // kReplace Regex pattern
  std::string content;                   // kReplace replacement; kStrip / kMetaspace character
  size_t start = 0, stop = 0;            // kStrip
  bool strip_first = true;               // kMetaspace: prepend_scheme != never
};

struct HfPipelineParts {
  enum class Model { kBpe, kUnigram };
  std::string source;  // names the file in error messages
  Model model = Model::kBpe;
  // BPE: (token, id), ids unique; merges in rank order. Unigram: vocab[i] = (piece, id i) and
  // scores[i].
  std::vector<std::pair<std::string, int32_t>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<double> scores;
  bool byte_fallback = false;
  bool fuse_unk = false;
  bool ignore_merges = false;
  int32_t unk_id = -1;
  std::vector<AddedToken> added_tokens;
  std::vector<HfNormalizerStep> normalizer;
  std::vector<HfPreTokenizerStep> pre_tokenizer;
  bool has_decoder = false;  // false: decode joins the token strings with " "
  std::vector<HfDecoderStep> decoder;
};

// Checks ids (unique, below the number of entries), merges, unk; errors name parts.source.
Result<std::unique_ptr<Tokenizer>> MakeHfPipeline(HfPipelineParts parts);

}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_HF_PIPELINE_H_
