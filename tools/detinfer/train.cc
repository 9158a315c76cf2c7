// `detinfer train`: trains the default model's shape (or a given one) on the verb-grammar
// corpus with the deterministic trainer (src/train/), saves it as a Hugging Face directory the
// engine loads, writes the loss curve, and with --eval reports held-out loss and the tense
// agreement of greedy continuations generated through the engine from the saved files.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_common.h"
#include "corpus/tense_eval.h"
#include "corpus/verb_corpus.h"
#include "engine/engine.h"
#include "model/arch.h"
#include "model/hf_writer.h"
#include "model/model_bundle.h"
#include "subcommands.h"
#include "train/train_report.h"
#include "train/trainer.h"

namespace detinfer::cli {

namespace {

struct TrainFlags {
  std::string corpus, out;
  uint64_t seed = 1;
  int64_t steps = 0;
  int threads = 0;
  bool eval = false;
  // The default model's shape and recipe (docs/training.md). Changing a default changes the
  // committed model: models/verbs/SHA256SUMS records the bytes these defaults produce.
  int64_t dim = 128, layers = 4, heads = 4, kv_heads = 2, ffn = 384, context = 64;
  int64_t batch = 32;
  double lr = 3e-3;
  int64_t warmup = 100;
  int64_t sentences = 50000;
  // The architecture (model/arch.h); its structural defaults, the recipe's theta and eps.
  std::string arch = "llama";
  int64_t experts = 4, experts_used = 2;  // mixture-of-experts archs (expert FFN = --ffn)
  CLI::Option* experts_opt = nullptr;
  CLI::Option* experts_used_opt = nullptr;
};

Status Bad(const std::string& flag, const std::string& what) {
  return Status::InvalidArgument(flag + ": " + what);
}

Result<TrainOptions> BuildOptions(const TrainFlags& f, int64_t vocab) {
  for (const auto& [flag, v] : std::initializer_list<std::pair<const char*, int64_t>>{
           {"--steps", f.steps}, {"--dim", f.dim}, {"--layers", f.layers}, {"--heads", f.heads},
           {"--kv-heads", f.kv_heads}, {"--ffn", f.ffn}, {"--context", f.context},
           {"--batch", f.batch}, {"--sentences", f.sentences}}) {
    if (v <= 0) return Bad(flag, "must be positive, got " + std::to_string(v));
    if (v > (int64_t{1} << 24)) return Bad(flag, std::to_string(v) + " is too large");
  }
  if (f.warmup < 0) return Bad("--warmup", "must be >= 0, got " + std::to_string(f.warmup));
  if (!(f.lr > 0 && f.lr < 1)) return Bad("--lr", "must be in (0, 1), got " + std::to_string(f.lr));
  if (f.threads < 0) return Bad("--threads", "must be >= 1, got " + std::to_string(f.threads));
  if (f.dim % f.heads != 0) {
    return Bad("--dim", std::to_string(f.dim) + " is not divisible by --heads (" +
                            std::to_string(f.heads) + ")");
  }
  if (f.heads % f.kv_heads != 0) {
    return Bad("--kv-heads", std::to_string(f.kv_heads) + " does not divide --heads (" +
                                 std::to_string(f.heads) + ")");
  }
  const int64_t hd = f.dim / f.heads;
  if (hd % 8 != 0) {
    return Bad("--dim", "--dim / --heads = " + std::to_string(hd) +
                            " must be a multiple of 8 (the attention kernels' head size)");
  }
  const ArchInfo* arch = FindArch(f.arch);
  if (arch == nullptr) {
    return Bad("--arch", "unknown architecture '" + f.arch + "' (expected one of " +
                             ArchNameList() + ")");
  }
  TrainOptions o;
  ModelConfig& c = o.model;
  c.dim = f.dim;
  c.n_layers = f.layers;
  c.n_heads = f.heads;
  c.n_kv_heads = f.kv_heads;
  c.head_dim = hd;
  c.ffn_dim = f.ffn;
  c.vocab_size = vocab;
  c.max_seq_len = f.context;
  c.rope_theta = 10000.0;
  c.norm_eps = 1e-5f;
  ApplyArchFeatures(*arch, &c);
  const auto given = [](const CLI::Option* opt) { return opt != nullptr && opt->count() > 0; };
  if (arch->moe) {
    for (const auto& [flag, v] : {std::pair{"--experts", f.experts},
                                  std::pair{"--experts-used", f.experts_used}}) {
      if (v <= 0 || v > 256) return Bad(flag, "must be in [1, 256], got " + std::to_string(v));
    }
    if (f.experts_used > f.experts) {
      return Bad("--experts-used", std::to_string(f.experts_used) + " is more than --experts (" +
                                       std::to_string(f.experts) + ")");
    }
    c.n_experts = f.experts;
    c.n_experts_used = f.experts_used;
    c.expert_ffn_dim = f.ffn;
    c.moe_renormalize = true;
  } else if (given(f.experts_opt) || given(f.experts_used_opt)) {
    return Bad(given(f.experts_opt) ? "--experts" : "--experts-used",
               "only for the mixture-of-experts archs (qwen3_moe, mixtral)");
  }
  DETINFER_RETURN_IF_ERROR(c.Validate("detinfer train"));
  o.seed = f.seed;
  o.steps = f.steps;
  o.batch_size = f.batch;
  o.schedule.lr = f.lr;
  o.schedule.min_lr = f.lr / 10;
  o.schedule.warmup = std::min(f.warmup, f.steps);
  o.threads = f.threads == 0 ? ThreadPool::HardwareThreads() : f.threads;
  DETINFER_ASSIGN_OR_RETURN(o.isa, SelectIsaFromEnvironment(DetectCpuFeatures()));
  return o;
}

// Greedy continuations of every eval prompt, generated together through the engine from the
// saved model directory (so the eval sees exactly what `detinfer generate` would).
Result<TenseEvalResult> EvalTense(const VerbCorpus& corpus, const std::string& dir, int threads) {
  DETINFER_ASSIGN_OR_RETURN(Runtime rt, MakeRuntime(threads));
  DETINFER_ASSIGN_OR_RETURN(ModelBundle bundle, LoadModelBundle(dir, "", rt.ctx));
  const std::vector<TensePrompt> prompts = TenseEvalPrompts();
  // Room for every prompt's whole context at once (a few tens of MB for the default shape), so
  // the eval never depends on how the engine would cope with a full cache.
  EngineOptions eo;
  const int64_t context = bundle.model->config().max_seq_len;
  eo.kv_capacity_tokens = static_cast<int64_t>(prompts.size()) *
                          ((context + eo.block_size - 1) / eo.block_size) * eo.block_size;
  DETINFER_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine,
                            Engine::Create(*bundle.model, rt.ctx, eo, bundle.tokenizer.get()));
  std::map<std::string, int32_t> ids;
  for (size_t i = 0; i < corpus.vocab.size(); ++i) ids[corpus.vocab[i]] = static_cast<int32_t>(i);
  std::vector<Request> requests;
  for (const TensePrompt& p : prompts) {
    Request r;
    r.id = std::to_string(requests.size());
    r.prompt.push_back(corpus.bos_id);
    for (const std::string& w : p.words) {
      auto it = ids.find(w);
      if (it == ids.end()) return Status::Internal("eval prompt word '" + w + "' not in vocab");
      r.prompt.push_back(it->second);
    }
    r.max_new_tokens = static_cast<int32_t>(
        std::min<int64_t>(16, bundle.model->config().max_seq_len - 1 -
                                  static_cast<int64_t>(r.prompt.size())));
    r.stop_ids = {corpus.eos_id};
    requests.push_back(std::move(r));
  }
  std::map<std::vector<int32_t>, std::vector<int32_t>> continuation;
  for (size_t i = 0; RequestResult& res : engine->Generate(requests)) {
    if (!res.status.ok()) return res.status;
    continuation[requests[i++].prompt] = res.tokens;
  }
  return EvaluateTenseAgreement(
      corpus, [&](const std::vector<int32_t>& prompt) -> Result<std::vector<int32_t>> {
        auto it = continuation.find(prompt);
        if (it == continuation.end()) return Status::Internal("eval prompt was not generated");
        return it->second;
      });
}

void WriteJson(const nlohmann::json& j, const std::string& path) {
  std::ofstream f(path, std::ios::trunc);
  f << j.dump(2) << "\n";
}

Status RunTrain(const TrainFlags& f) {
  if (f.corpus != "verbs") {
    return Bad("--corpus", "unknown corpus '" + f.corpus + "' (the only one is 'verbs')");
  }
  VerbCorpusOptions co;
  co.seed = f.seed;
  co.train_sentences = f.sentences;
  DETINFER_ASSIGN_OR_RETURN(VerbCorpus corpus, GenerateVerbCorpus(co));
  DETINFER_ASSIGN_OR_RETURN(TrainOptions o,
                            BuildOptions(f, static_cast<int64_t>(corpus.vocab.size())));
  for (const auto& s : corpus.train) {
    if (static_cast<int64_t>(s.size()) - 1 > o.model.max_seq_len) {
      return Bad("--context", std::to_string(o.model.max_seq_len) +
                                  " is shorter than a corpus sentence (" +
                                  std::to_string(s.size()) + " tokens)");
    }
  }
  DETINFER_ASSIGN_OR_RETURN(ParamLayout layout, ParamLayout::Create(o.model));
  std::error_code ec;
  std::filesystem::create_directories(f.out, ec);
  if (ec) return Bad("--out", "cannot create '" + f.out + "': " + ec.message());
  std::printf("training on %zu sentences (vocab %zu): %ld parameters, dim %ld, %ld layers, "
              "%ld/%ld heads, ffn %ld; %ld steps of %ld sentences, seed %lu, %d threads, %s\n",
              corpus.train.size(), corpus.vocab.size(), static_cast<long>(layout.size()),
              static_cast<long>(o.model.dim), static_cast<long>(o.model.n_layers),
              static_cast<long>(o.model.n_heads), static_cast<long>(o.model.n_kv_heads),
              static_cast<long>(o.model.ffn_dim), static_cast<long>(o.steps),
              static_cast<long>(o.batch_size), static_cast<unsigned long>(o.seed), o.threads,
              std::string(IsaName(o.isa)).c_str());
  std::fflush(stdout);
  const bool tty = isatty(STDERR_FILENO) != 0;
  int64_t tokens = 0;
  const int64_t every = std::max<int64_t>(1, o.steps / 20);
  DETINFER_ASSIGN_OR_RETURN(
      TrainResult r, Train(corpus.train, o, [&](const TrainStepLog& l) {
        tokens += l.tokens;
        if (tty) {
          std::fprintf(stderr, "\r%s   ", ProgressLine(l, o.steps, tokens).c_str());
          if (l.step == o.steps) std::fprintf(stderr, "\n");
        } else if (l.step % every == 0 || l.step == o.steps) {
          std::fprintf(stderr, "%s\n", ProgressLine(l, o.steps, tokens).c_str());
        }
      }));
  const double seconds = r.log.back().seconds;
  DETINFER_ASSIGN_OR_RETURN(ModelWeights w, ParamsToWeights(layout, r.params));
  DETINFER_RETURN_IF_ERROR(WriteHuggingFace(w, f.out));
  DETINFER_RETURN_IF_ERROR(WriteWordLevelTokenizer(corpus, f.out + "/tokenizer.json"));
  DETINFER_RETURN_IF_ERROR(
      WriteWordLevelTokenizerConfig(corpus, f.out + "/tokenizer_config.json"));
  // The curve and the run report live beside the model but are not part of it (the report
  // has wall-clock figures; SHA256SUMS covers only the model files).
  const std::string curve_dir = f.out + "/training";
  std::filesystem::create_directories(curve_dir, ec);
  DETINFER_RETURN_IF_ERROR(WriteLossCsv(r.log, curve_dir + "/loss.csv"));
  const bool png = PlotLossCurve(curve_dir + "/loss.csv", curve_dir + "/loss.png",
                                 "detinfer train --corpus verbs --seed " + std::to_string(f.seed));
  const double tok_s = seconds > 0 ? static_cast<double>(tokens) / seconds : 0;
  std::printf("wrote %s (config.json, model.safetensors, tokenizer.json, tokenizer_config.json)\n"
              "final loss %.4f nats/token; %ld tokens in %.1f s = %.0f tokens/s\n"
              "loss curve: %s/loss.csv%s\n",
              f.out.c_str(), r.log.back().loss, static_cast<long>(tokens), seconds, tok_s,
              curve_dir.c_str(), png ? (" and " + curve_dir + "/loss.png").c_str()
                                     : " (no PNG: gnuplot not installed)");
  nlohmann::json report = {
      {"corpus", f.corpus}, {"arch", f.arch}, {"seed", f.seed}, {"steps", o.steps},
      {"batch", o.batch_size},
      {"threads", o.threads}, {"isa", IsaName(o.isa)}, {"parameters", layout.size()},
      {"final_train_loss", r.log.back().loss}, {"train_tokens", tokens},
      {"seconds", seconds}, {"tokens_per_second", tok_s}};
  if (f.eval) {
    std::unique_ptr<ThreadPool> pool;
    if (o.threads > 1) pool = std::make_unique<ThreadPool>(o.threads);
    DETINFER_ASSIGN_OR_RETURN(HeldOutLoss held,
                              EvaluateLoss(pool.get(), o.isa, layout, r.params, corpus.heldout));
    pool.reset();
    DETINFER_ASSIGN_OR_RETURN(TenseEvalResult te, EvalTense(corpus, f.out, o.threads));
    std::printf("\n%-28s %10s\n", "eval", "value");
    std::printf("%-28s %10.4f  (%ld tokens, %ld sentences)\n", "held-out loss (nats/token)",
                held.mean_nats, static_cast<long>(held.tokens), static_cast<long>(held.sequences));
    std::printf("%-28s %9.1f%%  (%ld/%ld prompts)\n", "tense agreement", 100 * te.accuracy,
                static_cast<long>(te.agreed), static_cast<long>(te.prompts));
    std::printf("%-28s %10ld\n", "tense + person agreement", static_cast<long>(te.person_agreed));
    std::printf("%-28s %10ld\n", "fully grammatical", static_cast<long>(te.grammatical));
    for (const auto* list : {&te.by_language, &te.by_frame}) {
      for (const TenseEvalGroup& g : *list) {
        std::printf("  %-26s %6ld/%-4ld\n", g.name.c_str(), static_cast<long>(g.agreed),
                    static_cast<long>(g.prompts));
      }
    }
    for (size_t i = 0; i < te.failures.size() && i < 10; ++i) {
      std::printf("  failure: %s\n", te.failures[i].c_str());
    }
    report["eval"] = {{"heldout_loss", held.mean_nats},
                      {"heldout_tokens", held.tokens},
                      {"heldout_sentences", held.sequences},
                      {"tense", nlohmann::json::parse(TenseEvalJson(te))}};
  }
  WriteJson(report, curve_dir + "/report.json");
  std::printf("report: %s/report.json\n", curve_dir.c_str());
  return Status::Ok();
}

}  // namespace

