// `detinfer convert IN OUT [--format hf|gguf]`: the same weights in another format, so they can
// be fed to other engines for comparison. Values are copied as stored (no re-rounding) unless
// --dtype re-stores them (e.g. --dtype q4_k_m quantises); the q/k row order changes where the
// target's RoPE convention differs.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli_common.h"
#include "model/gguf_writer.h"
#include "model/hf_writer.h"
#include "model/llama2c_writer.h"
#include "model/loader.h"
#include "model/weight_recipe.h"
#include "subcommands.h"

namespace detinfer::cli {

namespace {

struct ConvertOptions {
  std::string in, out, format, dtype;
};

int RunConvert(const ConvertOptions& o) {
  std::string format = o.format;
  if (format.empty()) {
    auto ends = [&](const std::string& suffix) {
      return o.out.size() >= suffix.size() &&
             o.out.compare(o.out.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    format = ends(".gguf") ? "gguf" : ends(".bin") ? "llama2c" : "hf";
  }
  if (format != "hf" && format != "gguf" && format != "llama2c") {
    return Fail(Status::InvalidArgument("--format: expected hf, gguf or llama2c, got '" + format + "'"));
  }
  WeightRecipe recipe;
  if (!o.dtype.empty()) {
    auto r = ParseWeightRecipe(o.dtype);
    if (!r.ok()) return Fail(Status::InvalidArgument("--dtype: " + r.status().message()));
    recipe = *r;
  }
  auto w = LoadModel(o.in);
  if (!w.ok()) return Fail(w.status());
  if (!o.dtype.empty()) {
    w = ApplyRecipe(std::move(w).value(), recipe);
    if (!w.ok()) return Fail(w.status());
  }
  Status s = format == "gguf"      ? WriteGguf(*w, o.out)
             : format == "llama2c" ? WriteLlama2c(*w, o.out)
                                   : WriteHuggingFace(*w, o.out);
  if (!s.ok()) return Fail(s);
  std::printf("wrote %s (%s) from %s\n", o.out.c_str(), format.c_str(), o.in.c_str());
  return 0;
}

}  // namespace

void RegisterConvert(CLI::App& app) {
  auto o = std::make_shared<ConvertOptions>();
  CLI::App* cmd = app.add_subcommand("convert", "Write a model in another format (hf, gguf or llama2c)");
  cmd->add_option("IN", o->in, "Model file or Hugging Face directory")->required();
  cmd->add_option("OUT", o->out, "Output: a .gguf or .bin file, or a directory")->required();
  cmd->add_option("--format", o->format, "hf, gguf or llama2c (default: from OUT's name)");
  cmd->add_option("--dtype", o->dtype,
                  "Re-store the matrices: f32, bf16, f16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, "
                  "q5_k, q6_k, q4_k_m or q5_k_m (block formats: gguf only; default: as stored)");
  cmd->callback([o] { std::exit(RunConvert(*o)); });
}

}  // namespace detinfer::cli
