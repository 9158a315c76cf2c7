// `detinfer replay RECEIPT.json --model PATH`: re-runs the generation a run receipt records
// (`generate --receipt`) and checks it step by step — on any machine, ISA path (DETINFER_ISA),
// processor family, thread count, chunk size, or batch (--co-batch adds other traffic). Either
// every step's token and logprob bits agree, or the first step that differs is named.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "core/dtype.h"
#include "engine/schedule_id.h"
#include "model/model_bundle.h"
#include "subcommands.h"
#include "verify/receipt.h"

namespace detinfer::cli {

namespace {

struct ReplayOptions {
  std::string receipt, model, tokenizer;
  EngineFlags engine;
  int32_t co_batch = 0;
  bool json = false;
};

// A receipt that cannot be used is a failed command (exit 1), not a usage error.
int ReceiptFail(const Status& s) {
  std::fprintf(stderr, "detinfer: %s\n", s.message().c_str());
  return kExitFailure;
}

int RunReplay(ReplayOptions o) {
  std::ifstream in(o.receipt);
  if (!in) return ReceiptFail(Status::NotFound("cannot open receipt '" + o.receipt + "'"));
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return ReceiptFail(Status::InvalidArgument("receipt '" + o.receipt + "' is not valid JSON"));
  }
  auto receipt = ParseReceipt(j);
  if (!receipt.ok()) return ReceiptFail(receipt.status());
  const ReceiptRun& run = receipt->run;

  // The KV dtype is part of what the run computed: it comes from the receipt.
  const std::string kv = std::string(DTypeName(run.kv_dtype));
  if (o.engine.kv_dtype != kDefaultKvDType && o.engine.kv_dtype != kv) {
    return Fail(Status::InvalidArgument("--kv-dtype " + o.engine.kv_dtype +
                                        ": the receipt's run used " + kv +
                                        " (the replay uses the receipt's)"));
  }
  o.engine.kv_dtype = kv;
  if (o.co_batch < 0) return Fail(Status::InvalidArgument("--co-batch must be >= 0"));

  auto rt = MakeRuntime(o.engine.threads);
  if (!rt.ok()) return Fail(rt.status());
  // A replay checks the receipt's model hash against the model's bytes: hashed, never recalled.
  BundleOptions bundle_options = BundleOptionsFor(o.engine.weight_cache);
  bundle_options.recall_model_hash = false;
  auto b = LoadModelBundle(o.model, o.tokenizer, rt->ctx, bundle_options);
  if (!b.ok()) return Fail(b.status());
  NoteWeightCache(*b);
  // Receipts written before the model hash was computed piecewise name the model by its
  // one-stream hash (ModelFilesHashV1): the same bytes under another function.
  uint64_t model_hash = b->model_hash, tokenizer_hash = b->tokenizer_hash;
  if (model_hash != run.model_hash) {
    const uint64_t v1 = ModelFilesHashV1(b->model->weights().files);
    if (v1 == run.model_hash) {
      if (tokenizer_hash == model_hash) tokenizer_hash = v1;  // a vocabulary in the model file
      model_hash = v1;
    }
  }
  if (model_hash != run.model_hash) {
    return ReceiptFail(Status::InvalidArgument(
        "the model '" + o.model + "' has content hash " + Hex64(model_hash) +
        " but the receipt's run used " + Hex64(run.model_hash) + " ('" + run.model + "')"));
  }
  if (!run.request.stop_strings.empty() && tokenizer_hash != run.tokenizer_hash) {
    return ReceiptFail(Status::InvalidArgument(
        "the tokenizer has content hash " + Hex64(tokenizer_hash) + " but the receipt's run "
        "used " + Hex64(run.tokenizer_hash) + " (its stop strings need the same tokenizer)"));
  }
  auto opts = ToEngineOptions(o.engine, b->model->config());
  if (!opts.ok()) return Fail(opts.status());
  const std::string sid =
      ScheduleId({rt->ctx.isa, opts->kv_dtype, model_hash, tokenizer_hash});
  if (sid != run.schedule_id) {
    return ReceiptFail(Status::Unsupported(
        "the receipt's schedule id " + run.schedule_id + " (engine " + receipt->engine_version +
        ") is not this build's " + sid + " (engine " DETINFER_VERSION
        "): the run's reduction constants differ, so its bits are not this build's to check"));
  }
  auto engine = Engine::Create(*b->model, rt->ctx, *opts, b->tokenizer.get());
  if (!engine.ok()) return Fail(engine.status());

  std::vector<Request> reqs;
  Request r = run.request;
  r.id = "receipt";
  reqs.push_back(r);
  // Other traffic in the same batches: prompts of varied length drawn from the receipt's own
  // ids, sampled with other seeds (its bits must not change the receipt's).
  for (int32_t i = 0; i < o.co_batch; ++i) {
    Request other;
    other.id = "other-" + std::to_string(i);
    for (int32_t k = 0; k <= i % 7; ++k) other.prompt.push_back(r.prompt[size_t(k) % r.prompt.size()]);
    other.max_new_tokens = r.max_new_tokens + i % 5;
    other.sampling.temperature = 1.0f;
    other.sampling.seed = 1000 + uint64_t(i);
    reqs.push_back(other);
  }
  const std::vector<RequestResult> results = (*engine)->Generate(reqs);
  if (!results[0].status.ok()) return Fail(results[0].status);
  const ReplayComparison c = CompareReplay(*receipt, results[0]);
  if (o.json) {
    nlohmann::json out = {{"same", c.same},
                          {"steps_checked", c.steps_checked},
                          {"first_divergent_step", c.first_divergent_step < 0
                                                       ? nlohmann::json(nullptr)
                                                       : nlohmann::json(c.first_divergent_step)},
                          {"detail", c.detail},
                          {"schedule_id", sid},
                          {"isa", IsaName(rt->ctx.isa)},
                          {"threads", rt->ctx.num_threads()},
                          {"co_batch", o.co_batch}};
    std::printf("%s\n", out.dump().c_str());
  } else if (c.same) {
    std::printf("replay: OK: all %lld steps identical to the receipt (tokens and logprob bits), "
                "finish %s; schedule %s, %s path, %d threads, %d other requests in the batch\n",
                static_cast<long long>(c.steps_checked),
                std::string(FinishReasonName(results[0].finish)).c_str(), sid.c_str(),
                std::string(IsaName(rt->ctx.isa)).c_str(), rt->ctx.num_threads(), o.co_batch);
  } else {
    std::printf("replay: DIFFERENT: %s\n", c.detail.c_str());
  }
  return c.same ? kExitOk : kExitFailure;
}

}  // namespace

void RegisterReplay(CLI::App& app) {
  auto o = std::make_shared<ReplayOptions>();
  CLI::App* cmd = app.add_subcommand(
      "replay", "Re-run a run receipt (generate --receipt) and check every step's bits");
  cmd->add_option("RECEIPT", o->receipt, "Receipt JSON written by generate --receipt")->required();
  cmd->add_option("--model", o->model, "The model (its content hash must be the receipt's)")
      ->required();
  cmd->add_option("--tokenizer", o->tokenizer, "Tokenizer (default found beside the model)");
  cmd->add_option("--co-batch", o->co_batch,
                  "Run this many other requests in the same batches (default 0)");
  cmd->add_flag("--json", o->json, "Print the comparison as JSON");
  AddEngineFlags(cmd, &o->engine);
  cmd->callback([o] { std::exit(RunReplay(*o)); });
}

}  // namespace detinfer::cli
