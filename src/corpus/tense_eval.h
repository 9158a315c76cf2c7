// Tense agreement of greedy continuations (issue #7's grammar eval, docs/corpus.md).
//
// The fixed prompt set is every (time adverbial, pronoun) pair of grammar.h, English then
// Spanish, in table order: 19 adverbials x 6 pronouns + 19 x 8 = 266 prompts such as
// "Yesterday I", "Tomorrow she", "Ayer nosotros". A continuation agrees when the first verb
// phrase in it (grammar.h FindFirstVerbPhrase) has a tense the adverbial's time frame allows;
// person agreement (the verb also agrees with the pronoun) and full grammaticality (prompt +
// continuation is a sentence of the grammar) are counted separately.
#ifndef DETINFER_CORPUS_TENSE_EVAL_H_
#define DETINFER_CORPUS_TENSE_EVAL_H_

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "corpus/grammar.h"
#include "corpus/verb_corpus.h"

namespace detinfer {

struct TensePrompt {
  verb_grammar::Language language;
  verb_grammar::TimeFrame frame;
  verb_grammar::Person person;
  std::vector<std::string> words;  // adverbial words, pronoun
};
std::vector<TensePrompt> TenseEvalPrompts();

struct TenseEvalGroup {
  std::string name;  // "en", "es", "en/past", ...
  int64_t prompts = 0, agreed = 0;
};

struct TenseEvalResult {
  int64_t prompts = 0, agreed = 0;
  double accuracy = 0;            // agreed / prompts
  int64_t person_agreed = 0;      // tense and person both agree
  int64_t grammatical = 0;        // prompt + continuation parses as a whole sentence
  // One line per prompt whose tense does not agree: prompt, continuation, why.
  std::vector<std::string> failures;
  std::vector<TenseEvalGroup> by_language;  // en, es
  std::vector<TenseEvalGroup> by_frame;     // en/past, en/habitual, ..., es/future
};

// The checker on one continuation of one prompt (what EvaluateTenseAgreement does for each
// prompt; also the reward of the RL loop, src/rl/grpo.h). `continuation` is read up to its
// first EOS (which may be absent).
struct ContinuationCheck {
  bool tense_agrees = false;   // the first verb phrase has a tense the prompt's frame allows
  bool person_agrees = false;  // ... and that same reading agrees with the pronoun's person
  bool grammatical = false;    // prompt + continuation is a whole sentence of the grammar
  // Why the tense does not agree (empty when it does): "the verb is past; future wants ...",
  // the parser's problem, or an id outside the vocabulary.
  std::string problem;
};
ContinuationCheck CheckContinuation(const VerbCorpus& corpus, const TensePrompt& prompt,
                                    std::span<const int32_t> continuation);

using GreedyContinuation =
    std::function<Result<std::vector<int32_t>>(const std::vector<int32_t>&)>;

// For each prompt, `greedy` gets BOS + the prompt's word ids and returns the continuation ids;
// they are read up to the first EOS (which may be absent). An error from `greedy` is returned
// as is; an id outside the vocabulary makes that prompt a failure, not an error.
Result<TenseEvalResult> EvaluateTenseAgreement(const VerbCorpus& corpus,
                                               const GreedyContinuation& greedy);

// The result as a JSON object (keys in a fixed order, failures included), for the files people
// compare between runs.
std::string TenseEvalJson(const TenseEvalResult& result);

}  // namespace detinfer

#endif  // DETINFER_CORPUS_TENSE_EVAL_H_
