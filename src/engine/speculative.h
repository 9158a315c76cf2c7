// Speculative decoding's guessing side: where guesses come from (prompt lookup here; a draft
// model's greedy guesses are made by the engine, which runs it) and how many to make.
//
// Nothing here can change a bit of any output. A guess is only ever *checked*: the engine feeds
// the guesses after a sequence's last token in one forward pass (every row computed alone, so
// each row's logits are the bits plain decode would compute there), draws each position's token
// with the request's own sampler, and keeps a guess only when it equals that draw
// (engine/engine.h). A wrong guess costs time, never bits; so the rules below are free to be
// heuristics — but they are deterministic anyway, so a run's timings can be reproduced too.
#ifndef DETINFER_ENGINE_SPECULATIVE_H_
#define DETINFER_ENGINE_SPECULATIVE_H_

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "engine/request.h"

namespace detinfer {

class Transformer;

enum class DraftSource {
  kNone,    // plain decoding
  kLookup,  // prompt lookup: continue an earlier occurrence of the text's last n tokens
  kModel,   // a small draft model with the same vocabulary, greedy, with its own KV cache
  kCustom,  // the caller's guesser (SpeculativeOptions::custom): tests, library users
};
std::string_view DraftSourceName(DraftSource source);  // "none", "lookup", "draft", "custom"
// "none" / "off", "lookup", "draft"; anything else is an error naming the choices.
Result<DraftSource> ParseDraftSource(std::string_view name);

struct SpeculativeOptions {
  DraftSource source = DraftSource::kNone;
  // k: most guesses per verify pass, at least 1. Default 5: a pass then has at most 6 rows, the
  // matmul micro-tile's height on every SIMD path (kernels/simd/matmul_tile.h), so it streams
  // each weight once, as a decode step does.
  int32_t max_guesses = 5;
  // Prompt lookup matches the last n tokens for n from ngram_max down to ngram_min (the longest
  // match wins).
  int32_t ngram_min = 1;
  int32_t ngram_max = 4;
  // DraftSource::kModel: the draft model (must outlive the engine; its vocabulary must be the
  // target's) and its KV cache's capacity in tokens (0: the engine's kv_capacity_tokens). A
  // sequence the draft cache has no room for makes no guesses until there is room.
  const Transformer* draft_model = nullptr;
  int64_t draft_kv_capacity_tokens = 0;
  // DraftSource::kCustom: up to max_guesses guesses for a request whose tokens so far (prompt
  // and generated) are `tokens`. Extra guesses are dropped, and so is everything from the first
  // id outside the vocabulary on. Called from Engine::Step, on the engine's thread.
  std::function<std::vector<int32_t>(const Request& request, std::span<const int32_t> tokens,
                                     int32_t max_guesses)>
      custom;
};
Status ValidateSpeculativeOptions(const SpeculativeOptions& options);

// Prompt lookup (n-gram) drafting. For n = ngram_max down to ngram_min: the last n tokens of
// `text` are searched for earlier in `text`; the first n with a match wins (the longest match),
// and among its matches the most recent one (the largest start). The guesses are the tokens that
// followed that match, read from `text` extended by the guesses themselves, so a repeating
// stretch keeps repeating (a period shorter than `max_guesses` still yields max_guesses guesses).
// Empty when nothing matches or max_guesses < 1.
std::vector<int32_t> LookupDraft(std::span<const int32_t> text, int32_t ngram_min,
                                 int32_t ngram_max, int32_t max_guesses);

// How many guesses a request makes, from how its last ones fared (one per request).
//  - It starts at the maximum. All guesses of a pass accepted: one more next time (up to the
//    maximum). Some accepted: one more than were accepted. None: half as many (at least one).
//  - After kMissesBeforePause passes in a row with nothing accepted it stops guessing for a
//    while — 4 decode steps, doubling with every further pause up to 256 — so a request whose
//    text has nothing to copy pays for a failed guess ever more rarely. An accepted guess ends
//    the back-off.
class GuessBudget {
 public:
  static constexpr int32_t kMissesBeforePause = 2;
  static constexpr int32_t kFirstPause = 4;
  static constexpr int32_t kLongestPause = 256;

  explicit GuessBudget(int32_t max_guesses = 0) : max_(max_guesses), k_(max_guesses) {}
  // Guesses to make at this decode step (0 while paused).
  int32_t Next() const { return paused_ > 0 ? 0 : k_; }
  // A decode step ran without guesses (while paused, or when nothing could be proposed).
  void Skipped() {
    if (paused_ > 0) --paused_;
  }
  // A verify pass checked `proposed` >= 1 guesses and accepted the first `accepted` of them.
  void Checked(int32_t proposed, int32_t accepted);

 private:
  int32_t max_, k_;
  int32_t misses_ = 0;  // verify passes in a row with nothing accepted
  int32_t paused_ = 0;  // decode steps left without guessing
  int32_t next_pause_ = kFirstPause;
};

}  // namespace detinfer

#endif  // DETINFER_ENGINE_SPECULATIVE_H_
