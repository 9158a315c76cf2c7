#include "verify/verify.h"

#include <algorithm>
#include <chrono>
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

}  // namespace

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
  if (options.max_tokens >= model.config().max_seq_len) {
    return Status::InvalidArgument("--max-tokens " + std::to_string(options.max_tokens) +
                                   " leaves no room for a prompt in the context of " +
                                   std::to_string(model.config().max_seq_len));
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

  std::vector<AxisDef> all = AllAxes(report.isas, report.reference_isa);
  std::vector<AxisDef> axes;
  if (options.axes.empty()) {
    axes = all;
  } else {
    for (const std::string& name : options.axes) {
      auto it = std::find_if(all.begin(), all.end(), [&](const AxisDef& a) { return a.name == name; });
      if (it == all.end()) {
        std::string known;
        for (const AxisDef& a : all) known += (known.empty() ? "" : ", ") + a.name;
        return Status::InvalidArgument("--axes: unknown axis '" + name + "' (this machine has: " +
                                       known + ")");
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
