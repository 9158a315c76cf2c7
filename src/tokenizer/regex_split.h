// RegexSplitter: the "Split" pre-tokenizer of Hugging Face tokenizers, run with PCRE2.
//
// Patterns are compiled with PCRE2_UTF | PCRE2_UCP, so \p{L}, \p{N} and \s are Unicode-aware
// as in the Oniguruma engine Hugging Face uses (see docs/tokenizers.md for the known edge:
// U+0085 is \s in Oniguruma but not in PCRE2).
#ifndef DETINFER_TOKENIZER_REGEX_SPLIT_H_
#define DETINFER_TOKENIZER_REGEX_SPLIT_H_

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace detinfer {

// Hugging Face's SplitDelimiterBehavior (tokenizers src/tokenizer/normalizer.rs, split()).
enum class SplitBehavior {
  kIsolated,            // matches and the text between them are separate pieces
  kRemoved,             // only the text between matches is kept
  kMergedWithPrevious,  // a match joins the piece before it (unless that one is a match)
  kMergedWithNext,      // a match joins the piece after it (unless that one is a match)
  kContiguous,          // adjacent matches form one piece
};

inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

class RegexSplitter {
 public:
  // `literal`: the pattern is a plain string (Hugging Face's {"String": ...}). Errors name
  // `what` (e.g. "tok.json: pre_tokenizer.pretokenizers[0].pattern.Regex"), the PCRE2 message
  // and the offset in the pattern.
  // `invert`: the text between matches is what the behavior acts on (Hugging Face's invert).
  static Result<RegexSplitter> Compile(std::string_view pattern, bool literal,
                                       SplitBehavior behavior, const std::string& what,
                                       bool invert = false);

  // Appends the pieces of `text` (valid UTF-8) to `out`, in order, none empty.
  Status Split(std::string_view text, std::vector<std::string_view>* out) const;

  // Appends the non-empty matches of `text` (valid UTF-8), left to right, as [begin, end).
  Status Matches(std::string_view text, std::vector<std::pair<size_t, size_t>>* out) const;

 private:
  struct Code;
  std::shared_ptr<const Code> code_;
  SplitBehavior behavior_ = SplitBehavior::kIsolated;
  bool invert_ = false;
  std::string what_;

  Status SplitGeneral(std::string_view text, std::vector<std::string_view>* out) const;
};

}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_REGEX_SPLIT_H_
