// Speculative decoding on the 110M shape (bf16 weights, 2 threads): decode tok/s with prompt
// lookup (k = 5, the default, and 8) and with a 2-layer draft model (the same shape and
// vocabulary, 2 of the 12 layers; k = 5) vs plain decoding on three workloads:
//  - copy-heavy: the prompt is a seed, the model's own greedy continuation of it (128 tokens) and
//    the seed again — text the model will largely produce again, as an editing task hands back;
//    greedy, 128 new tokens;
//  - no match: a prompt of unrelated tokens, sampled at temperature 1 (this random model's
//    distribution is nearly flat, so its text never repeats and lookup finds nothing to copy);
//  - all wrong: the worst case for the guess budget — greedy from a 16-token prompt with a
//    guesser whose every guess is wrong (DraftSource::kCustom), so every verify pass is wasted
//    until the request backs off.
// Counters: decode tok/s (first generated token to last, so the prompt's prefill is left out) of
// plain and of speculative decoding and their ratio, the share of guesses accepted, guesses per
// generated token, and generated tokens per forward pass. The output is the same
// bits with and without speculation (tests/engine/speculative_test.cc); checked here too, so a
// figure is never one of a run that changed its output.
#include <benchmark/benchmark.h>

#include <chrono>
#include <optional>

#include "bench_common.h"
#include "bench_model.h"
#include "engine/engine.h"
#include "model/random_init.h"

