// `detinfer rl`: GRPO on the verb-grammar task (src/rl/grpo.h), rollouts from the engine,
// gradients from the trainer, the new weights pushed into the running engine after every step.
// Writes OUT/rl_log.json (no wall-clock fields: two runs with the same flags write the same
// bytes), OUT/rl.csv, OUT/rl.png (gnuplot) and with --save the final model as OUT/model.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "cli_common.h"
#include "corpus/verb_corpus.h"
#include "model/hf_writer.h"
#include "model/loader.h"
#include "rl/grpo.h"
#include "rl/grpo_report.h"
#include "subcommands.h"

namespace detinfer::cli {

namespace {

struct RlFlags {
  std::string model, out, init = "model", rollout_kv_dtype = "f32", beside;
  uint64_t init_seed = 1;
  int64_t steps = 50;
  int threads = 0;
  bool save = false, no_eval = false;
  GrpoOptions grpo;
};

Status RlBad(const std::string& flag, const std::string& what) {
  return Status::InvalidArgument(flag + ": " + what);
}

Status RunRl(RlFlags f) {
  if (f.steps < 1 || f.steps > 1000000) {
    return RlBad("--steps", "must be in [1, 1000000], got " + std::to_string(f.steps));
  }
  if (f.threads < 0) return RlBad("--threads", "must be >= 1, got " + std::to_string(f.threads));
  if (f.init != "model" && f.init != "random") {
    return RlBad("--init", "must be 'model' (start from MODEL's weights) or 'random' (a fresh "
                         "initialisation of MODEL's shape), got '" + f.init + "'");
  }
  {
    Result<DType> kv = ParseKvDType(f.rollout_kv_dtype);
    if (!kv.ok()) {
      // ParseKvDType names --kv-dtype; the flag here is --rollout-kv-dtype.
      std::string m = kv.status().message();
      const std::string prefix = "--kv-dtype: ";
      if (m.rfind(prefix, 0) == 0) m = m.substr(prefix.size());
      return RlBad("--rollout-kv-dtype", m);
    }
    f.grpo.rollout_kv_dtype = *kv;
  }
  f.grpo.threads = f.threads == 0 ? ThreadPool::HardwareThreads() : f.threads;
  DETINFER_ASSIGN_OR_RETURN(f.grpo.isa, SelectIsaFromEnvironment(DetectCpuFeatures()));
  DETINFER_RETURN_IF_ERROR(ValidateGrpoOptions(f.grpo));

  DETINFER_ASSIGN_OR_RETURN(ModelWeights w, LoadModel(f.model));
  DETINFER_ASSIGN_OR_RETURN(ParamLayout layout, ParamLayout::Create(w.config));
  std::vector<float> params;
  if (f.init == "random") {
    params = InitParams(layout, f.init_seed);
  } else {
    DETINFER_ASSIGN_OR_RETURN(params, WeightsToParams(layout, w));
  }
  const ModelConfig config = w.config;
  w = ModelWeights{};  // the trainer holds its own copy
  std::error_code ec;
  std::filesystem::create_directories(f.out, ec);
  if (ec) return RlBad("--out", "cannot create '" + f.out + "': " + ec.message());

  DETINFER_ASSIGN_OR_RETURN(std::unique_ptr<GrpoTrainer> trainer,
                            GrpoTrainer::Create(config, std::move(params), f.grpo));
  GrpoRunSummary summary;
  summary.model = f.init == "random" ? f.model + " (shape only; random init, seed " +
                                           std::to_string(f.init_seed) + ")"
                                     : f.model;
  summary.options = f.grpo;
  summary.parameters = layout.size();
  summary.initial_version = trainer->weight_version();
  std::printf("GRPO on the verb-grammar task: %ld parameters from %s; %ld steps of %ld prompts "
              "x %d completions (<= %d tokens), lr %g, kl %g, seed %lu, rollout KV %s, "
              "%d threads\n",
              static_cast<long>(layout.size()), summary.model.c_str(),
              static_cast<long>(f.steps), static_cast<long>(f.grpo.prompts_per_step),
              f.grpo.group_size, f.grpo.max_new_tokens, f.grpo.lr, f.grpo.kl_coef,
              static_cast<unsigned long>(f.grpo.seed), f.rollout_kv_dtype.c_str(),
              f.grpo.threads);
  if (!f.no_eval) {
    DETINFER_ASSIGN_OR_RETURN(summary.greedy_before, trainer->EvaluateGreedy());
    std::printf("greedy tense agreement before: %.1f%% (%ld/%ld)\n",
                100 * summary.greedy_before->accuracy,
                static_cast<long>(summary.greedy_before->agreed),
                static_cast<long>(summary.greedy_before->prompts));
  }
  std::fflush(stdout);
  std::vector<GrpoStepLog> logs;
  for (int64_t s = 0; s < f.steps; ++s) {
    DETINFER_ASSIGN_OR_RETURN(GrpoStepLog l, trainer->Step());
    std::printf("%s\n", GrpoProgressLine(l, f.steps).c_str());
    std::fflush(stdout);
    logs.push_back(l);
  }
  if (!f.no_eval) {
    DETINFER_ASSIGN_OR_RETURN(summary.greedy_after, trainer->EvaluateGreedy());
    std::printf("greedy tense agreement after: %.1f%% (%ld/%ld)\n",
                100 * summary.greedy_after->accuracy,
                static_cast<long>(summary.greedy_after->agreed),
                static_cast<long>(summary.greedy_after->prompts));
  }
  summary.final_params_hash = ParamsHash(trainer->params());

  const std::string json_path = f.out + "/rl_log.json";
  {
    std::ofstream j(json_path, std::ios::trunc);
    j << GrpoLogJson(summary, logs);
    if (!j) return Status::IoError("cannot write '" + json_path + "'");
  }
  const std::string csv = f.out + "/rl.csv", png = f.out + "/rl.png";
  DETINFER_RETURN_IF_ERROR(WriteGrpoCsv(logs, csv));
  const std::string title = "detinfer rl: GRPO on the verb grammar (trainer f32)";
  std::string beside_csv, beside_label;
  if (!f.beside.empty()) {
    beside_csv = f.beside + "/rl.csv";
    beside_label = f.beside;
    if (!std::filesystem::exists(beside_csv)) {
      Warn("--beside: no " + beside_csv + "; plotting this run alone");
      beside_csv.clear();
    }
  }
  std::string label = "rollout KV ";
  label += f.rollout_kv_dtype;
  const bool plotted = PlotGrpo(csv, png, title, label, beside_csv, beside_label);
  if (!plotted) Warn("gnuplot is not installed (or failed): no " + png + "; the CSV has the numbers");
  if (f.save) {
    const std::string dir = f.out + "/model";
    DETINFER_ASSIGN_OR_RETURN(ModelWeights out, ParamsToWeights(layout, trainer->params()));
    DETINFER_RETURN_IF_ERROR(WriteHuggingFace(out, dir));
    DETINFER_RETURN_IF_ERROR(WriteWordLevelTokenizer(trainer->corpus(), dir + "/tokenizer.json"));
    DETINFER_RETURN_IF_ERROR(
        WriteWordLevelTokenizerConfig(trainer->corpus(), dir + "/tokenizer_config.json"));
  }
  int64_t mismatched = 0;
  double max_mismatch = 0;
  for (const GrpoStepLog& l : logs) {
    mismatched += l.mismatched_tokens;
    max_mismatch = std::max(max_mismatch, l.max_abs_mismatch);
  }
  std::printf("max |rollout logprob - trainer logprob| over the run: %.9g (%ld tokens differ)\n"
              "final weights: version %lu, hash %s; parameters hash %s\n"
              "wrote %s, %s%s%s\n",
              max_mismatch, static_cast<long>(mismatched),
              static_cast<unsigned long>(trainer->weight_version().counter),
              HashHex(trainer->weight_version().hash).c_str(),
              HashHex(summary.final_params_hash).c_str(), json_path.c_str(), csv.c_str(),
              plotted ? (", " + png).c_str() : "",
              f.save ? (", " + f.out + "/model").c_str() : "");
  return Status::Ok();
}

}  // namespace

void RegisterRl(CLI::App& app) {
  auto f = std::make_shared<RlFlags>();
  CLI::App* cmd = app.add_subcommand(
      "rl", "GRPO on the verb-grammar task: engine rollouts, exact trainer logprobs "
            "(mismatch 0), weights pushed into the engine every step");
  cmd->add_option("MODEL", f->model,
                  "Hugging Face directory of an f32 verb-grammar model (e.g. models/verbs)")
      ->required();
  cmd->add_option("--out", f->out, "Output directory (rl_log.json, rl.csv, rl.png)")->required();
  cmd->add_option("--init", f->init,
                  "model: start from MODEL's weights; random: a fresh initialisation of its shape")
      ->capture_default_str();
  cmd->add_option("--init-seed", f->init_seed, "Seed of --init random")->capture_default_str();
  cmd->add_option("--steps", f->steps, "GRPO steps")->capture_default_str();
  cmd->add_option("--prompts", f->grpo.prompts_per_step, "Prompts (groups) per step")
      ->capture_default_str();
  cmd->add_option("--n", f->grpo.group_size, "Completions per prompt (group size)")
      ->capture_default_str();
  cmd->add_option("--max-new-tokens", f->grpo.max_new_tokens, "Most tokens per completion")
      ->capture_default_str();
  cmd->add_option("--lr", f->grpo.lr, "Learning rate (constant)")->capture_default_str();
  cmd->add_option("--kl", f->grpo.kl_coef, "KL coefficient to the initial policy (k3)")
      ->capture_default_str();
  cmd->add_option("--clip", f->grpo.clip_norm, "Global gradient-norm clip (<= 0: none)")
      ->capture_default_str();
  cmd->add_option("--seed", f->grpo.seed, "Seed of prompts and rollouts")->capture_default_str();
  cmd->add_option("--threads", f->threads, "Threads (default all; never changes a bit)");
  cmd->add_option("--rollout-kv-dtype", f->rollout_kv_dtype,
                  "KV dtype of the rollout engine: f32 (default; mismatch exactly 0), or bf16 / "
                  "f16 to show the mismatch of rollouts that round K/V while the trainer does not")
      ->capture_default_str();
  cmd->add_option("--beside", f->beside,
                  "Another run's --out directory (e.g. one with --rollout-kv-dtype bf16): its "
                  "reward and mismatch are drawn beside this run's in rl.png");
  cmd->add_flag("--save", f->save, "Also write the final model to OUT/model");
  cmd->add_flag("--no-eval", f->no_eval, "Skip the greedy tense eval before and after");
  cmd->callback([f] {
    const Status s = RunRl(*f);
    if (!s.ok()) std::exit(Fail(s));
    std::exit(kExitOk);
  });
}

}  // namespace detinfer::cli
