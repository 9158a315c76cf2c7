// Engine: continuous batching over a Transformer, with chunked prefill, preemption, seeded
// sampling, logprobs and teacher-forced re-scoring.
//
// Why no scheduling decision can change a request's bits: a step packs whatever segments the
// scheduler picks (decode tokens of running sequences, prefill chunks of waiting ones) into one
// Transformer::Forward, whose every row is computed alone (model/transformer.h); the draw for
// generated token t is keyed by (seed, t) (engine/philox.h); and a preempted sequence is
// recomputed from its tokens, which reproduces its K/V and logits exactly. So batching, chunk
// size, KV capacity and arrival order decide only *when* a request's tokens are computed.
//
// Speculative decoding (EngineOptions::speculative) is one more such decision. A decoding
// sequence may feed k guessed tokens after its last one (a verify segment); the pass gives the
// logits of every one of those positions, and the request's own sampler draws there in order —
// the draw for generated token t keyed by (seed, t) as always — keeping guess i only when it is
// the token drawn at i. Each row's logits depend only on the tokens before it, so as long as the
// guesses before a row were right, that row is the row plain decoding computes; the first wrong
// guess ends the run, and its K/V rows and those after it are cut from the cache (truncated,
// never published). So a request's tokens, logprobs and fingerprint are those of plain
// decoding, whatever the guesses were; only the number of steps changes.
#ifndef DETINFER_ENGINE_ENGINE_H_
#define DETINFER_ENGINE_ENGINE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "engine/request.h"
#include "engine/speculative.h"
#include "engine/weight_version.h"
#include "kernels/context.h"
#include "kv/paged_kv_cache.h"
#include "model/transformer.h"
#include "model/weight_update.h"
#include "tokenizer/streaming_decoder.h"
#include "tokenizer/tokenizer.h"

namespace detinfer {

// One generated token, as the engine reports it the moment it is sampled (for streaming).
struct TokenEvent {
  const std::string& id;
  uint64_t submission;       // which Submit() call it belongs to
  size_t index;              // 0 for the request's first generated token
  int32_t token;
  float logprob;             // raw (temperature 1)
  float sampling_logprob;
  const std::vector<TokenLogprob>* top;  // the alternatives, null unless top_logprobs > 0
  // The text this token made final (with a tokenizer; may be empty). Text is held back while it
  // is an incomplete UTF-8 character or could still be the start of a stop string, and released
  // by a later token; `last` is set on the request's final token, whose `text` holds whatever
  // was held. So the concatenated `text` of a request's events is exactly RequestResult::text:
  // what is streamed is what is returned.
  std::string_view text;
  bool last;
};

struct EngineOptions {
  int64_t chunk_size = 64;           // most prefill tokens of one sequence in one step
  int64_t step_token_budget = 512;   // most tokens of all sequences in one step
  int64_t kv_capacity_tokens = 4096;
  int64_t block_size = 16;
  DType kv_dtype = DType::kF32;
  bool no_cache = false;  // SPEC §A5: recompute every sequence from scratch at every step
  bool prefix_cache = true;  // reuse cached KV blocks of earlier prompts and generations (§A4)
  // Guess ahead and check the guesses in one pass (off by default; changes no bit, §A10).
  SpeculativeOptions speculative;
};

class Engine {
 public:
  // `tokenizer` (optional, must outlive the engine) turns generated ids into text and is needed
  // by requests with stop strings.
  static Result<std::unique_ptr<Engine>> Create(const Transformer& model, const KernelContext& ctx,
                                                const EngineOptions& options,
                                                const Tokenizer* tokenizer = nullptr);
  // The same over a model the engine may also update in place (UpdateWeights*, below): the
  // caller's Transformer then holds the new weights too. Defined in weight_update.cc.
  static Result<std::unique_ptr<Engine>> Create(Transformer& model, const KernelContext& ctx,
                                                const EngineOptions& options,
                                                const Tokenizer* tokenizer = nullptr);