namespace detinfer::bench {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int32_t kNewTokens = 128;

std::vector<int32_t> Seed(int64_t n, uint64_t salt) {
  std::vector<int32_t> out;
  for (int64_t i = 0; i < n; ++i) {
    out.push_back(static_cast<int32_t>((uint64_t(i) * 7919u + salt * 104729u + 13u) % 32000u));
  }
  return out;
}

// One generation of `r`; decode tok/s from the first token's event to the last one's.
struct Timed {
  RequestResult result;
  double decode_tok_s = 0;
};
// The draft model: InitRandomModel draws every weight from (seed, tensor, layer, element), so
// with the benchmark model's seed this is its embedding, first 2 layers and output head.
const Transformer& Draft2Layer() {
  static const Transformer* m = [] {
    ModelConfig c = Bench110MConfig();
    c.n_layers = 2;
    auto w = InitRandomModel(c, 1, DType::kBF16);
    ThreadPool pool(2);
    auto t = Transformer::Create(std::move(w).value(), KernelContext{BenchIsa(), &pool});
    return new Transformer(std::move(t).value());
  }();
  return *m;
}

enum class Guesser { kLookup, kWrong, kDraft };

Timed Run(const Transformer& m, const KernelContext& ctx, const Request& r, int32_t k,
          Guesser guesser = Guesser::kLookup) {
  EngineOptions opts;
  opts.kv_capacity_tokens = 1024;
  if (k > 0) {
    opts.speculative.source = guesser == Guesser::kWrong   ? DraftSource::kCustom
                              : guesser == Guesser::kDraft ? DraftSource::kModel
                                                           : DraftSource::kLookup;
    opts.speculative.draft_model = guesser == Guesser::kDraft ? &Draft2Layer() : nullptr;
    opts.speculative.max_guesses = k;
    // Never the token greedy decoding of this model draws next: it repeats its last token.
    opts.speculative.custom = [](const Request&, std::span<const int32_t> tokens, int32_t n) {
      return std::vector<int32_t>(size_t(n), (tokens.back() + 1) % 32000);
    };
  }
  auto e = Engine::Create(m, ctx, opts);
  std::optional<Clock::time_point> first;
  Clock::time_point last;
  (*e)->SetOnTokenEvent([&](const TokenEvent&) {
    last = Clock::now();
    if (!first) first = last;
  });
  Timed t;
  t.result = (*e)->Generate({r})[0];
  const double s = std::chrono::duration<double>(last - first.value_or(last)).count();
  if (s > 0) t.decode_tok_s = double(t.result.tokens.size() - 1) / s;
  return t;
}

// The workload's request, and plain decoding's result for it (to check every run against).
struct Workload {
  Request request;
  RequestResult plain;
};
const Workload& GetWorkload(int which, const Transformer& m, const KernelContext& ctx) {
  static std::optional<Workload> cached[3];
  if (!cached[which]) {
    Workload w;
    Request& r = w.request;
    r.id = which == 0 ? "copy-heavy" : which == 1 ? "no-match" : "all-wrong";
    r.max_new_tokens = kNewTokens;
    if (which == 0) {
      const std::vector<int32_t> seed = Seed(16, 5);
      Request first = r;
      first.prompt = seed;
      const RequestResult own = Run(m, ctx, first, 0).result;
      r.prompt = seed;
      r.prompt.insert(r.prompt.end(), own.tokens.begin(), own.tokens.end());
      r.prompt.insert(r.prompt.end(), seed.begin(), seed.end());
    } else if (which == 2) {
      r.prompt = Seed(16, 5);
    } else {
      r.prompt = Seed(160, 9);
      r.sampling.temperature = 1.0f;
      r.sampling.seed = 3;
    }
    w.plain = Run(m, ctx, r, 0).result;
    cached[which] = std::move(w);
  }
  return *cached[which];
}

// Each iteration runs plain decoding and then speculative decoding of the same request, so the
// speed-up is a ratio of two runs made back to back (a machine whose load drifts skews both).
void BM_SpeculativeDecode(benchmark::State& state) {
  const int which = static_cast<int>(state.range(0));
  const int32_t k = static_cast<int32_t>(state.range(1));
  const Guesser guesser = state.range(2) ? Guesser::kDraft : which == 2 ? Guesser::kWrong : Guesser::kLookup;
  const Transformer& m = Bench110M(DType::kBF16);
  ThreadPool pool(2);
  const KernelContext ctx{BenchIsa(), &pool};
  const Workload& w = GetWorkload(which, m, ctx);
  double plain_tok_s = 0, tok_s = 0, speedup = 0;
  SpeculativeStats stats;
  int64_t tokens = 0;
  for (auto _ : state) {
    const Timed plain = Run(m, ctx, w.request, 0);
    const Timed t = Run(m, ctx, w.request, k, guesser);
    if (!t.result.status.ok()) state.SkipWithError(t.result.status.ToString().c_str());
    if (t.result.tokens != w.plain.tokens || t.result.fingerprint != w.plain.fingerprint) {
      state.SkipWithError("speculative decoding changed the output");
    }
    plain_tok_s += plain.decode_tok_s;
    tok_s += t.decode_tok_s;
    speedup += plain.decode_tok_s > 0 ? t.decode_tok_s / plain.decode_tok_s : 0;
    stats.verify_passes += t.result.speculative.verify_passes;
    stats.proposed += t.result.speculative.proposed;
    stats.accepted += t.result.speculative.accepted;
    tokens += static_cast<int64_t>(t.result.tokens.size());
  }
  const double iters = static_cast<double>(state.iterations());
  state.counters["plain_tok/s"] = plain_tok_s / iters;
  state.counters["tok/s"] = tok_s / iters;
  state.counters["speedup"] = speedup / iters;
  state.counters["accept"] = stats.proposed > 0 ? double(stats.accepted) / double(stats.proposed) : 0;
  state.counters["guess/tok"] = double(stats.proposed) / double(tokens);
  // Decode steps: one per token without guesses, one per verify pass with them (the prompt's
  // pass gives the first token).
  const double passes = double(tokens - stats.accepted) / iters;
  state.counters["tok/pass"] = passes > 0 ? (double(tokens) / iters) / passes : 0;
  state.SetLabel(w.request.id + (guesser == Guesser::kDraft ? ", draft model" : ""));
}

}  // namespace

BENCHMARK(BM_SpeculativeDecode)->ArgNames({"workload", "k", "draft"})
    ->ArgsProduct({{0, 1, 2}, {5, 8}, {0}})->Args({0, 5, 1})->Args({1, 5, 1})
    ->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(1)->Repetitions(3);

}  // namespace detinfer::bench
