// `detinfer dump-slots MODEL --prompt TEXT|--ids ..`: the K/V slots of prefill+decode and of one
// pass, side by side in slots.npz, with report.md and manifest.json (verify/slot_dump.h).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli_common.h"
#include "model/model_bundle.h"
#include "subcommands.h"
#include "verify/slot_dump.h"

namespace detinfer::cli {

namespace {

struct DumpFlags {
  std::string model, prompt, ids, out, kv_dtype = kDefaultKvDType, tokenizer;
  int threads = 0;
};

int RunDumpSlots(const DumpFlags& f) {
  auto dt = ParseKvDType(f.kv_dtype);
  if (!dt.ok()) return Fail(dt.status());
  auto rt = MakeRuntime(f.threads);
  if (!rt.ok()) return Fail(rt.status());
  auto b = LoadModelBundle(f.model, f.tokenizer, rt->ctx, BundleOptionsFor(""));
  if (!b.ok()) return Fail(b.status());
  auto ids = PromptFromFlags(*b, f.ids, f.prompt);
  if (!ids.ok()) return Fail(ids.status());
  const std::vector<int32_t>& prompt = *ids;
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0 || prompt[i] >= b->model->config().vocab_size) {
      return Fail(Status::InvalidArgument("--ids: token " + std::to_string(i) + " has id " +
                                     std::to_string(prompt[i]) + " outside the vocabulary [0, " +
                                     std::to_string(b->model->config().vocab_size) + ")"));
    }
  }
  auto files = verify::HashModelFiles(f.model);
  if (!files.ok()) return Fail(files.status());
  auto dump = verify::DumpSlots(*b->model, rt->ctx, prompt, f.prompt, *dt, b->tokenizer.get(),
                                f.out, f.model, *files);
  if (!dump.ok()) return Fail(dump.status());
  for (size_t l = 0; l < dump->layers.size(); ++l) {
    std::printf("layer %zu: K %s, V %s\n", l, dump->layers[l].k_equal ? "equal" : "DIFFERENT",
                dump->layers[l].v_equal ? "equal" : "DIFFERENT");
  }
  std::printf("decoded token %d; %lld positions; %s\nwrote %s/slots.npz, report.md, manifest.json\n",
              dump->token, static_cast<long long>(dump->positions),
              dump->all_equal() ? "every slot byte-identical" : "SLOTS DIFFER", f.out.c_str());
  return dump->all_equal() ? 0 : 1;
}

}  // namespace

void RegisterDumpSlots(CLI::App& app) {
  auto f = std::make_shared<DumpFlags>();
  CLI::App* cmd = app.add_subcommand(
      "dump-slots", "Write the K/V slots of prefill+decode and of one pass (slots.npz, report.md)");
  cmd->add_option("MODEL", f->model, "Model file or Hugging Face directory")->required();
  cmd->add_option("--prompt", f->prompt, "Prompt text (needs a tokenizer)");
  cmd->add_option("--ids", f->ids, "Prompt token ids, e.g. 1,2,3");
  cmd->add_option("--out", f->out, "Output folder")->required();
  cmd->add_option("--kv-dtype", f->kv_dtype, kKvDTypeHelp);
  cmd->add_option("--threads", f->threads, "Threads (default all cores)");
  cmd->add_option("--tokenizer", f->tokenizer, kTokenizerHelp);
  cmd->callback([f] { std::exit(RunDumpSlots(*f)); });
}

}  // namespace detinfer::cli