void RegisterTrain(CLI::App& app) {
  auto f = std::make_shared<TrainFlags>();
  CLI::App* cmd = app.add_subcommand(
      "train", "Train a small model of any supported architecture, bit-reproducibly (same seed, "
               "same bytes)");
  cmd->add_option("--arch", f->arch,
                  "Architecture (" + ArchNameList() + "): its layer, the default recipe")
      ->capture_default_str();
  f->experts_opt = cmd->add_option("--experts", f->experts, "Experts (qwen3_moe, mixtral)")
                       ->capture_default_str();
  f->experts_used_opt =
      cmd->add_option("--experts-used", f->experts_used, "Experts per token (qwen3_moe, mixtral)")
          ->capture_default_str();
  cmd->add_option("--corpus", f->corpus, "Training corpus: verbs")->required();
  cmd->add_option("--steps", f->steps, "Optimiser steps")->required();
  cmd->add_option("--seed", f->seed, "Seed of the corpus, initialisation and batches")->required();
  cmd->add_option("--out", f->out, "Output Hugging Face directory")->required();
  cmd->add_option("--threads", f->threads, "Threads (default all; never changes a bit)");
  cmd->add_flag("--eval", f->eval, "Report held-out loss and tense agreement of greedy output");
  cmd->add_option("--dim", f->dim, "Hidden size")->capture_default_str();
  cmd->add_option("--layers", f->layers, "Layers")->capture_default_str();
  cmd->add_option("--heads", f->heads, "Query heads")->capture_default_str();
  cmd->add_option("--kv-heads", f->kv_heads, "Key/value heads")->capture_default_str();
  cmd->add_option("--ffn", f->ffn, "FFN hidden size (each expert's, for MoE archs)")
      ->capture_default_str();
  cmd->add_option("--context", f->context, "Context length")->capture_default_str();
  cmd->add_option("--batch", f->batch, "Sentences per step")->capture_default_str();
  cmd->add_option("--lr", f->lr, "Peak learning rate")->capture_default_str();
  cmd->add_option("--warmup", f->warmup, "Warm-up steps")->capture_default_str();
  cmd->add_option("--sentences", f->sentences, "Training sentences generated")
      ->capture_default_str();
  cmd->callback([f] {
    const Status s = RunTrain(*f);
    if (!s.ok()) {
      std::fprintf(stderr, "detinfer train: %s\n", s.message().c_str());
      std::exit(2);
    }
    std::exit(0);
  });
}

}  // namespace detinfer::cli
