#include "verify/verify.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>

#include "core/thread_pool.h"
#include "verify/axes.h"

namespace detinfer::verify {

namespace {

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Detaches the observer however the localiser leaves.
struct ObserverGuard {
  Transformer& model;
  ~ObserverGuard() { model.SetObserver(nullptr); }
};

void Localise(Transformer& model, AxisEnv& env, const AxisDef& axis, const VerifyCase& c,
              const Outcome& reference, int64_t step, CaseResult* out) {
  ObserverGuard guard{model};
  TraceRecorder ref_rec, var_rec;
  model.SetObserver(&ref_rec);
  auto ref = axis.run(env, c, reference, false, step + 1);
  model.SetObserver(&var_rec);
  auto var = axis.run(env, c, reference, true, step + 1);
  model.SetObserver(nullptr);
  if (!ref.ok() || !var.ok()) {
    out->localiser_note = "re-run failed: " + (ref.ok() ? var.status() : ref.status()).message();
    return;
  }
  int64_t rows = 0;
  out->where = FirstDifference(ref_rec.TraceOf(ref->fed), var_rec.TraceOf(var->fed), &rows);
  if (!out->where) {
    out->localiser_note = "no tapped row differs among " + std::to_string(rows) +
                          " compared (the difference is after the last tap)";
  }
}

Status NoRoom(const char* flag, int32_t tokens, int64_t context) {
  return Status::InvalidArgument(std::string(flag) + " " + std::to_string(tokens) +
                                 " leaves no room for a prompt in the context of " +
                                 std::to_string(context) + " tokens (at most " +
                                 std::to_string(context - 1) + ")");
}

// A default leaves at least this share of the context for the prompt, so that short,
// medium and long prompts still differ on a small-context model.
int32_t FittedDefault(int64_t context) {
  return static_cast<int32_t>(std::max<int64_t>(1, context - std::max<int64_t>(1, context / 4)));
}

std::string Duration(double s) {
  char buf[32];
  const long long t = std::llround(std::max(0.0, s));
  if (t < 60) {
    std::snprintf(buf, sizeof buf, "%llds", t);
  } else if (t < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", t / 60, t % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", t / 3600, t / 60 % 60);
  }
  return buf;
}

}  // namespace

bool RunsLongAxis(const VerifyOptions& o) {
  if (o.long_prompts < 1) return false;
  if (o.axes.empty()) return true;
  return std::any_of(o.axes.begin(), o.axes.end(),
                     [&](const std::string& a) { return IsLongAxisName(a, o.long_tokens); });
}

Result<std::string> FitToContext(VerifyOptions* o, int64_t context, bool max_tokens_given,
                                 bool long_tokens_given, const std::string& model_name) {
  const int32_t fit = FittedDefault(context);
  std::string note;
  if (max_tokens_given) {
    if (o->max_tokens >= context) return NoRoom("--max-tokens", o->max_tokens, context);
  } else if (o->max_tokens > fit) {
    o->max_tokens_shortened_from = o->max_tokens;
    o->max_tokens = fit;
    note = "generating " + std::to_string(fit) + " tokens per prompt (--max-tokens)";
  }
  if (RunsLongAxis(*o)) {
    if (long_tokens_given) {
      if (o->long_tokens >= context) return NoRoom("--long-tokens", o->long_tokens, context);
    } else if (o->long_tokens > fit) {
      o->long_tokens_shortened_from = o->long_tokens;
      o->long_tokens = fit;
      note += std::string(note.empty() ? "" : ", ") + std::to_string(fit) +
              " on the long axis (--long-tokens)";
    }
  }
  if (note.empty()) return note;
  return model_name + " has a " + std::to_string(context) + "-token context; " + note;
}

std::string ProgressText(int done, int total, const std::string& what, double elapsed_s) {
  const int pct = total > 0 ? static_cast<int>(100LL * done / total) : 100;
  char head[64];
  std::snprintf(head, sizeof head, "[%d/%d %d%%] ", done, total, pct);
  std::string s = head + what;
  if (done >= total) return s + ", done in " + Duration(elapsed_s);
  if (done == 0) return s + ", ETA --";
  return s + ", ETA " + Duration(elapsed_s * (total - done) / done);
}

int VerifyReport::passed() const {
  return static_cast<int>(std::count_if(results.begin(), results.end(),
                                        [](const CaseResult& r) { return r.pass; }));
}
int VerifyReport::failed() const { return static_cast<int>(results.size()) - passed(); }