  // Weight updates, pause and resume (engine/weight_update.cc; docs/engine.md, "Weight
  // updates"). Called between steps, like everything here. An update is checked in full and
  // built beside the old model before it replaces it: on error nothing changed and the old
  // weights keep serving, bit for bit. On success the version's counter goes up, its hash is
  // the new weights', the prefix cache is flushed, and requests in flight are treated as the
  // last Pause() left them (in_place when there was none).
  Status UpdateWeightsFromDisk(const std::string& path);
  Status UpdateWeightsFromTensors(std::span<const NamedTensor> tensors);
  const WeightVersion& weight_version() const { return weight_version_; }
  // abort: every request in flight ends now (FinishReason::kAbort, with what it generated).
  // retract: they give their KV back and wait; when stepping resumes each recomputes its KV
  // from its tokens (prompt + generated) under the weights current then, and goes on.
  // in_place: they keep their KV and continue where they were.
  // Until Resume(), Step() runs nothing; Submit() still queues.
  enum class PauseMode { kAbort, kRetract, kInPlace };
  Status Pause(PauseMode mode);
  void Resume() { paused_ = false; }
  bool paused() const { return paused_; }
  // Forgets every cached prefix (PagedKvCache::FlushPrefixCache); requests in flight go on.
  Status FlushCache() { return cache_.FlushPrefixCache(); }

  // Queues a request (its result carries `submission`, the count of earlier successful Submit
  // calls, so results can be matched to requests even when ids repeat). An invalid one (empty prompt, unknown token id, bad sampling values,
  // max_new_tokens < 1, a prompt that cannot fit the context or the KV capacity) is an error
  // for it alone; nothing is queued then.
  Status Submit(Request request);
  bool HasWork() const { return !active_.empty(); }
  // The submission number the next successful Submit() will get.
  uint64_t next_submission() const { return next_submission_; }
  size_t active() const { return active_.size(); }  // queued or running requests
  // Drops an unfinished request at once: its KV blocks go back to the cache (full blocks it
  // published stay in the prefix cache for reuse) and no result is reported for it. Other
  // requests are untouched. Returns false when no unfinished request has that submission.
  bool Cancel(uint64_t submission);
  // Positions of an unfinished request whose K/V are in the cache (its full blocks among them
  // published to the prefix cache), or nullopt once it is not queued or running. Lets a caller
  // hold back a request that could reuse them (engine/sample_group.h); changes nothing.
  std::optional<int64_t> ComputedTokens(uint64_t submission) const;
  // Runs one scheduler step: Plan() the batch, then Run() it (one forward pass).
  Status Step();
  // Results of the requests that finished since the last call, in finishing order.
  std::vector<RequestResult> TakeFinished();

  // Submits all, steps until done, returns one result per request in input order (a request
  // rejected by Submit has its error in `status`).
  std::vector<RequestResult> Generate(std::vector<Request> requests);

  // Teacher-forced raw logprobs of `completion` after `prompt`, from one (chunked) prefill:
  // bit-identical to the logprobs generation reports for the same tokens (SPEC §R1).
  Result<std::vector<float>> Score(const std::vector<int32_t>& prompt,
                                   const std::vector<int32_t>& completion);

  const PagedKvCache& cache() const { return cache_; }
  // Speculative decoding's counts over every request this engine has run.
  const SpeculativeStats& speculative_stats() const { return spec_stats_; }
  // Called for every generated token as soon as it is sampled (for streaming output).
  void SetOnTokenEvent(std::function<void(const TokenEvent&)> fn) { on_event_ = std::move(fn); }

