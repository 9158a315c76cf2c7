#include "rl/grpo_report.h"

#include <xxhash.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

namespace detinfer {

namespace {

using nlohmann::ordered_json;

ordered_json VersionJson(const WeightVersion& v) {
  ordered_json j;
  j["counter"] = v.counter;
  j["hash"] = HashHex(v.hash);
  return j;
}

ordered_json GreedyJson(const TenseEvalResult& r) {
  ordered_json j;
  j["prompts"] = r.prompts;
  j["tense_agreed"] = r.agreed;
  j["accuracy"] = r.accuracy;
  j["person_agreed"] = r.person_agreed;
  j["grammatical"] = r.grammatical;
  return j;
}

// %.17g: a double read back from it is the same double.
std::string Exact(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

uint64_t ParamsHash(std::span<const float> params) {
  return XXH3_64bits(params.data(), params.size() * sizeof(float));
}

std::string HashHex(uint64_t hash) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, hash);
  return buf;
}

std::string GrpoLogJson(const GrpoRunSummary& s, std::span<const GrpoStepLog> steps) {
  const GrpoOptions& o = s.options;
  ordered_json run;
  run["task"] = "verb-grammar tense agreement (GRPO)";
  run["model"] = s.model;
  run["parameters"] = s.parameters;
  run["seed"] = o.seed;
  run["steps"] = static_cast<int64_t>(steps.size());
  run["prompts_per_step"] = o.prompts_per_step;
  run["group_size"] = o.group_size;
  run["max_new_tokens"] = o.max_new_tokens;
  run["lr"] = o.lr;
  run["adamw"] = {{"beta1", o.adamw.beta1}, {"beta2", o.adamw.beta2}, {"eps", o.adamw.eps},
                  {"weight_decay", o.adamw.weight_decay}};
  run["clip_norm"] = o.clip_norm;
  run["kl_coef"] = o.kl_coef;
  run["advantage_eps"] = o.advantage_eps;
  run["rollout_kv_dtype"] = std::string(DTypeName(o.rollout_kv_dtype));
  run["trainer_dtype"] = "f32";
  run["initial_weight_version"] = VersionJson(s.initial_version);
  if (s.greedy_before) run["greedy_before"] = GreedyJson(*s.greedy_before);
  ordered_json arr = ordered_json::array();
  for (const GrpoStepLog& l : steps) {
    ordered_json j;
    j["step"] = l.step;
    j["mean_reward"] = l.mean_reward;
    j["tense_agreement"] = l.tense_agreement;
    j["zero_advantage_groups"] = l.zero_advantage_groups;
    j["samples"] = l.samples;
    j["tokens"] = l.tokens;
    j["mean_completion_tokens"] = l.mean_completion_tokens;
    j["max_abs_mismatch"] = l.max_abs_mismatch;
    j["mismatched_tokens"] = l.mismatched_tokens;
    j["loss"] = l.loss;
    j["kl"] = l.kl;
    j["grad_norm"] = l.grad_norm;
    j["lr"] = l.lr;
    j["weight_version"] = VersionJson(l.weight_version);
    arr.push_back(std::move(j));
  }
  int64_t mismatched = 0;
  double max_mismatch = 0;
  for (const GrpoStepLog& l : steps) {
    mismatched += l.mismatched_tokens;
    max_mismatch = std::max(max_mismatch, l.max_abs_mismatch);
  }
  ordered_json fin;
  fin["max_abs_mismatch"] = max_mismatch;
  fin["mismatched_tokens"] = mismatched;
  fin["params_hash"] = HashHex(s.final_params_hash);
  if (!steps.empty()) fin["weight_version"] = VersionJson(steps.back().weight_version);
  if (s.greedy_after) fin["greedy_after"] = GreedyJson(*s.greedy_after);
  ordered_json out;
  out["run"] = std::move(run);
  out["steps"] = std::move(arr);
  out["final"] = std::move(fin);
  return out.dump(2) + "\n";
}

Status WriteGrpoCsv(std::span<const GrpoStepLog> steps, const std::string& path) {
  std::ofstream f(path, std::ios::trunc);
  if (!f) return Status::IoError("cannot write '" + path + "'");
  f << "step,mean_reward,tense_agreement,max_abs_mismatch,mismatched_tokens,loss,kl\n";
  for (const GrpoStepLog& l : steps) {
    f << l.step << ',' << Exact(l.mean_reward) << ',' << Exact(l.tense_agreement) << ','
      << Exact(l.max_abs_mismatch) << ',' << l.mismatched_tokens << ',' << Exact(l.loss) << ','
      << Exact(l.kl) << '\n';
  }
  if (!f) return Status::IoError("error writing '" + path + "'");
  return Status::Ok();
}

bool PlotGrpo(const std::string& csv_path, const std::string& png_path, const std::string& title,
              const std::string& label, const std::string& beside_csv,
              const std::string& beside_label) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) return false;
  const std::string script = png_path + ".gp";
  const bool beside = !beside_csv.empty();
  {
    std::ofstream gp(script, std::ios::trunc);
    gp << "set terminal pngcairo size 900,700\n"
       << "set output '" << png_path << "'\n"
       << "set datafile separator ','\n"
       << "set multiplot layout 2,1 title '" << title << "'\n"
       << "set key below\nset xlabel 'step'\nset ylabel 'reward'\nset yrange [0:1.05]\n"
       << "plot '" << csv_path << "' using 1:2 every ::1 with linespoints title 'mean reward, "
       << label << "', '' using 1:3 every ::1 with lines dashtype 2 title 'tense agreement, "
       << label << "'";
    if (beside) {
      gp << ", '" << beside_csv << "' using 1:2 every ::1 with linespoints title 'mean reward, "
         << beside_label << "'";
    }
    gp << "\nset key below\nset ylabel 'max |logprob_{rollout} - logprob_{trainer}|'\n"
       << "set yrange [*:*]\nset format y '%g'\n"
       << "plot '" << csv_path << "' using 1:4 every ::1 with linespoints title "
       << "'max over all tokens, " << label << "'";
    if (beside) {
      gp << ", '" << beside_csv << "' using 1:4 every ::1 with linespoints title "
         << "'max over all tokens, " << beside_label << "'";
    }
    gp << "\nunset multiplot\n";
  }
  const bool ok = std::system(("gnuplot '" + script + "' 2>/dev/null").c_str()) == 0;
  std::remove(script.c_str());
  return ok;
}

std::string GrpoProgressLine(const GrpoStepLog& l, int64_t total_steps) {
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "step %" PRId64 "/%" PRId64 "  reward %.3f  tense %5.1f%%  mismatch %.3g "
                "(%" PRId64 "/%" PRId64 " tokens)  loss %+.4f  kl %.4f  |g| %.3f  weights v%" PRIu64
                " %s  %.1f s (rollout %.1f, train %.1f, push %.2f)",
                l.step, total_steps, l.mean_reward, 100 * l.tense_agreement, l.max_abs_mismatch,
                l.mismatched_tokens, l.tokens, l.loss, l.kl, l.grad_norm,
                l.weight_version.counter, HashHex(l.weight_version.hash).c_str(),
                l.rollout_seconds + l.train_seconds + l.update_seconds, l.rollout_seconds,
                l.train_seconds, l.update_seconds);
  return buf;
}

}  // namespace detinfer
