// `detinfer verify MODEL`: the invariance property test (SPEC §A, §R) with the artefacts of
// SPEC §V. Exits 1 when any case diverges (docs/verify.md).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <filesystem>
#include <unistd.h>

#include "cli_common.h"
#include "model/model_bundle.h"
#include "subcommands.h"
#include "verify/slot_dump.h"
#include "verify/verify.h"

namespace detinfer::cli {

namespace {

struct VerifyFlags {
  std::string model, out = "verify-out", axes, fault = "none", kv_dtype = "bf16", tokenizer;
  verify::VerifyOptions opts;
};

std::vector<std::string> SplitCommas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size() && !s.empty()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

int RunVerifyCommand(VerifyFlags& f) {
  auto fault = ParseFault(f.fault);
  if (!fault.ok()) return Fail(Status::InvalidArgument("--inject-fault: " + fault.status().message()));
  f.opts.fault = *fault;
  auto dt = ParseKvDType(f.kv_dtype);
  if (!dt.ok()) return Fail(dt.status());
  f.opts.kv_dtype = *dt;
  f.opts.axes = SplitCommas(f.axes);
  if (f.opts.threads < 0) return Fail(Status::InvalidArgument("--threads must be >= 1"));
  auto rt = MakeRuntime(0);  // packs the weights on every core; the checks set their own
  if (!rt.ok()) return Fail(rt.status());
  auto bundle = LoadModelBundle(f.model, f.tokenizer, rt->ctx);
  if (!bundle.ok()) return Fail(bundle.status());
  auto files = verify::HashModelFiles(f.model);
  if (!files.ok()) return Fail(files.status());
  std::error_code ec;
  std::filesystem::create_directories(f.out, ec);
  if (ec) return Fail(Status::InvalidArgument("--out: cannot create '" + f.out + "': " + ec.message()));
  const bool tty = isatty(fileno(stderr)) != 0;
  int last_shown = -1;
  auto progress = [&](int done, int total, const std::string& what) {
    if (tty) {
      std::fprintf(stderr, "\r\033[K[%d/%d] %s", done, total, what.c_str());
      if (done == total) std::fprintf(stderr, "\n");
    } else if (done * 10 / std::max(total, 1) != last_shown) {  // every 10% in a log
      last_shown = done * 10 / std::max(total, 1);
      std::fprintf(stderr, "[%d/%d] %s\n", done, total, what.c_str());
    }
  };
  auto report = verify::RunVerify(*bundle->model, bundle->tokenizer.get(), f.opts, progress);
  if (!report.ok()) return Fail(report.status());
  std::ofstream(f.out + "/results.json") << verify::ResultsJson(*report).dump(1) << "\n";
  std::ofstream(f.out + "/manifest.json")
      << verify::ManifestJson(*report, f.opts, f.model, *files).dump(2) << "\n";
  std::printf("%s", verify::SummaryTable(*report, f.opts).c_str());
  std::printf("wrote %s/results.json and %s/manifest.json\n", f.out.c_str(), f.out.c_str());
  return report->failed() == 0 ? 0 : 1;
}

}  // namespace

void RegisterVerify(CLI::App& app) {
  auto f = std::make_shared<VerifyFlags>();
  CLI::App* cmd = app.add_subcommand(
      "verify", "Check that every invariance axis gives the same bits on MODEL (exit 1 if not)");
  cmd->add_option("MODEL", f->model, "Model file or Hugging Face directory")->required();
  cmd->add_option("--prompts", f->opts.prompts, "Number of prompts (default 50)");
  cmd->add_option("--max-tokens", f->opts.max_tokens, "Tokens generated per prompt (default 64)");
  cmd->add_option("--seed", f->opts.seed, "Seed of the prompt sampler (default 1)");
  cmd->add_option("--axes", f->axes, "Comma-separated axes (default: all)");
  cmd->add_option("--long-prompts", f->opts.long_prompts,
                  "Prompts that also run the long-256 axis (default 4)");
  cmd->add_option("--long-tokens", f->opts.long_tokens, "Tokens of the long axis (default 256)");
  cmd->add_option("--kv-dtype", f->kv_dtype, "KV cache dtype: bf16 (default), f16 or f32");
  cmd->add_option("--threads", f->opts.threads, "Reference thread count (default: all)");
  cmd->add_option("--tokenizer", f->tokenizer, "Tokenizer file (default: found beside the model)");
  cmd->add_option("--inject-fault", f->fault,
                  "Plant a bug to see it caught: kv-write-before-attend, rope-off-by-one, "
                  "stale-layer-cache, kv-dtype-skip-rounding");
  cmd->add_flag("!--no-localise", f->opts.localise, "Do not localise failures");
  cmd->add_option("--out", f->out, "Output folder (default verify-out)");
  cmd->callback([f] { std::exit(RunVerifyCommand(*f)); });
}

}  // namespace detinfer::cli
