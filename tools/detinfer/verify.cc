// `detinfer verify MODEL`: the invariance property test (SPEC §A, §R) with the artefacts of
// SPEC §V. Exits 1 when any case diverges, 2 on a usage error (docs/verify.md).
#include <CLI/CLI.hpp>
#include <chrono>
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
  std::string model, out = "verify-out", axes, fault = "none", kv_dtype = kDefaultKvDType, tokenizer;
  bool no_localise = false;
  verify::VerifyOptions opts;
  // Whether the counts were given: a default is shortened to fit a small context, a given
  // value that cannot fit is refused.
  const CLI::Option* max_tokens_opt = nullptr;
  const CLI::Option* long_tokens_opt = nullptr;
};

// --out as this run creates it: the folders it made are removed again, when still empty,
// unless results were written, so that a refused run leaves nothing behind.
class OutDir {
 public:
  Status Create(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    for (fs::path p = fs::absolute(path, ec); !p.empty() && !fs::exists(p, ec);
         p = p.parent_path()) {
      created_.push_back(p);  // innermost first
      if (p == p.parent_path()) break;
    }
    fs::create_directories(path, ec);
    if (ec) return Status::InvalidArgument("--out: cannot create '" + path + "': " + ec.message());
    return Status::Ok();
  }
  void Keep() { created_.clear(); }
  ~OutDir() {
    std::error_code ec;
    for (const auto& p : created_) {
      if (!std::filesystem::is_empty(p, ec) || ec) break;
      std::filesystem::remove(p, ec);
    }
  }

 private:
  std::vector<std::filesystem::path> created_;
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
  f.opts.localise = !f.no_localise;
  if (f.opts.threads < 0) return Fail(Status::InvalidArgument("--threads must be >= 1"));
  auto rt = MakeRuntime(0);  // packs the weights on every core; the checks set their own
  if (!rt.ok()) return Fail(rt.status());
  auto bundle = LoadModelBundle(f.model, f.tokenizer, rt->ctx, BundleOptionsFor(""));
  if (!bundle.ok()) return Fail(bundle.status());
  auto note = verify::FitToContext(&f.opts, bundle->model->config().max_seq_len,
                                   f.max_tokens_opt->count() > 0, f.long_tokens_opt->count() > 0,
                                   f.model);
  if (!note.ok()) return Fail(note.status());
  if (!note->empty()) std::fprintf(stderr, "detinfer: note: %s\n", note->c_str());
  auto files = verify::HashModelFiles(f.model);
  if (!files.ok()) return Fail(files.status());
  // Created before the run so that an unwritable --out is refused before minutes of work.
  OutDir out;
  if (Status st = out.Create(f.out); !st.ok()) return Fail(st);
  const bool tty = isatty(fileno(stderr)) != 0;
  int last_shown = -1;
  const auto t0 = std::chrono::steady_clock::now();
  auto progress = [&](int done, int total, const std::string& what) {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::string text = verify::ProgressText(done, total, what, elapsed);
    if (tty) {
      std::fprintf(stderr, "\r\033[K%s", text.c_str());
      if (done == total) std::fprintf(stderr, "\n");
    } else if (done * 10 / std::max(total, 1) != last_shown) {  // every 10% in a log
      last_shown = done * 10 / std::max(total, 1);
      std::fprintf(stderr, "%s\n", text.c_str());
    }
  };
  auto report = verify::RunVerify(*bundle->model, bundle->tokenizer.get(), f.opts, progress);
  if (!report.ok()) return Fail(report.status());
  out.Keep();
  std::ofstream(f.out + "/results.json") << verify::ResultsJson(*report).dump(1) << "\n";
  std::ofstream(f.out + "/manifest.json")
      << verify::ManifestJson(*report, f.opts, f.model, *files).dump(2) << "\n";
  std::printf("%s", verify::SummaryTable(*report, f.opts).c_str());
  std::printf("wrote %s/results.json and %s/manifest.json\n", f.out.c_str(), f.out.c_str());
  return report->failed() == 0 ? 0 : 1;  // 1: a divergence; usage errors exit 2 (Fail)
}

}  // namespace

void RegisterVerify(CLI::App& app) {
  auto f = std::make_shared<VerifyFlags>();
  CLI::App* cmd = app.add_subcommand(
      "verify", "Check that every invariance axis gives the same bits on MODEL (exit 1 if not)");
  cmd->add_option("MODEL", f->model, "Model file or Hugging Face directory")->required();
  cmd->add_option("--prompts", f->opts.prompts, "Number of prompts (default 50)");
  f->max_tokens_opt = cmd->add_option(
      "--max-tokens", f->opts.max_tokens,
      "Tokens generated per prompt (default 64, fewer when the model's context is small)");
  cmd->add_option("--seed", f->opts.seed, "Seed of the prompt sampler (default 1)");
  cmd->add_option("--axes", f->axes, "Comma-separated axes (default all)");
  cmd->add_option("--long-prompts", f->opts.long_prompts,
                  "Prompts that also run the long axis (default 4)");
  f->long_tokens_opt = cmd->add_option(
      "--long-tokens", f->opts.long_tokens,
      "Tokens generated on the long axis (default 256, fewer when the model's context is small)");
  cmd->add_option("--kv-dtype", f->kv_dtype, kKvDTypeHelp);
  cmd->add_option("--threads", f->opts.threads, "Reference thread count (default all cores)");
  cmd->add_option("--tokenizer", f->tokenizer, kTokenizerHelp);
  cmd->add_option("--inject-fault", f->fault,
                  "Plant a bug to see it caught: kv-write-before-attend, rope-off-by-one, "
                  "stale-layer-cache, kv-dtype-skip-rounding (default none)");
  // A plain flag: CLI11's "!--no-localise" form prints as "--no-localise{false}" in --help.
  cmd->add_flag("--no-localise", f->no_localise,
                "Do not re-run failing cases to localise them (default off)");
  cmd->add_option("--out", f->out, "Output folder (default verify-out)");
  cmd->callback([f] { std::exit(RunVerifyCommand(*f)); });
}

}  // namespace detinfer::cli
