// results.json, manifest.json and the summary table of `detinfer verify` (SPEC §V).
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>

#include "core/utc_time.h"
#include "verify/axes.h"
#include "verify/verify.h"

namespace detinfer::verify {

namespace {

nlohmann::json DivergenceJson(const Divergence& d) {
  nlohmann::json j = {{"layer", d.layer},
                      {"op", d.op},
                      {"position", d.position},
                      {"differing_elements", d.differing_elements},
                      {"compared_rows", d.compared_rows}};
  j["head"] = d.head >= 0 ? nlohmann::json(d.head) : nlohmann::json(nullptr);
  j["max_abs_diff"] = std::isnan(d.max_abs_diff) ? nlohmann::json("nan") : nlohmann::json(d.max_abs_diff);
  return j;
}

struct AxisTally {
  int cases = 0, passed = 0;
  int64_t min_step = -1, max_step = -1;
  std::string section;
};

std::map<std::string, AxisTally> Tally(const VerifyReport& report) {
  std::map<std::string, AxisTally> t;
  for (const CaseResult& r : report.results) {
    AxisTally& a = t[r.axis];
    a.section = r.section;
    ++a.cases;
    if (r.pass) ++a.passed;
    if (r.first_divergence_step >= 0) {
      a.min_step = a.min_step < 0 ? r.first_divergence_step : std::min(a.min_step, r.first_divergence_step);
      a.max_step = std::max(a.max_step, r.first_divergence_step);
    }
  }
  return t;
}

nlohmann::json StepOrNull(int64_t s) { return s >= 0 ? nlohmann::json(s) : nlohmann::json(nullptr); }
nlohmann::json CountOrNull(int32_t n) { return n > 0 ? nlohmann::json(n) : nlohmann::json(nullptr); }

}  // namespace

nlohmann::json ResultsJson(const VerifyReport& report) {
  nlohmann::json cases = nlohmann::json::array();
  for (const CaseResult& r : report.results) {
    nlohmann::json j = {{"case", r.case_index},
                        {"kind", r.kind},
                        {"axis", r.axis},
                        {"spec", r.section},
                        {"detail", r.detail},
                        {"prompt_ids", r.prompt_ids},
                        {"max_new_tokens", r.max_new_tokens},
                        {"sampling",
                         {{"temperature", r.sampling.temperature},
                          {"top_k", r.sampling.top_k},
                          {"top_p", r.sampling.top_p},
                          {"seed", r.sampling.seed}}},
                        {"pass", r.pass},
                        {"steps_compared", r.steps_compared},
                        {"first_divergence_step", StepOrNull(r.first_divergence_step)},
                        {"seconds", r.seconds}};
    if (!r.error.empty()) j["error"] = r.error;
    if (r.where) j["first_difference"] = DivergenceJson(*r.where);
    if (!r.localiser_note.empty()) j["localiser_note"] = r.localiser_note;
    cases.push_back(std::move(j));
  }
  return {{"cases", cases}};
}

nlohmann::json ManifestJson(const VerifyReport& report, const VerifyOptions& o,
                            const std::string& model_path,
                            const std::vector<std::pair<std::string, std::string>>& model_files) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& [path, sha] : model_files) files.push_back({{"path", path}, {"sha256", sha}});
  nlohmann::json isas = nlohmann::json::array();
  for (Isa i : report.isas) isas.push_back(std::string(IsaName(i)));
  int64_t min_step = -1, max_step = -1;
  for (const CaseResult& r : report.results) {
    if (r.first_divergence_step < 0) continue;
    min_step = min_step < 0 ? r.first_divergence_step : std::min(min_step, r.first_divergence_step);
    max_step = std::max(max_step, r.first_divergence_step);
  }
  nlohmann::json per_axis = nlohmann::json::object();
  for (const auto& [name, t] : Tally(report)) {
    per_axis[name] = {{"spec", t.section}, {"cases", t.cases}, {"passed", t.passed},
                      {"failed", t.cases - t.passed},
                      {"first_divergence_step_min", StepOrNull(t.min_step)},
                      {"first_divergence_step_max", StepOrNull(t.max_step)}};
  }
  return {
      {"date", UtcNow()},
      {"engine", {{"version", DETINFER_VERSION}, {"build_type", DETINFER_BUILD_TYPE},
                  {"cxx_flags", DETINFER_CXX_FLAGS}, {"compile_options", DETINFER_COMPILE_OPTIONS}}},
      {"isa", std::string(IsaName(report.reference_isa))},
      {"isa_paths_run", isas},
      {"threads", report.threads},
      {"model", {{"path", model_path}, {"files", files}}},
      {"seeds", {{"seed", o.seed}, {"note", "case i uses streams derived from (seed, i); each request has its own sampling seed (results.json)"}}},
      {"configuration",
       {{"prompts", o.prompts}, {"max_tokens", o.max_tokens}, {"long_prompts", o.long_prompts},
        {"long_tokens", o.long_tokens}, {"kv_dtype", std::string(DTypeName(o.kv_dtype))},
        {"context", report.context},
        {"max_tokens_default_shortened_from", CountOrNull(o.max_tokens_shortened_from)},
        {"long_tokens_default_shortened_from", CountOrNull(o.long_tokens_shortened_from)},
        {"axes", report.axes}, {"inject_fault", std::string(FaultName(o.fault))},
        {"localise", o.localise}}},
      {"results_summary",
       {{"passed", report.passed()}, {"failed", report.failed()},
        {"first_divergence_step_min", StepOrNull(min_step)},
        {"first_divergence_step_max", StepOrNull(max_step)}, {"per_axis", per_axis}}},
      {"seconds", report.seconds},
  };
}

