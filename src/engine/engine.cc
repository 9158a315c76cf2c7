#include "engine/engine.h"

#include <algorithm>
#include <string>

#include "kernels/softmax.h"

namespace detinfer {

namespace {

std::string Named(const Request& r) { return "request '" + r.id + "'"; }

// LogSoftmax of one logits row.
std::vector<float> RowLogprobs(const KernelContext& ctx, const float* row, int64_t vocab) {
  std::vector<float> out(static_cast<size_t>(vocab));
  const Status s = LogSoftmax(ctx, TensorView::Contiguous(row, DType::kF32, {1, vocab}),
                              TensorView::Contiguous(out.data(), DType::kF32, {1, vocab}));
  (void)s;  // shapes are ours and valid
  return out;
}

std::vector<TokenLogprob> TopN(const std::vector<float>& logprobs, int32_t n) {
  std::vector<int32_t> ids(logprobs.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  const size_t k = std::min(ids.size(), static_cast<size_t>(n));
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(),
                    [&](int32_t a, int32_t b) {
                      const float la = logprobs[size_t(a)], lb = logprobs[size_t(b)];
                      return la > lb || (la == lb && a < b);
                    });
  std::vector<TokenLogprob> out;
  for (size_t i = 0; i < k; ++i) out.push_back({ids[i], logprobs[size_t(ids[i])]});
  return out;
}

}  // namespace

Engine::Engine(const Transformer& model, const KernelContext& ctx, const EngineOptions& options,
               PagedKvCache cache, const Tokenizer* tokenizer)
    : model_(model), tokenizer_(tokenizer), ctx_(ctx), options_(options), cache_(std::move(cache)) {}

Result<std::unique_ptr<Engine>> Engine::Create(const Transformer& model, const KernelContext& ctx,
                                               const EngineOptions& options,
                                               const Tokenizer* tokenizer) {
  if (options.chunk_size < 1) {
    return Status::InvalidArgument("chunk size must be >= 1, got " +
                                   std::to_string(options.chunk_size));
  }
  if (options.step_token_budget < 1) {
    return Status::InvalidArgument("step token budget must be >= 1, got " +
                                   std::to_string(options.step_token_budget));
  }
  if (options.speculative.source != DraftSource::kNone) {
    DETINFER_RETURN_IF_ERROR(ValidateSpeculativeOptions(options.speculative));
  }
  DETINFER_ASSIGN_OR_RETURN(
      PagedKvCache cache,
      model.NewCache(options.kv_capacity_tokens, options.kv_dtype, options.block_size));
  // The no-cache mode recomputes everything by definition, so it never reuses a prefix.
  cache.EnablePrefixCache(options.prefix_cache && !options.no_cache);
  if (tokenizer != nullptr && tokenizer->vocab_size() != model.config().vocab_size) {
    return Status::InvalidArgument("engine: the tokenizer has " +
                                   std::to_string(tokenizer->vocab_size()) +
                                   " tokens but the model's vocabulary is " +
                                   std::to_string(model.config().vocab_size));
  }
  std::optional<PagedKvCache> draft_cache;
  if (options.speculative.source == DraftSource::kModel) {
    const Transformer& draft = *options.speculative.draft_model;
    if (draft.config().vocab_size != model.config().vocab_size) {
      return Status::InvalidArgument(
          "engine: the draft model's vocabulary is " + std::to_string(draft.config().vocab_size) +
          " tokens but the model's is " + std::to_string(model.config().vocab_size) +
          " (a draft model must share the model's tokenizer)");
    }
    const int64_t capacity = options.speculative.draft_kv_capacity_tokens > 0
                                 ? options.speculative.draft_kv_capacity_tokens
                                 : options.kv_capacity_tokens;
    DETINFER_ASSIGN_OR_RETURN(draft_cache,
                              draft.NewCache(capacity, options.kv_dtype, options.block_size));
  }
  auto engine = std::unique_ptr<Engine>(new Engine(model, ctx, options, std::move(cache), tokenizer));
  engine->draft_cache_ = std::move(draft_cache);
  engine->weight_version_.hash = model.weight_hash();
  return engine;
}

int64_t Engine::BlocksFor(int64_t tokens) const {
  return (tokens + options_.block_size - 1) / options_.block_size;
}

Status Engine::ValidateRequest(const Request& r) const {
  const ModelConfig& c = model_.config();
  if (r.prompt.empty()) return Status::InvalidArgument(Named(r) + ": empty prompt");
  if (r.max_new_tokens < 1) {
    return Status::InvalidArgument(Named(r) + ": max_tokens must be >= 1, got " +
                                   std::to_string(r.max_new_tokens));
  }
  for (size_t i = 0; i < r.prompt.size(); ++i) {
    if (r.prompt[i] < 0 || r.prompt[i] >= c.vocab_size) {
      return Status::OutOfRange(Named(r) + ": prompt token " + std::to_string(i) + " has id " +
                                std::to_string(r.prompt[i]) + " outside the vocabulary [0, " +
                                std::to_string(c.vocab_size) + ")");
    }
  }
  if (static_cast<int64_t>(r.prompt.size()) > c.max_seq_len) {
    return Status::OutOfRange(Named(r) + ": prompt of " + std::to_string(r.prompt.size()) +
                              " tokens exceeds the context length " +
                              std::to_string(c.max_seq_len));
  }
  if (BlocksFor(static_cast<int64_t>(r.prompt.size())) > cache_.num_blocks()) {
    return Status::ResourceExhausted(Named(r) + ": prompt of " + std::to_string(r.prompt.size()) +
                                     " tokens can never fit the KV capacity of " +
                                     std::to_string(cache_.num_blocks() * options_.block_size) +
                                     " tokens");
  }
  if (r.top_logprobs < 0 || r.top_logprobs > c.vocab_size) {
    return Status::InvalidArgument(Named(r) + ": top_logprobs must be in [0, vocab size], got " +
                                   std::to_string(r.top_logprobs));
  }
  if (r.prompt_top_logprobs < 0 || r.prompt_top_logprobs > c.vocab_size) {
    return Status::InvalidArgument(Named(r) +
                                   ": prompt_top_logprobs must be in [0, vocab size], got " +
                                   std::to_string(r.prompt_top_logprobs));
  }
  for (const std::string& stop : r.stop_strings) {
    if (stop.empty()) return Status::InvalidArgument(Named(r) + ": an empty stop string");
    if (tokenizer_ == nullptr) {
      return Status::InvalidArgument(Named(r) + ": stop strings need a tokenizer");
    }
  }
  if (r.min_tokens < 0 || r.min_tokens > r.max_new_tokens) {
    return Status::InvalidArgument(Named(r) + ": min_tokens must be in [0, max_tokens = " +
                                   std::to_string(r.max_new_tokens) + "], got " +
                                   std::to_string(r.min_tokens));
  }
  Status s = ValidateSamplingParams(r.sampling);
  if (!s.ok()) return Status::InvalidArgument(Named(r) + ": " + s.message());
  return Status::Ok();
}

Status Engine::Submit(Request request) {
  DETINFER_RETURN_IF_ERROR(ValidateRequest(request));
  auto s = std::make_unique<Sequence>();
  s->tokens = request.prompt;
  s->result.id = request.id;
  s->result.submission = next_submission_++;
  if (tokenizer_ != nullptr) {
    s->decoder = std::make_unique<StreamingDecoder>(*tokenizer_, request.prompt.back());
  }
  s->speculate = options_.speculative.source != DraftSource::kNone && request.speculative;
  if (s->speculate) s->guesses = GuessBudget(options_.speculative.max_guesses);
  s->request = std::move(request);
  active_.push_back(std::move(s));
  return Status::Ok();
}

Status Engine::Admit(Sequence& s) {
  s.kv_id = next_kv_id_++;
  DETINFER_RETURN_IF_ERROR(cache_.AddSequence(s.kv_id));
  // A request that wants every prompt logprob needs every prompt position computed.
  if (!s.request.prompt_logprobs) {
    DETINFER_ASSIGN_OR_RETURN(s.computed, cache_.AttachPrefix(s.kv_id, s.tokens));
    s.result.cached_tokens += s.computed;
  }
  return Status::Ok();
}

void Engine::Preempt(Sequence& s) {
  if (s.kv_id >= 0) (void)cache_.FreeSequence(s.kv_id);
  s.kv_id = -1;
  s.computed = 0;
  ++s.result.preemptions;
}

bool Engine::HitStopString(Sequence& s, int32_t token, bool may_stop) {
  if (!s.decoder) return false;
  auto piece = s.decoder->Push(token);
  if (!piece.ok()) return false;  // ids are checked against the vocabulary before sampling
  const size_t before = s.result.text.size();
  s.result.text += *piece;
  if (!may_stop) return false;
  for (const std::string& stop : s.request.stop_strings) {
    // Only a match that the new piece completed is new: search from where it could start.
    const size_t from = before >= stop.size() ? before - stop.size() + 1 : 0;
    const size_t at = s.result.text.find(stop, from);
    if (at != std::string::npos) {
      s.result.text.resize(at);
      s.decoder.reset();  // the text ends here
      return true;
    }
  }
  return false;
}

TokenHistory Engine::History(const Sequence& s, std::span<const int32_t> generated) const {
  TokenHistory h;
  h.prompt = s.request.prompt;
  h.generated = generated;
  if (static_cast<int64_t>(generated.size()) < s.request.min_tokens) h.suppressed = s.request.stop_ids;
  return h;
}

std::string_view Engine::TakeStreamableText(Sequence& s, bool last) {
  const std::string& text = s.result.text;
  size_t safe = text.size();
  if (!last) {
    // Hold back the tail that could be the start of a stop string. A complete stop string never
    // remains in the text (HitStopString cuts it), so only proper prefixes are looked for.
    for (const std::string& stop : s.request.stop_strings) {
      for (size_t k = std::min(stop.size() - 1, text.size()); k > 0; --k) {
        if (text.compare(text.size() - k, k, stop, 0, k) == 0) {
          safe = std::min(safe, text.size() - k);
          break;
        }
      }
    }
  }
  s.streamed = std::min(s.streamed, text.size());
  safe = std::max(safe, s.streamed);
  const std::string_view out = std::string_view(text).substr(s.streamed, safe - s.streamed);
  s.streamed = safe;
  return out;
}

void Engine::DropDraft(const Sequence& s) {
  const SeqId id = static_cast<SeqId>(s.result.submission);
  if (draft_cache_ && draft_cache_->HasSequence(id)) (void)draft_cache_->FreeSequence(id);
}

void Engine::Finish(Sequence& s, FinishReason reason, Status status) {
  if (s.decoder) s.result.text += s.decoder->Finish();  // bytes of an unfinished character
  if (s.kv_id >= 0) (void)cache_.FreeSequence(s.kv_id);
  DropDraft(s);
  s.kv_id = -1;
  s.result.finish = reason;
  s.result.status = std::move(status);
  s.result.weight_version = weight_version_;
  s.result.fingerprint = Fingerprint(s.result.tokens, s.result.logprobs);
  finished_.push_back(std::move(s.result));
}

Result<Engine::StepPlan> Engine::Plan() {
  // In arrival order: each sequence feeds its pending tokens (one when decoding, a chunk when
  // prefilling or recomputing) within the step's budget. When KV blocks run out, sequences that
  // arrived later are preempted first; a sequence that still cannot fit waits.
  StepPlan plan;
  int64_t budget = options_.step_token_budget;
  int64_t free_blocks = cache_.available_blocks();
  int64_t planned_blocks = 0;  // taken by the sequences planned so far
  for (size_t i = 0; i < active_.size() && budget > 0; ++i) {
    Sequence& s = *active_[i];
    if (s.kv_id < 0) {
      // Attaching cached blocks takes some of the available ones: count again.
      DETINFER_RETURN_IF_ERROR(Admit(s));
      free_blocks = cache_.available_blocks() - planned_blocks;
      if (free_blocks < 0) {
        // The cached blocks it attached were idle ones already counted as evictable for the
        // sequences planned before it: give them back; it waits (first come, first served).
        s.result.cached_tokens -= s.computed;
        (void)cache_.FreeSequence(s.kv_id);
        s.kv_id = -1;
        s.computed = 0;
        break;
      }
    }
    const int64_t pending = static_cast<int64_t>(s.tokens.size()) - s.computed;
    const int64_t n = std::min({pending, options_.chunk_size, budget});
    const int64_t have = s.kv_id >= 0 ? static_cast<int64_t>(cache_.BlockTable(s.kv_id).size()) : 0;
    const int64_t need = BlocksFor(s.computed + n) - have;
    for (size_t j = active_.size(); need > free_blocks && j-- > i + 1;) {
      Sequence& victim = *active_[j];
      if (victim.kv_id < 0) continue;
      Preempt(victim);
      // Count again rather than adding the victim's table: blocks it shares with another
      // sequence (a common prompt prefix) stay in use.
      free_blocks = cache_.available_blocks() - planned_blocks;
    }
    if (need > free_blocks) break;  // first come, first served: later ones wait too
    free_blocks -= need;
    planned_blocks += need;
    budget -= n;
    plan.segments.push_back({&s, n, {}});
  }
  if (options_.speculative.source != DraftSource::kNone) PlanGuesses(plan, budget, free_blocks);
  return plan;
}

void Engine::PlanGuesses(StepPlan& plan, int64_t budget, int64_t free_blocks) const {
  const SpeculativeOptions& spec = options_.speculative;
  for (PlannedSegment& p : plan.segments) {
    const Sequence& s = *p.s;
    const int64_t fed = s.computed + 1;  // positions computed once its last token is fed
    if (!s.speculate || p.n != 1 || static_cast<int64_t>(s.tokens.size()) != fed) continue;
    // At most one token fewer than it may still generate (the pass draws one more than it
    // guesses), no position past the context, and what the step has left.
    const int64_t room = BlocksFor(fed) + free_blocks;  // blocks it may end up holding
    int64_t k = std::min(
        {static_cast<int64_t>(s.guesses.Next()),
         static_cast<int64_t>(s.request.max_new_tokens) - static_cast<int64_t>(s.result.tokens.size()) - 1,
         model_.config().max_seq_len - fed, budget, room * options_.block_size - fed});
    if (spec.source == DraftSource::kModel) {
      // The draft model feeds the text and its first k - 1 guesses: all within its context.
      k = std::min(k, spec.draft_model->config().max_seq_len - fed + 1);
      if (k < 1) continue;
      p.draft = k;  // made by DraftGuesses, in Run
      budget -= k;
      free_blocks -= BlocksFor(fed + k) - BlocksFor(fed);
      continue;
    }
    if (k < 1) continue;
    if (spec.source == DraftSource::kLookup) {
      p.guesses = LookupDraft(s.tokens, spec.ngram_min, spec.ngram_max, static_cast<int32_t>(k));
    } else {
      p.guesses = spec.custom(s.request, s.tokens, static_cast<int32_t>(k));
      if (static_cast<int64_t>(p.guesses.size()) > k) p.guesses.resize(static_cast<size_t>(k));
      const auto bad = std::find_if(p.guesses.begin(), p.guesses.end(), [&](int32_t id) {
        return id < 0 || id >= model_.config().vocab_size;
      });
      p.guesses.erase(bad, p.guesses.end());
    }
    const int64_t g = static_cast<int64_t>(p.guesses.size());
    budget -= g;
    free_blocks -= BlocksFor(fed + g) - BlocksFor(fed);
  }
}

Status Engine::DraftGuesses(StepPlan& plan) {
  const Transformer& draft = *options_.speculative.draft_model;
  PagedKvCache& cache = *draft_cache_;
  const int64_t vocab = draft.config().vocab_size;
  struct Drafting {
    PlannedSegment* p;
    SeqId id;
    int64_t from;  // first position the draft cache does not hold
  };
  std::vector<Drafting> drafting;
  for (PlannedSegment& p : plan.segments) {
    if (p.draft < 1) continue;
    const SeqId id = static_cast<SeqId>(p.s->result.submission);
    if (!cache.HasSequence(id)) DETINFER_RETURN_IF_ERROR(cache.AddSequence(id));
    // Room for the text and all guesses but the last (which is drawn, never fed), or none.
    const int64_t text = static_cast<int64_t>(p.s->tokens.size());
    if (!cache.Reserve(id, text + p.draft - 1).ok()) {
      DropDraft(*p.s);
      continue;
    }
    drafting.push_back({&p, id, cache.Length(id)});
  }
  // Pass 0 feeds each sequence's text the draft cache does not hold yet (on its first guesses,
  // the whole text); pass j > 0 feeds guess j - 1. Each pass's last row gives the next guess,
  // greedily (the lowest id among equal logits).
  std::vector<float> logits;
  for (int64_t j = 0; !drafting.empty(); ++j) {
    std::vector<Segment> segs;
    for (const Drafting& d : drafting) {
      const std::vector<int32_t>& text = d.p->s->tokens;
      const int64_t size = static_cast<int64_t>(text.size());
      segs.push_back(j == 0 ? Segment{d.id, d.from,
                                      std::span(text).subspan(static_cast<size_t>(d.from)), false}
                            : Segment{d.id, size + j - 1,
                                      std::span(d.p->guesses).subspan(static_cast<size_t>(j - 1), 1),
                                      false});
    }
    DETINFER_RETURN_IF_ERROR(draft.Forward(ctx_, cache, segs, &logits));
    size_t kept = 0;
    for (size_t i = 0; i < drafting.size(); ++i) {
      const float* row = logits.data() + static_cast<int64_t>(i) * vocab;
      int32_t best = 0;
      for (int32_t t = 1; t < vocab; ++t) {
        if (row[t] > row[best]) best = t;
      }
      std::vector<int32_t>& g = drafting[i].p->guesses;
      g.push_back(best);
      if (static_cast<int64_t>(g.size()) < drafting[i].p->draft) drafting[kept++] = drafting[i];
    }
    drafting.resize(kept);
  }
  return Status::Ok();
}

Status Engine::Run(StepPlan& plan) {
  if (draft_cache_) DETINFER_RETURN_IF_ERROR(DraftGuesses(plan));
  // The batch: each planned sequence's next n tokens, from the first one not yet computed, and
  // its guesses after them (all logits: each guess needs the row before it checked). For the
  // pass the guesses stand after the sequence's tokens, so every segment is a run of its
  // sequence's tokens (as the no-cache path reads them); they come off before any is read.
  std::vector<Segment> segs;
  for (const PlannedSegment& p : plan.segments) {
    Sequence& s = *p.s;
    s.tokens.insert(s.tokens.end(), p.guesses.begin(), p.guesses.end());
    const int64_t prompt = static_cast<int64_t>(s.request.prompt.size());
    const bool all = s.request.prompt_logprobs &&
                     static_cast<int64_t>(s.result.prompt_logprobs.size()) < prompt - 1 &&
                     s.computed < prompt - 1;
    segs.push_back({s.kv_id, s.computed,
                    std::span<const int32_t>(s.tokens).subspan(
                        static_cast<size_t>(s.computed), static_cast<size_t>(p.n) + p.guesses.size()),
                    all || !p.guesses.empty()});
  }
  std::vector<float> logits;
  const Status forward = options_.no_cache ? ForwardNoCache(segs, &logits)
                                           : model_.Forward(ctx_, cache_, segs, &logits);
  for (const PlannedSegment& p : plan.segments) {
    p.s->tokens.resize(p.s->tokens.size() - p.guesses.size());
  }
  DETINFER_RETURN_IF_ERROR(forward);

  // Each segment's logits.
  const int64_t vocab = model_.config().vocab_size;
  const float* row = logits.data();
  for (size_t i = 0; i < plan.segments.size(); ++i) {
    const PlannedSegment& p = plan.segments[i];
    Sequence& s = *p.s;
    const int64_t rows = segs[i].all_logits ? static_cast<int64_t>(segs[i].tokens.size()) : 1;
    if (!p.guesses.empty()) {
      DETINFER_RETURN_IF_ERROR(Verify(s, p.guesses, row));
    } else {
      if (s.speculate && p.n == 1) s.guesses.Skipped();
      // Published before Absorb may finish (and free) the sequence: its blocks stay cached.
      DETINFER_RETURN_IF_ERROR(cache_.Publish(s.kv_id, s.tokens));
      DETINFER_RETURN_IF_ERROR(Absorb(s, segs[i], row, rows));
    }
    row += rows * vocab;
  }
  return Status::Ok();
}

Status Engine::Step() {
  if (active_.empty() || paused_) return Status::Ok();
  DETINFER_ASSIGN_OR_RETURN(StepPlan plan, Plan());
  if (plan.segments.empty()) {
    // The oldest sequence cannot grow even with everything else preempted: it has outgrown the
    // KV capacity. It ends with an error; the others go on.
    Sequence& s = *active_.front();
    Finish(s, FinishReason::kError,
           Status::ResourceExhausted(Named(s.request) + ": " + std::to_string(s.tokens.size()) +
                                     " tokens do not fit the KV capacity of " +
                                     std::to_string(cache_.num_blocks() * options_.block_size) +
                                     " tokens"));
    active_.pop_front();
    return Status::Ok();
  }
  DETINFER_RETURN_IF_ERROR(Run(plan));
  for (size_t i = 0; i < active_.size();) {
    if (active_[i]->result.finish != FinishReason::kNone) {
      active_.erase(active_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  return Status::Ok();
}

Status Engine::Absorb(Sequence& s, const Segment& seg, const float* logits, int64_t rows) {
  const int64_t vocab = model_.config().vocab_size;
  const int64_t n = static_cast<int64_t>(seg.tokens.size());
  const int64_t prompt = static_cast<int64_t>(s.request.prompt.size());
  if (seg.all_logits) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t p = seg.pos + r;  // logits at p predict token p + 1
      if (p + 1 < prompt && p == static_cast<int64_t>(s.result.prompt_logprobs.size())) {
        const std::vector<float> row = RowLogprobs(ctx_, logits + r * vocab, vocab);
        const float lp = row[size_t(s.request.prompt[size_t(p + 1)])];
        s.result.prompt_logprobs.push_back(lp);
        s.result.prompt_ranks.push_back(
            1 + static_cast<int32_t>(std::count_if(row.begin(), row.end(),
                                                   [lp](float x) { return x > lp; })));
        if (s.request.prompt_top_logprobs > 0) {
          s.result.prompt_top_logprobs.push_back(TopN(row, s.request.prompt_top_logprobs));
        }
      }
    }
  }
  s.computed += n;
  if (s.computed < static_cast<int64_t>(s.tokens.size())) return Status::Ok();

  const float* last = logits + (rows - 1) * vocab;
  DETINFER_ASSIGN_OR_RETURN(
      const SampledToken t,
      SampleToken(ctx_, std::span<const float>(last, static_cast<size_t>(vocab)),
                  s.request.sampling, s.result.tokens.size(), History(s, s.result.tokens)));
  const FinishReason reason = Emit(s, last, t);
  if (reason != FinishReason::kNone) Finish(s, reason);
  return Status::Ok();
}

Status Engine::Verify(Sequence& s, std::span<const int32_t> guesses, const float* logits) {
  const int64_t vocab = model_.config().vocab_size;
  const int64_t k = static_cast<int64_t>(guesses.size());
  // Row i holds the logits after the last token and guesses [0, i). While every guess so far is
  // the token drawn before it, row i is exactly the row plain decoding computes at that position,
  // so the draw there (keyed by the token's index, as always) is plain decoding's draw. The
  // first guess that is not stops the run: the draw at its row is the last token of the step.
  std::vector<SampledToken> drawn;
  // The draw at row i reads the tokens generated before it: the reported ones, then those
  // drawn at rows [0, i) (penalties must see exactly what plain decoding would have).
  std::vector<int32_t> generated = s.result.tokens;
  Status fault;
  for (int64_t i = 0; i <= k; ++i) {
    auto t = SampleToken(ctx_, std::span<const float>(logits + i * vocab, static_cast<size_t>(vocab)),
                         s.request.sampling, generated.size(), History(s, generated));
    if (!t.ok()) {  // reported below, where plain decoding would have reached it
      fault = t.status();
      break;
    }
    drawn.push_back(*t);
    generated.push_back(t->token);
    if (i == k || t->token != guesses[static_cast<size_t>(i)]) break;
  }
  // Guesses equal to their draw; the last token and those guesses are the positions whose K/V
  // are right. The rest are cut from the cache before anything can read or publish them.
  const int64_t accepted = static_cast<int64_t>(drawn.size()) - (fault.ok() ? 1 : 0);
  DETINFER_RETURN_IF_ERROR(cache_.Truncate(s.kv_id, s.computed + 1 + accepted));
  // The draft model fed the text and guesses [0, k - 1): it keeps those that were right.
  const SeqId draft_id = static_cast<SeqId>(s.result.submission);
  if (draft_cache_ && draft_cache_->HasSequence(draft_id)) {
    DETINFER_RETURN_IF_ERROR(draft_cache_->Truncate(
        draft_id, static_cast<int64_t>(s.tokens.size()) + std::min(accepted, k - 1)));
  }
  s.tokens.insert(s.tokens.end(), guesses.begin(), guesses.begin() + accepted);
  const Status published = cache_.Publish(s.kv_id, s.tokens);
  s.tokens.resize(s.tokens.size() - static_cast<size_t>(accepted));
  DETINFER_RETURN_IF_ERROR(published);
  s.computed += 1 + accepted;
  s.guesses.Checked(static_cast<int32_t>(k), static_cast<int32_t>(accepted));

  // The drawn tokens, one by one, exactly as plain decoding reports them; a stop or the length
  // limit inside the run ends the request there, and nothing after it is reported.
  int64_t emitted = 0;
  FinishReason reason = FinishReason::kNone;
  while (reason == FinishReason::kNone && emitted < static_cast<int64_t>(drawn.size())) {
    reason = Emit(s, logits + emitted * vocab, drawn[static_cast<size_t>(emitted)]);
    ++emitted;
  }
  for (SpeculativeStats* st : {&s.result.speculative, &spec_stats_}) {
    ++st->verify_passes;
    st->proposed += k;
    st->accepted += std::min(accepted, emitted);  // the guesses it reported
  }
  if (reason != FinishReason::kNone) {
    Finish(s, reason);
    return Status::Ok();
  }
  return fault;
}

FinishReason Engine::Emit(Sequence& s, const float* row, const SampledToken& t) {
  const int64_t vocab = model_.config().vocab_size;
  const uint64_t index = s.result.tokens.size();
  s.result.tokens.push_back(t.token);
  s.result.logprobs.push_back(t.logprob);
  s.result.sampling_logprobs.push_back(t.sampling_logprob);
  if (s.request.top_logprobs > 0) {
    s.result.top_logprobs.push_back(TopN(RowLogprobs(ctx_, row, vocab), s.request.top_logprobs));
  }
  s.tokens.push_back(t.token);
  const auto& stop = s.request.stop_ids;
  // A stop id ends the request without adding its text; otherwise the token's text extends the
  // request's text and may complete a stop string. A skipped special token adds no text and is
  // not seen by the decoder, so the next token decodes as if it followed the one before (as
  // Hugging Face's decode with skip_special_tokens drops the ids first).
  // Before min_tokens no stop counts: a stop id cannot have been drawn (History suppressed
  // it), and the text grows without being searched for stop strings.
  const bool may_stop = static_cast<int64_t>(s.result.tokens.size()) >= s.request.min_tokens;
  const bool stop_id = std::find(stop.begin(), stop.end(), t.token) != stop.end();
  const bool skipped = s.request.skip_special_tokens && tokenizer_ != nullptr &&
                       tokenizer_->IsSpecial(t.token);
  const bool stop_string = !stop_id && !skipped && HitStopString(s, t.token, may_stop);
  FinishReason reason = FinishReason::kNone;
  if (stop_id || stop_string) {
    reason = FinishReason::kStop;
  } else if (static_cast<int64_t>(s.result.tokens.size()) >= s.request.max_new_tokens) {
    reason = FinishReason::kLength;
  } else if (static_cast<int64_t>(s.tokens.size()) > model_.config().max_seq_len) {
    reason = FinishReason::kContext;  // the new token has no position left to be fed at
  }
  if (reason != FinishReason::kNone && s.decoder) {
    s.result.text += s.decoder->Finish();  // bytes of an unfinished character
    s.decoder.reset();
  }
  if (on_event_) {
    const std::string_view text = TakeStreamableText(s, reason != FinishReason::kNone);
    on_event_({s.request.id, s.result.submission, index, t.token, t.logprob, t.sampling_logprob,
               s.request.top_logprobs > 0 ? &s.result.top_logprobs.back() : nullptr, text,
               reason != FinishReason::kNone});
  }
  return reason;
}

Status Engine::ForwardNoCache(std::span<const Segment> segs, std::vector<float>* logits) {
  // Every segment's whole prefix is recomputed in a throw-away cache; the engine's cache only
  // tracks how far each sequence has got.
  logits->clear();
  const int64_t vocab = model_.config().vocab_size;
  for (const Segment& seg : segs) {
    const int64_t end = seg.pos + static_cast<int64_t>(seg.tokens.size());
    const int32_t* start = seg.tokens.data() - seg.pos;
    DETINFER_ASSIGN_OR_RETURN(PagedKvCache scratch,
                              model_.NewCache(end, options_.kv_dtype, options_.block_size));
    DETINFER_RETURN_IF_ERROR(scratch.AddSequence(0));
    const Segment whole{0, 0, std::span<const int32_t>(start, static_cast<size_t>(end)),
                        seg.all_logits};
    std::vector<float> out;
    DETINFER_RETURN_IF_ERROR(model_.Forward(ctx_, scratch, std::span(&whole, 1), &out));
    const int64_t rows = seg.all_logits ? static_cast<int64_t>(seg.tokens.size()) : 1;
    logits->insert(logits->end(), out.end() - rows * vocab, out.end());
    DETINFER_RETURN_IF_ERROR(cache_.Reserve(seg.seq, end));
    DETINFER_RETURN_IF_ERROR(cache_.Commit(seg.seq, end));
  }
  return Status::Ok();
}

bool Engine::Cancel(uint64_t submission) {
  for (auto it = active_.begin(); it != active_.end(); ++it) {
    Sequence& s = **it;
    if (s.result.submission != submission) continue;
    if (s.kv_id >= 0) (void)cache_.FreeSequence(s.kv_id);
    DropDraft(s);
    active_.erase(it);
    return true;
  }
  return false;
}

std::optional<int64_t> Engine::ComputedTokens(uint64_t submission) const {
  for (const auto& s : active_) {
    if (s->result.submission == submission) return s->computed;
  }
  return std::nullopt;
}

std::vector<RequestResult> Engine::TakeFinished() {
  std::vector<RequestResult> out;
  out.swap(finished_);
  return out;
}

std::vector<RequestResult> Engine::Generate(std::vector<Request> requests) {
  std::vector<RequestResult> results(requests.size());
  if (paused_) {  // nothing would run until Resume(): fail them all, queue none
    for (size_t i = 0; i < requests.size(); ++i) {
      results[i].id = requests[i].id;
      results[i].status = Status::InvalidArgument("engine: paused (Resume() first)");
      results[i].finish = FinishReason::kError;
    }
    return results;
  }
  std::vector<size_t> slot_of;  // submission - first -> index into requests
  const uint64_t first = next_submission_;
  for (size_t i = 0; i < requests.size(); ++i) {
    results[i].id = requests[i].id;
    results[i].status = Submit(requests[i]);
    if (!results[i].status.ok()) {
      results[i].finish = FinishReason::kError;
    } else {
      slot_of.push_back(i);
    }
  }
  while (HasWork()) {
    Status s = Step();
    if (!s.ok()) {  // an engine fault: report it on every unfinished request
      for (const auto& seq : active_) {
        if (seq->result.submission < first) continue;
        RequestResult& r = results[slot_of[seq->result.submission - first]];
        r.status = s;
        r.finish = FinishReason::kError;
      }
      active_.clear();
      break;
    }
    std::vector<RequestResult> others;  // submitted earlier through Submit: kept for TakeFinished
    for (RequestResult& r : TakeFinished()) {
      if (r.submission < first) {
        others.push_back(std::move(r));
      } else {
        results[slot_of[r.submission - first]] = std::move(r);
      }
    }
    for (RequestResult& r : others) finished_.push_back(std::move(r));
  }
  return results;
}

Result<std::vector<float>> Engine::Score(const std::vector<int32_t>& prompt,
                                         const std::vector<int32_t>& completion) {
  Request probe;
  probe.id = "score";
  probe.prompt = prompt;
  probe.prompt.insert(probe.prompt.end(), completion.begin(), completion.end());
  DETINFER_RETURN_IF_ERROR(ValidateRequest(probe));
  if (prompt.empty()) return Status::InvalidArgument("score: empty prompt");
  const std::vector<int32_t>& all = probe.prompt;
  DETINFER_ASSIGN_OR_RETURN(
      PagedKvCache scratch,
      model_.NewCache(static_cast<int64_t>(all.size()), options_.kv_dtype, options_.block_size));
  DETINFER_RETURN_IF_ERROR(scratch.AddSequence(0));
  const int64_t vocab = model_.config().vocab_size;
  const int64_t first = static_cast<int64_t>(prompt.size()) - 1;  // row predicting completion[0]
  std::vector<float> out, logits;
  for (int64_t pos = 0; pos < static_cast<int64_t>(all.size()); pos += options_.chunk_size) {
    const int64_t n = std::min<int64_t>(options_.chunk_size, static_cast<int64_t>(all.size()) - pos);
    const Segment seg{0, pos, std::span(all).subspan(static_cast<size_t>(pos), static_cast<size_t>(n)),
                      true};
    DETINFER_RETURN_IF_ERROR(model_.Forward(ctx_, scratch, std::span(&seg, 1), &logits));
    for (int64_t r = 0; r < n; ++r) {
      const int64_t p = pos + r;
      if (p >= first && p - first < static_cast<int64_t>(completion.size())) {
        out.push_back(RowLogprobs(ctx_, logits.data() + r * vocab,
                                  vocab)[size_t(completion[size_t(p - first)])]);
      }
    }
  }
  return out;
}

}  // namespace detinfer
