// `detinfer score MODEL --ids .. | --prompt TEXT --completion-ids .. | --completion TEXT`:
// teacher-forced logprobs of a completion,
// equal bit for bit to the logprobs `generate` reports for the same tokens (SPEC §R1).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "engine/schedule_id.h"
#include "model/model_bundle.h"
#include "subcommands.h"

namespace detinfer::cli {

namespace {

struct ScoreOptions {
  std::string model, tokenizer, ids, prompt, completion_ids, completion;
  EngineFlags engine;
  bool json = false;
  bool prompt_logprobs = false;
};

int RunScore(const ScoreOptions& o) {
  if (o.completion_ids.empty() == o.completion.empty()) {
    return Fail(Status::InvalidArgument(
        "give the completion as --completion-ids or as --completion (exactly one)"));
  }
  auto rt = MakeRuntime(o.engine.threads);
  if (!rt.ok()) return Fail(rt.status());
  auto b = LoadModelBundle(o.model, o.tokenizer, rt->ctx, BundleOptionsFor(o.engine.weight_cache));
  if (!b.ok()) return Fail(b.status());
  NoteWeightCache(*b);
  // A text prompt is encoded as `generate --prompt` encodes it (with BOS), so the same text
  // scores the same tokens; a text completion on its own, without BOS, as /v1/score does.
  auto prompt = PromptFromFlags(*b, o.ids, o.prompt);
  if (!prompt.ok()) return Fail(prompt.status());
  auto completion = o.completion.empty() ? ParseIds("--completion-ids", o.completion_ids)
                                         : EncodeText(*b, "--completion", o.completion, false);
  if (!completion.ok()) return Fail(completion.status());
  auto opts = ToEngineOptions(o.engine, b->model->config());
  if (!opts.ok()) return Fail(opts.status());
  auto engine = Engine::Create(*b->model, rt->ctx, *opts);
  if (!engine.ok()) return Fail(engine.status());
  auto lp = (*engine)->Score(*prompt, *completion);
  if (!lp.ok()) return Fail(lp.status());
  // Prompt tokens 1..n-1 scored as a completion of the first one: the same op, the same bits.
  std::vector<float> prompt_lp;
  if (o.prompt_logprobs && prompt->size() > 1) {
    auto p = (*engine)->Score({prompt->front()}, std::vector<int32_t>(prompt->begin() + 1, prompt->end()));
    if (!p.ok()) return Fail(p.status());
    prompt_lp = *p;
  }
  const std::string fp = Hex64(Fingerprint(*completion, *lp));
  const std::string sid = ScheduleId({rt->ctx.isa, opts->kv_dtype, b->model_hash, b->tokenizer_hash});
  if (o.json) {
    nlohmann::json j = {{"prompt_tokens", *prompt}, {"completion_tokens", *completion},
                        {"logprobs", *lp}, {"fingerprint", fp}, {"schedule_id", sid}};
    if (o.prompt_logprobs) j["prompt_logprobs"] = prompt_lp;
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  for (size_t i = 0; i < prompt_lp.size(); ++i) {
    std::printf("prompt %d\t%.9g\n", (*prompt)[i + 1], static_cast<double>(prompt_lp[i]));
  }
  for (size_t i = 0; i < lp->size(); ++i) {
    std::printf("%d\t%.9g\n", (*completion)[i], static_cast<double>((*lp)[i]));
  }
  std::printf("fingerprint %s  schedule %s\n", fp.c_str(), sid.c_str());
  return 0;
}

}  // namespace

void RegisterScore(CLI::App& app) {
  auto o = std::make_shared<ScoreOptions>();
  CLI::App* cmd = app.add_subcommand("score", "Teacher-forced logprobs of a completion after a prompt");
  cmd->add_option("MODEL", o->model, "Model file or Hugging Face directory")->required();
  cmd->add_option("--ids", o->ids, "Prompt token ids, e.g. 1,2,3");
  cmd->add_option("--prompt", o->prompt, "Prompt text (needs a tokenizer; BOS added)");
  cmd->add_option("--completion-ids", o->completion_ids, "Completion token ids, e.g. 401,401");
  cmd->add_option("--completion", o->completion,
                  "Completion text (needs a tokenizer; encoded on its own, no BOS)");
  cmd->add_option("--tokenizer", o->tokenizer, kTokenizerHelp);
  AddEngineFlags(cmd, &o->engine);
  cmd->add_flag("--prompt-logprobs", o->prompt_logprobs, "Also score prompt tokens 1..n-1");
  cmd->add_flag("--json", o->json, "Print JSON");
  cmd->callback([o] { std::exit(RunScore(*o)); });
}

}  // namespace detinfer::cli
