// What a GRPO run leaves behind (docs/rl.md): the JSON log — every step's reward, logprob
// mismatch, loss and weight version, and nothing that depends on the wall clock or the thread
// count, so two runs with the same options write the same bytes — a CSV of the same numbers
// and a PNG of reward and mismatch per step (gnuplot, when installed).
#ifndef DETINFER_RL_GRPO_REPORT_H_
#define DETINFER_RL_GRPO_REPORT_H_

#include <optional>
#include <span>
#include <string>

#include "core/status.h"
#include "corpus/tense_eval.h"
#include "rl/grpo.h"

namespace detinfer {

struct GrpoRunSummary {
  std::string model;          // what the run started from, as the user named it
  GrpoOptions options;        // threads and isa are left out of the JSON (they change no bit)
  int64_t parameters = 0;
  WeightVersion initial_version;
  std::optional<TenseEvalResult> greedy_before, greedy_after;  // EvaluateGreedy, when run
  uint64_t final_params_hash = 0;  // XXH3-64 of the final f32 parameter bytes (ParamsHash)
};

// XXH3-64 of the flat f32 parameters' bytes.
uint64_t ParamsHash(std::span<const float> params);

// "0123456789abcdef": a hash as 16 hex digits, as the server writes weight hashes.
std::string HashHex(uint64_t hash);

// The log as JSON: {"run": {...}, "steps": [{step, mean_reward, tense_agreement,
// zero_advantage_groups, samples, tokens, mean_completion_tokens, max_abs_mismatch,
// mismatched_tokens, loss, kl, grad_norm, lr, weight_version: {counter, hash}}, ...],
// "final": {...}}. Doubles print round-trip exactly.
std::string GrpoLogJson(const GrpoRunSummary& summary, std::span<const GrpoStepLog> steps);

// step,mean_reward,tense_agreement,max_abs_mismatch,mismatched_tokens,loss,kl — one row a step.
Status WriteGrpoCsv(std::span<const GrpoStepLog> steps, const std::string& path);

// Two panels from the CSV: mean reward (and tense agreement) per step; max |rollout logprob -
// trainer logprob| per step. With `beside_csv` (another run's CSV, e.g. one with bf16 rollout KV)
// its reward and mismatch are drawn too, labelled `beside_label`. Returns false (draws nothing)
// when gnuplot is missing or fails.
bool PlotGrpo(const std::string& csv_path, const std::string& png_path, const std::string& title,
              const std::string& label = "this run", const std::string& beside_csv = "",
              const std::string& beside_label = "");

// "step 3/20  reward 0.612  tense 71.9%  mismatch 0 (0/412 tokens)  loss -0.0031  v3 1a2b...
// 2.1 s" — the progress line.
std::string GrpoProgressLine(const GrpoStepLog& log, int64_t total_steps);

}  // namespace detinfer

#endif  // DETINFER_RL_GRPO_REPORT_H_
