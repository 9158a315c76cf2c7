#include "verify/axes.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <span>
#include <string>

#include "verify/axes_direct.h"

namespace detinfer::verify {

namespace {

// Purposes of the axes' random streams (StreamSeed's third argument).
enum Purpose : uint64_t {
  kBatch = 10, kTraffic, kChunk, kPrefix, kPrefixGen, kResume, kRescore, kSpeculative
};

Outcome FromResult(const Request& r, const RequestResult& res) {
  Outcome o;
  o.tokens = res.tokens;
  for (float lp : res.logprobs) o.steps.push_back({lp});
  o.fed = r.prompt;
  o.fed.insert(o.fed.end(), res.tokens.begin(), res.tokens.end());
  return o;
}

Request Limited(Request r, int64_t limit) {
  if (limit >= 0) r.max_new_tokens = static_cast<int32_t>(std::clamp<int64_t>(limit, 1, r.max_new_tokens));
  return r;
}

// Runs `requests` together in one engine and returns the outcome of requests[target].
Result<Outcome> RunTogether(AxisEnv& env, const KernelContext& ctx, const EngineOptions& opts,
                            std::vector<Request> requests, size_t target) {
  DETINFER_ASSIGN_OR_RETURN(auto engine, Engine::Create(env.model(), ctx, opts));
  const Request r = requests[target];
  auto results = engine->Generate(std::move(requests));
  if (!results[target].status.ok()) return results[target].status;
  return FromResult(r, results[target]);
}

Result<Outcome> RunSolo(AxisEnv& env, const KernelContext& ctx, const EngineOptions& opts,
                        const Request& r) {
  return RunTogether(env, ctx, opts, {r}, 0);
}

// Axes whose reference side is the standard reference.
AxisDef Standard(std::string name, std::string section, std::string what,
                 std::function<Result<Outcome>(AxisEnv&, const VerifyCase&, const Request&)> variant) {
  AxisDef a{std::move(name), std::move(section), std::move(what), false, nullptr};
  a.run = [variant](AxisEnv& env, const VerifyCase& c, const Outcome& reference, bool is_variant,
                    int64_t limit) -> Result<Outcome> {
    if (!is_variant) {
      if (limit < 0) return reference;
      return RunReference(env, Limited(c.request, limit));
    }
    return variant(env, c, Limited(c.request, limit));
  };
  return a;
}

std::string Num(int64_t v) { return std::to_string(v); }

// Speculative decoding (§A10): the engine guesses up to k tokens and checks them in one pass.
// Even cases guess from the reference's own tokens with about one guess in three made wrong (a
// fixed function of the case and the position), so runs of all-right, all-wrong and mixed
// guesses are all checked; odd cases use prompt lookup, the drafts users run.
AxisDef SpeculativeAxis() {
  AxisDef a{"speculative", "A10",
            "k 1-6 guesses checked per pass (the reference's tokens, some made wrong; or lookup)",
            false, nullptr};
  a.run = [](AxisEnv& env, const VerifyCase& c, const Outcome& reference, bool variant,
             int64_t limit) -> Result<Outcome> {
    if (!variant) return limit < 0 ? reference : RunReference(env, c.request, limit);
    const Request r = Limited(c.request, limit);
    CaseRng rng(StreamSeed(c.rng_seed, 0, kSpeculative));
    EngineOptions o = env.ReferenceOptions();
    o.speculative.max_guesses = static_cast<int32_t>(rng.Uniform(1, 6));
    if (c.index % 2 == 0) {
      const std::vector<int32_t> known = reference.tokens;
      const uint64_t salt = rng.Next();
      const int64_t vocab = env.model().config().vocab_size;
      const size_t prompt_len = r.prompt.size();
      o.speculative.source = DraftSource::kCustom;
      o.speculative.custom = [known, salt, vocab, prompt_len](
                                 const Request&, std::span<const int32_t> tokens,
                                 int32_t max_guesses) {
        std::vector<int32_t> guesses;
        for (size_t at = tokens.size() - prompt_len;
             at < known.size() && guesses.size() < static_cast<size_t>(max_guesses); ++at) {
          int32_t g = known[at];
          if (CaseRng(StreamSeed(salt, at, kSpeculative)).Uniform(0, 2) == 0) {
            g = static_cast<int32_t>((g + 1) % vocab);  // a wrong guess
          }
          guesses.push_back(g);
        }
        return guesses;
      };
    } else {
      o.speculative.source = DraftSource::kLookup;
    }
    DETINFER_ASSIGN_OR_RETURN(auto engine, Engine::Create(env.model(), env.ReferenceContext(), o));
    auto res = engine->Generate({r});
    if (!res[0].status.ok()) return res[0].status;
    Outcome out = FromResult(r, res[0]);
    const SpeculativeStats& st = res[0].speculative;
    out.detail = std::string(c.index % 2 == 0 ? "known tokens" : "lookup") + ", k " +
                 Num(o.speculative.max_guesses) + ", accepted " + Num(st.accepted) + " of " +
                 Num(st.proposed) + " in " + Num(st.verify_passes) + " passes";
    return out;
  };
  return a;
}

}  // namespace

int64_t FirstDivergentStep(const Outcome& a, const Outcome& b) {
  const size_t n = std::min(a.steps.size(), b.steps.size());
  for (size_t i = 0; i < n; ++i) {
    const bool same_token = i >= a.tokens.size() || i >= b.tokens.size() || a.tokens[i] == b.tokens[i];
    if (!same_token || a.steps[i].size() != b.steps[i].size() ||
        std::memcmp(a.steps[i].data(), b.steps[i].data(), a.steps[i].size() * sizeof(float)) != 0) {
      return static_cast<int64_t>(i);
    }
  }
  return a.steps.size() == b.steps.size() ? -1 : static_cast<int64_t>(n);
}

KernelContext AxisEnv::Context(Isa isa, int threads) {
  KernelContext ctx;
  ctx.isa = isa;
  if (threads > 1) {
    auto& pool = pools_[threads];
    if (!pool) pool = std::make_unique<ThreadPool>(threads);
    ctx.pool = pool.get();
  }
  return ctx;
}

EngineOptions AxisEnv::ReferenceOptions() const {
  EngineOptions o;
  const int64_t ctx_len = model_.config().max_seq_len;
  o.chunk_size = ctx_len;  // one full prefill
  o.step_token_budget = ctx_len;
  o.kv_capacity_tokens = std::min<int64_t>(8 * ctx_len, 16384);
  o.kv_dtype = settings_.kv_dtype;
  o.prefix_cache = false;
  return o;
}

Result<Outcome> RunReference(AxisEnv& env, const Request& request, int64_t limit) {
  return RunSolo(env, env.ReferenceContext(), env.ReferenceOptions(), Limited(request, limit));
}

std::string LongAxisName(int32_t long_tokens) { return "long-" + std::to_string(long_tokens); }

bool IsLongAxisName(const std::string& name, int32_t long_tokens) {
  return name == "long" || name == "long-256" || name == LongAxisName(long_tokens);
}

std::vector<AxisDef> AllAxes(const std::vector<Isa>& isas, Isa reference_isa,
                             int32_t long_tokens) {
  std::vector<AxisDef> axes;
  axes.push_back(Standard("cache-off", "A5", "every step recomputes the whole sequence",
                          [](AxisEnv& env, const VerifyCase&, const Request& r) {
                            EngineOptions o = env.ReferenceOptions();
                            o.no_cache = true;
                            return RunSolo(env, env.ReferenceContext(), o, r);
                          }));
  axes.push_back(Standard(
      "batch-4", "A1 A2", "in a batch of 4 requests, at a random place",
      [](AxisEnv& env, const VerifyCase& c, const Request& r) -> Result<Outcome> {
        CaseRng rng(StreamSeed(c.rng_seed, 0, kBatch));
        std::vector<Request> batch;
        for (int i = 0; i < 3; ++i) {
          batch.push_back(FillerRequest(env.model().config(), rng, c.request.max_new_tokens,
                                        "filler-" + std::to_string(i)));
        }
        const size_t at = static_cast<size_t>(rng.Uniform(0, 3));
        batch.insert(batch.begin() + static_cast<std::ptrdiff_t>(at), r);
        EngineOptions o = env.ReferenceOptions();
        o.chunk_size = 64;
        DETINFER_ASSIGN_OR_RETURN(Outcome out, RunTogether(env, env.ReferenceContext(), o, batch, at));
        out.detail = "position " + Num(static_cast<int64_t>(at));
        return out;
      }));
  axes.push_back(Standard(
      "co-traffic", "A1", "random requests arrive before and while it runs (small chunks)",
      [](AxisEnv& env, const VerifyCase& c, const Request& r) -> Result<Outcome> {
        CaseRng rng(StreamSeed(c.rng_seed, 0, kTraffic));
        EngineOptions o = env.ReferenceOptions();
        o.chunk_size = rng.Uniform(1, 32);
        o.step_token_budget = rng.Uniform(o.chunk_size, 128);
        o.prefix_cache = true;
        DETINFER_ASSIGN_OR_RETURN(auto engine, Engine::Create(env.model(), env.ReferenceContext(), o));
        const ModelConfig& mc = env.model().config();
        int fillers = 0;
        const int64_t before = rng.Uniform(0, 2);
        for (; fillers < before; ++fillers) {
          DETINFER_RETURN_IF_ERROR(engine->Submit(FillerRequest(mc, rng, r.max_new_tokens, "f")));
        }
        for (int64_t s = rng.Uniform(0, 3); s > 0; --s) DETINFER_RETURN_IF_ERROR(engine->Step());
        const uint64_t target = static_cast<uint64_t>(fillers);
        DETINFER_RETURN_IF_ERROR(engine->Submit(r));
        ++fillers;
        std::optional<RequestResult> got;
        while (engine->HasWork()) {
          if (fillers < 7 && rng.Uniform(0, 2) == 0) {
            DETINFER_RETURN_IF_ERROR(engine->Submit(FillerRequest(mc, rng, r.max_new_tokens, "f")));
            ++fillers;
          }
          DETINFER_RETURN_IF_ERROR(engine->Step());
          for (RequestResult& res : engine->TakeFinished()) {
            if (res.submission == target) got = std::move(res);
          }
        }
        if (!got) return Status::Internal("co-traffic: the request never finished");
        if (!got->status.ok()) return got->status;
        Outcome out = FromResult(r, *got);
        out.detail = "chunk " + Num(o.chunk_size) + ", budget " + Num(o.step_token_budget) + ", " +
                     Num(fillers - 1) + " other requests";
        return out;
      }));
  axes.push_back(Standard("chunk", "A3", "chunked prefill with a random chunk size and budget",
                          [](AxisEnv& env, const VerifyCase& c, const Request& r) -> Result<Outcome> {
                            CaseRng rng(StreamSeed(c.rng_seed, 0, kChunk));
                            EngineOptions o = env.ReferenceOptions();
                            o.chunk_size = rng.Uniform(2, 17);
                            o.step_token_budget = rng.Uniform(o.chunk_size, 64);
                            DETINFER_ASSIGN_OR_RETURN(Outcome out,
                                                      RunSolo(env, env.ReferenceContext(), o, r));
                            out.detail = "chunk " + Num(o.chunk_size);
                            return out;
                          }));
  axes.push_back(Standard("token-by-token", "A3", "the prompt fed one token per step",
                          [](AxisEnv& env, const VerifyCase&, const Request& r) {
                            EngineOptions o = env.ReferenceOptions();
                            o.chunk_size = 1;
                            return RunSolo(env, env.ReferenceContext(), o, r);
                          }));
  axes.push_back(Standard(
      "prefix-reuse", "A4", "a prefix-cache hit at a random boundary of the prompt",
      [](AxisEnv& env, const VerifyCase& c, const Request& r) -> Result<Outcome> {
        CaseRng rng(StreamSeed(c.rng_seed, 0, kPrefix));
        EngineOptions o = env.ReferenceOptions();
        o.prefix_cache = true;
        o.block_size = 4;
        DETINFER_ASSIGN_OR_RETURN(auto engine, Engine::Create(env.model(), env.ReferenceContext(), o));
        Request warm;
        warm.id = "warm";
        const int64_t b = rng.Uniform(1, static_cast<int64_t>(r.prompt.size()));
        warm.prompt.assign(r.prompt.begin(), r.prompt.begin() + b);
        warm.max_new_tokens = 1;
        auto w = engine->Generate({warm});
        if (!w[0].status.ok()) return w[0].status;
        auto res = engine->Generate({r});
        if (!res[0].status.ok()) return res[0].status;
        Outcome out = FromResult(r, res[0]);
        out.detail = "boundary " + Num(b) + ", reused " + Num(res[0].cached_tokens);
        return out;
      }));
  {
    AxisDef a{"prefix-generated", "A4",
              "resume from a prefix-cache hit on KV written while decoding", false, nullptr};
    a.run = [](AxisEnv& env, const VerifyCase& c, const Outcome& reference, bool variant,
               int64_t limit) -> Result<Outcome> {
      CaseRng rng(StreamSeed(c.rng_seed, 0, kPrefixGen));
      const int64_t n = static_cast<int64_t>(reference.tokens.size());
      const int64_t m = n >= 2 ? rng.Uniform(1, n - 1) : 0;
      Request resumed = c.request;
      resumed.prompt.insert(resumed.prompt.end(), reference.tokens.begin(),
                            reference.tokens.begin() + m);
      resumed.max_new_tokens = static_cast<int32_t>(std::max<int64_t>(1, n - m));
      resumed = Limited(resumed, limit);
      if (!variant) return RunReference(env, resumed);
      EngineOptions o = env.ReferenceOptions();
      o.prefix_cache = true;
      o.block_size = 4;
      DETINFER_ASSIGN_OR_RETURN(auto engine, Engine::Create(env.model(), env.ReferenceContext(), o));
      Request warm = c.request;
      warm.max_new_tokens = static_cast<int32_t>(std::max<int64_t>(1, m));
      auto w = engine->Generate({warm});
      if (!w[0].status.ok()) return w[0].status;
      auto res = engine->Generate({resumed});
      if (!res[0].status.ok()) return res[0].status;
      Outcome out = FromResult(resumed, res[0]);
      out.detail = "after " + Num(m) + " generated, reused " + Num(res[0].cached_tokens);
      return out;
    };
    axes.push_back(std::move(a));
  }
  axes.push_back(Standard("threads", "A6", "another thread count (1 or 3; 2 or 4 when that is the reference's)",
                          [](AxisEnv& env, const VerifyCase& c, const Request& r) -> Result<Outcome> {
                            int t = c.index % 2 == 0 ? 1 : 3;
                            if (t == env.settings().threads) ++t;  // always another count
                            DETINFER_ASSIGN_OR_RETURN(
                                Outcome out,
                                RunSolo(env, env.Context(env.settings().reference_isa, t),
                                        env.ReferenceOptions(), r));
                            out.detail = "threads " + Num(t);
                            return out;
                          }));
  for (Isa isa : isas) {
    if (isa == reference_isa) continue;
    std::string name = "isa-";
    name += IsaName(isa);
    axes.push_back(Standard(name, "A7", "another instruction-set path",
                            [isa](AxisEnv& env, const VerifyCase&, const Request& r) {
                              return RunSolo(env, env.Context(isa, env.settings().threads),
                                             env.ReferenceOptions(), r);
                            }));
  }
  {
    AxisDef a{"rescore", "R1", "teacher-forced re-scoring of the generation", false, nullptr};
    a.run = [](AxisEnv& env, const VerifyCase& c, const Outcome& reference, bool variant,
               int64_t limit) -> Result<Outcome> {
      if (!variant) return limit < 0 ? reference : RunReference(env, c.request, limit);
      CaseRng rng(StreamSeed(c.rng_seed, 0, kRescore));
      EngineOptions o = env.ReferenceOptions();
      o.chunk_size = rng.Uniform(1, 64);
      DETINFER_ASSIGN_OR_RETURN(auto engine, Engine::Create(env.model(), env.ReferenceContext(), o));
      std::vector<int32_t> completion = reference.tokens;
      if (limit >= 0 && static_cast<int64_t>(completion.size()) > limit) {
        completion.resize(static_cast<size_t>(std::max<int64_t>(1, limit)));
      }
      DETINFER_ASSIGN_OR_RETURN(std::vector<float> lp, engine->Score(c.request.prompt, completion));
      Outcome out;
      out.tokens = completion;
      for (float v : lp) out.steps.push_back({v});
      out.fed = c.request.prompt;
      out.fed.insert(out.fed.end(), completion.begin(), completion.end());
      out.detail = "chunk " + Num(o.chunk_size);
      return out;
    };
    axes.push_back(std::move(a));
  }
  axes.push_back(SpeculativeAxis());
  axes.push_back(SlotIdentityAxis());
  axes.push_back(ResumeAxis());
  {
    AxisDef a{LongAxisName(long_tokens), "A5",
              "a long generation: cached decode vs recompute-everything", true, nullptr};
    a.run = [](AxisEnv& env, const VerifyCase& c, const Outcome&, bool variant,
               int64_t limit) -> Result<Outcome> {
      Request r = c.request;
      const int64_t n = env.settings().long_tokens;
      const int64_t cap = std::max<int64_t>(1, env.model().config().max_seq_len - n);
      if (static_cast<int64_t>(r.prompt.size()) > cap) r.prompt.resize(static_cast<size_t>(cap));
      r.max_new_tokens = static_cast<int32_t>(std::min<int64_t>(n, env.model().config().max_seq_len - 1));
      r = Limited(r, limit);
      if (!variant) return RunReference(env, r);
      EngineOptions o = env.ReferenceOptions();
      o.no_cache = true;
      return RunSolo(env, env.ReferenceContext(), o, r);
    };
    axes.push_back(std::move(a));
  }
  return axes;
}

}  // namespace detinfer::verify