 private:
  struct Sequence {
    Request request;
    std::vector<int32_t> tokens;  // prompt + generated so far
    int64_t computed = 0;         // positions whose K/V are in the cache
    SeqId kv_id = -1;             // -1 while not admitted
    RequestResult result;
    std::unique_ptr<StreamingDecoder> decoder;  // with a tokenizer
    size_t streamed = 0;                        // bytes of result.text given to TokenEvents
    bool speculate = false;                     // guesses ahead while decoding
    GuessBudget guesses;                        // how many, from how the last ones fared
  };
  Engine(const Transformer& model, const KernelContext& ctx, const EngineOptions& options,
         PagedKvCache cache, const Tokenizer* tokenizer);
  // Adds the token's text; true when it completed a stop string (looked for only if may_stop).
  bool HitStopString(Sequence& s, int32_t token, bool may_stop);
  // What s's penalties read when drawing the token after `generated`.
  TokenHistory History(const Sequence& s, std::span<const int32_t> generated) const;
  // The part of s's text not yet given to a TokenEvent that is final (all of it when `last`).
  std::string_view TakeStreamableText(Sequence& s, bool last);
  Status ValidateRequest(const Request& r) const;
  int64_t BlocksFor(int64_t tokens) const;
  // One sequence's part of a step: its next n pending tokens, from the first not yet computed,
  // and for a verify segment (a decoding sequence, n = 1) the guesses fed after them — or, with
  // a draft model, how many guesses Run() has the draft model make first.
  struct PlannedSegment {
    Sequence* s;
    int64_t n;
    std::vector<int32_t> guesses;
    int64_t draft = 0;
  };
  // A step's batch, in arrival order. Empty when the oldest sequence cannot grow even with every
  // later one preempted (it has outgrown the KV capacity).
  struct StepPlan {
    std::vector<PlannedSegment> segments;
  };
  // Decides the step's batch without computing anything. The only state it changes is the
  // scheduler's own: which sequences hold KV blocks (admitting one attaches its cached prefix,
  // preempting one frees its blocks for recomputation) and the counts of those (cached_tokens,
  // preemptions) — never a token, a K/V value, a logit or a draw.
  Result<StepPlan> Plan();
  // Gives decoding sequences of `plan` guesses, within the step's leftover token budget and
  // blocks (so guessing never delays or preempts another sequence's plain work).
  void PlanGuesses(StepPlan& plan, int64_t budget, int64_t free_blocks) const;
  // Runs a plan: the draft model's guesses (if any), one forward pass over its segments, then
  // each segment's logits.
  Status Run(StepPlan& plan);
  // The draft model's greedy guesses for the segments that plan some: its KV cache catches up
  // on the sequence's tokens, then one pass per further guess, all sequences batched. A
  // sequence its cache has no room for gets none.
  Status DraftGuesses(StepPlan& plan);
  // The draft cache forgets s (it finished, or its cache had no room).
  void DropDraft(const Sequence& s);
  Status Admit(Sequence& s);
  void Preempt(Sequence& s);
  Status ForwardNoCache(std::span<const Segment> segs, std::vector<float>* logits);
  Status Absorb(Sequence& s, const Segment& seg, const float* logits, int64_t rows);
  // A verify segment's logits (1 + guesses.size() rows): the tokens the request draws there,
  // the guesses kept while they equal the draws, the cache cut back to the kept positions.
  Status Verify(Sequence& s, std::span<const int32_t> guesses, const float* logits);
  // Reports a drawn token (sampled from logits row `row`) as the request's next one; returns
  // why that ends the request (kNone: it goes on), for the caller to Finish() it.
  FinishReason Emit(Sequence& s, const float* row, const SampledToken& t);
  void Finish(Sequence& s, FinishReason reason, Status status = Status::Ok());
  // The update's last step, after which it cannot fail (weight_update.cc).
  Status SwapWeights(Transformer next);

  const Transformer& model_;
  const Tokenizer* tokenizer_;
  KernelContext ctx_;
  EngineOptions options_;
  PagedKvCache cache_;
  // The draft model's cache (DraftSource::kModel); a sequence's id there is its submission.
  std::optional<PagedKvCache> draft_cache_;
  std::deque<std::unique_ptr<Sequence>> active_;  // arrival order
  std::vector<RequestResult> finished_;
  SeqId next_kv_id_ = 0;
  uint64_t next_submission_ = 0;
  std::function<void(const TokenEvent&)> on_event_;
  SpeculativeStats spec_stats_;
  Transformer* updatable_model_ = nullptr;  // the model UpdateWeights* changes, if any
  WeightVersion weight_version_;
  bool paused_ = false;
};

}  // namespace detinfer

#endif  // DETINFER_ENGINE_ENGINE_H_