Result<VerifyReport> RunVerify(Transformer& model, const Tokenizer* tokenizer,
                               const VerifyOptions& options, const Progress& progress) {
  if (options.prompts < 1) {
    return Status::InvalidArgument("--prompts must be >= 1, got " + std::to_string(options.prompts));
  }
  if (options.max_tokens < 1) {
    return Status::InvalidArgument("--max-tokens must be >= 1, got " +
                                   std::to_string(options.max_tokens));
  }
  const int64_t context = model.config().max_seq_len;
  if (options.max_tokens >= context) return NoRoom("--max-tokens", options.max_tokens, context);
  if (RunsLongAxis(options)) {
    if (options.long_tokens < 1) {
      return Status::InvalidArgument("--long-tokens must be >= 1, got " +
                                     std::to_string(options.long_tokens));
    }
    if (options.long_tokens >= context) return NoRoom("--long-tokens", options.long_tokens, context);
  }
  if (options.fault == Fault::kStaleLayerCache && model.config().n_layers < 2) {
    return Status::InvalidArgument("fault stale-layer-cache needs a model with 2+ layers");
  }
  const auto t0 = std::chrono::steady_clock::now();
  const CpuFeatures cpu = DetectCpuFeatures();
  VerifyReport report;
  report.reference_isa = BestIsa(cpu);
  report.isas = SupportedIsas(cpu);
  report.threads = options.threads > 0 ? options.threads : ThreadPool::HardwareThreads();
  report.context = context;

  std::vector<AxisDef> all = AllAxes(report.isas, report.reference_isa, options.long_tokens);
  std::vector<AxisDef> axes;
  if (options.axes.empty()) {
    axes = all;
  } else {
    for (const std::string& name : options.axes) {
      auto it = std::find_if(all.begin(), all.end(), [&](const AxisDef& a) {
        return a.long_only ? IsLongAxisName(name, options.long_tokens) : a.name == name;
      });
      if (it == all.end()) {
        std::string known;
        for (const AxisDef& a : all) known += (known.empty() ? "" : ", ") + a.name;
        return Status::InvalidArgument("--axes: unknown axis '" + name + "' (this machine has: " +
                                       known + "; the long axis is also 'long')");
      }
      axes.push_back(*it);
    }
  }
  for (const AxisDef& a : axes) report.axes.push_back(a.name);

  AxisSettings settings;
  settings.reference_isa = report.reference_isa;
  settings.threads = report.threads;
  settings.kv_dtype = options.kv_dtype;
  settings.long_tokens = options.long_tokens;
  AxisEnv env(model, settings);
  model.InjectFault(options.fault);
  struct FaultReset {
    Transformer& m;
    ~FaultReset() { m.InjectFault(Fault::kNone); }
  } reset{model};

  const std::vector<VerifyCase> cases =
      MakeCases(model.config(), tokenizer, options.seed, options.prompts, options.max_tokens);
  int total = 0;
  for (const VerifyCase& c : cases) {
    for (const AxisDef& a : axes) total += (!a.long_only || c.index < options.long_prompts) ? 1 : 0;
  }
  int done = 0;
  for (const VerifyCase& c : cases) {
    auto reference = RunReference(env, c.request);
    for (const AxisDef& axis : axes) {
      if (axis.long_only && c.index >= options.long_prompts) continue;
      const auto tc = std::chrono::steady_clock::now();
      if (progress) progress(done, total, "case " + std::to_string(c.index) + " " + axis.name);
      CaseResult r;
      r.case_index = c.index;
      r.kind = c.kind;
      r.axis = axis.name;
      r.section = axis.section;
      r.prompt_ids = c.request.prompt;
      r.max_new_tokens = c.request.max_new_tokens;
      r.sampling = c.request.sampling;
      if (!reference.ok()) {
        r.error = "reference run failed: " + reference.status().message();
      } else {
        auto ref = axis.run(env, c, *reference, false, -1);
        auto var = ref.ok() ? axis.run(env, c, *reference, true, -1) : ref;
        if (!ref.ok() || !var.ok()) {
          r.error = (ref.ok() ? var.status() : ref.status()).message();
        } else {
          r.detail = var->detail;
          r.steps_compared = static_cast<int64_t>(std::max(ref->steps.size(), var->steps.size()));
          r.first_divergence_step = FirstDivergentStep(*ref, *var);
          r.pass = r.first_divergence_step < 0;
          if (!r.pass && options.localise) {
            Localise(model, env, axis, c, *reference, r.first_divergence_step, &r);
          }
        }
      }
      r.seconds = Since(tc);
      report.results.push_back(std::move(r));
      ++done;
    }
  }
  if (progress) progress(done, total, "done");
  report.seconds = Since(t0);
  return report;
}

}  // namespace detinfer::verify
