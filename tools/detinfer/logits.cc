// `detinfer logits MODEL --ids 1,2,3 | --prompt TEXT`: the last position's logits, fp32, printed so that they
// round-trip to the same bits (%.9g).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "model/model_bundle.h"
#include "subcommands.h"

namespace detinfer::cli {

namespace {

struct LogitsOptions {
  std::string model, tokenizer, ids, prompt;
  int threads = 0;
  std::string kv_dtype = kDefaultKvDType;
  bool json = false;
};

int RunLogits(const LogitsOptions& o) {
  auto dt = ParseKvDType(o.kv_dtype);
  if (!dt.ok()) return Fail(dt.status());
  auto rt = MakeRuntime(o.threads);
  if (!rt.ok()) return Fail(rt.status());
  auto b = LoadModelBundle(o.model, o.tokenizer, rt->ctx, BundleOptionsFor(""));
  if (!b.ok()) return Fail(b.status());
  auto ids = PromptFromFlags(*b, o.ids, o.prompt);
  if (!ids.ok()) return Fail(ids.status());
  std::vector<float> logits;
  Status s = b->model->ForwardNoCache(rt->ctx, *ids, &logits, *dt);
  if (!s.ok()) return Fail(s);
  if (o.json) {
    nlohmann::json j = {{"ids", *ids}, {"position", ids->size() - 1}, {"logits", logits}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  for (size_t i = 0; i < logits.size(); ++i) {
    std::printf("%zu\t%.9g\n", i, static_cast<double>(logits[i]));
  }
  return 0;
}

}  // namespace

void RegisterLogits(CLI::App& app) {
  auto o = std::make_shared<LogitsOptions>();
  CLI::App* cmd = app.add_subcommand("logits", "Print the logits of the last position of --ids or --prompt");
  cmd->add_option("MODEL", o->model, "Model file or Hugging Face directory")->required();
  cmd->add_option("--ids", o->ids, "Token ids, e.g. 1,2,3");
  cmd->add_option("--prompt", o->prompt, "Text (needs a tokenizer; BOS added, as generate does)");
  cmd->add_option("--tokenizer", o->tokenizer, kTokenizerHelp);
  cmd->add_option("--threads", o->threads, "Threads (default all hardware threads)");
  cmd->add_option("--kv-dtype", o->kv_dtype, kKvDTypeHelp);
  cmd->add_flag("--json", o->json, "Print JSON");
  cmd->callback([o] { std::exit(RunLogits(*o)); });
}

}  // namespace detinfer::cli