std::string SummaryTable(const VerifyReport& report, const VerifyOptions& o) {
  std::string s;
  char line[256];
  std::snprintf(line, sizeof line, "%-18s %-6s %6s %6s %6s  %s\n", "axis", "spec", "cases",
                "passed", "failed", "first divergent step (min..max)");
  s += line;
  const auto tally = Tally(report);
  for (const std::string& name : report.axes) {
    auto it = tally.find(name);
    if (it == tally.end()) continue;
    const AxisTally& t = it->second;
    std::string steps = "-";
    if (t.min_step >= 0) steps = std::to_string(t.min_step) + ".." + std::to_string(t.max_step);
    std::snprintf(line, sizeof line, "%-18s %-6s %6d %6d %6d  %s\n", name.c_str(),
                  t.section.c_str(), t.cases, t.passed, t.cases - t.passed, steps.c_str());
    s += line;
  }
  s += std::to_string(o.prompts) + " prompts x " + std::to_string(o.max_tokens) + " tokens";
  const std::string long_name = LongAxisName(o.long_tokens);
  if (tally.count(long_name) != 0) {
    // --long-prompts larger than --prompts runs every prompt; say so rather than "first N".
    const int n = std::min(o.long_prompts, o.prompts);
    s += " (" + long_name + ": " + (o.long_prompts >= o.prompts ? "all " : "first ") +
         std::to_string(n) + (n == 1 ? " prompt" : " prompts") + " x " +
         std::to_string(o.long_tokens) + " tokens)";
  }
  std::snprintf(line, sizeof line,
                ", kv %s, reference isa %s, %d threads, fault %s: %d passed, %d failed in %.1f s\n",
                std::string(DTypeName(o.kv_dtype)).c_str(),
                std::string(IsaName(report.reference_isa)).c_str(), report.threads,
                std::string(FaultName(o.fault)).c_str(), report.passed(), report.failed(),
                report.seconds);
  s += line;
  std::string shortened;
  if (o.max_tokens_shortened_from > 0) {
    shortened += "--max-tokens " + std::to_string(o.max_tokens_shortened_from) + " -> " +
                 std::to_string(o.max_tokens);
  }
  if (o.long_tokens_shortened_from > 0 && tally.count(long_name) != 0) {
    shortened += std::string(shortened.empty() ? "" : ", ") + "--long-tokens " +
                 std::to_string(o.long_tokens_shortened_from) + " -> " +
                 std::to_string(o.long_tokens);
  }
  if (!shortened.empty()) {
    s += "defaults shortened to fit the model's " + std::to_string(report.context) +
         "-token context: " + shortened + "\n";
  }
  for (const CaseResult& r : report.results) {
    if (r.pass) continue;
    std::snprintf(line, sizeof line, "FAIL case %d %s: ", r.case_index, r.axis.c_str());
    s += line;
    if (!r.error.empty()) {
      s += "error: " + r.error + "\n";
      continue;
    }
    s += "step " + std::to_string(r.first_divergence_step);
    if (r.where) {
      std::snprintf(line, sizeof line, "; first difference: layer %lld, op %s, head %lld, position %lld, max |diff| %.3g\n",
                    static_cast<long long>(r.where->layer), r.where->op.c_str(),
                    static_cast<long long>(r.where->head), static_cast<long long>(r.where->position),
                    r.where->max_abs_diff);
      s += line;
    } else {
      s += "; " + r.localiser_note + "\n";
    }
  }
  return s;
}

}  // namespace detinfer::verify
