// The verb-grammar corpus the default model is trained on (docs/corpus.md): English and
// Spanish sentences from grammar.h, a word-level vocabulary, and the tokenizer files that let
// the engine load that vocabulary like any other (Hugging Face tokenizer.json, WordLevel).
#ifndef DETINFER_CORPUS_VERB_CORPUS_H_
#define DETINFER_CORPUS_VERB_CORPUS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace detinfer {

struct VerbCorpusOptions {
  uint64_t seed = 1;
  int64_t train_sentences = 50000;
  int64_t heldout_sentences = 2000;
};

struct VerbCorpus {
  // id -> word / punctuation / special token. Fixed by the grammar, independent of the seed:
  // <pad> 0, <unk> 1, <s> 2, </s> 3, then grammar.h's AllWords() order.
  std::vector<std::string> vocab;
  int32_t pad_id = 0, unk_id = 1, bos_id = 2, eos_id = 3;
  // Each sentence: BOS w1 ... wn EOS. Sentences are drawn with replacement, so a split may
  // repeat a sentence; a sentence is held out iff the FNV-1a hash of its text is 0 mod 20
  // (kHeldOutModulus), so train and held-out never share a sentence, whatever the seed.
  std::vector<std::vector<int32_t>> train, heldout;
};

inline constexpr uint64_t kHeldOutModulus = 20;
// Limits on the options, so a typo cannot ask for terabytes.
inline constexpr int64_t kMaxCorpusSentences = 100'000'000;

// Deterministic from options.seed (our own SplitMix64 stream, not <random>'s distributions,
// whose results differ between standard libraries). Errors name the option at fault.
Result<VerbCorpus> GenerateVerbCorpus(const VerbCorpusOptions& options);

// The words of `ids` joined by single spaces (special tokens as their text); an id outside the
// vocabulary is an error naming it.
Result<std::string> VerbCorpusText(const VerbCorpus& corpus, const std::vector<int32_t>& ids);

// Writes an HF tokenizer.json (WordLevel model, "Whitespace" pre-tokenizer, the four special
// tokens as added tokens, a TemplateProcessing post-processor that prepends <s>, no decoder)
// that LoadModelBundle / LoadHfTokenizerJson read. The bytes depend only on the vocabulary.
Status WriteWordLevelTokenizer(const VerbCorpus& corpus, const std::string& path);

// Writes tokenizer_config.json naming <s>, </s>, <unk>, <pad> (where LoadModelBundle finds the
// EOS of a Hugging Face directory).
Status WriteWordLevelTokenizerConfig(const VerbCorpus& corpus, const std::string& path);

}  // namespace detinfer

#endif  // DETINFER_CORPUS_VERB_CORPUS_H_
