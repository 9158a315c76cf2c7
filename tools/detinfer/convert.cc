// `detinfer convert IN OUT [--format hf|gguf|llama2c]`: the same weights in another format, so
// they can be fed to other engines for comparison. The format comes from OUT's name (.gguf,
// .bin, else a directory); the tokenizer files come along where the format can hold them. Values are copied as stored (no re-rounding) unless
// --dtype re-stores them (e.g. --dtype q4_k_m quantises); the q/k row order changes where the
// target's RoPE convention differs.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>
#include <vector>

#include "core/storage_format.h"
#include "cli_common.h"
#include "model/gguf.h"
#include "model/gguf_vocab.h"
#include "model/gguf_writer.h"
#include "model/hf_writer.h"
#include "model/llama2c_writer.h"
#include "model/loader.h"
#include "model/tensor_roles.h"
#include "model/weight_recipe.h"
#include "subcommands.h"

namespace detinfer::cli {

namespace {

struct ConvertOptions {
  std::string in, out, format, dtype;
};

namespace fs = std::filesystem;

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The format OUT's name asks for: "" when the name gives none (a directory: Hugging Face), or an
// error for a name no format of ours is written as (x.safetensors would become a directory).
Result<std::string> FormatFromName(const std::string& out) {
  if (EndsWith(out, ".gguf")) return std::string("gguf");
  if (EndsWith(out, ".bin")) return std::string("llama2c");
  const fs::path p(out);
  if (EndsWith(out, "/") || fs::is_directory(p) || p.extension().empty()) return std::string();
  return Status::InvalidArgument(
      "OUT '" + out + "': a " + p.extension().string() + " name is none of the formats convert "
      "writes: a .gguf file, a llama2.c .bin file, or a directory (Hugging Face: config.json + "
      "model.safetensors, with the tokenizer files)");
}

// The tokenizer files that come with the model at `in`, as LoadModelBundle finds them.
std::vector<fs::path> SourceTokenizerFiles(const std::string& in, ModelFormat format) {
  std::vector<fs::path> files;
  const fs::path p(in);
  if (format == ModelFormat::kHuggingFace) {
    const fs::path dir = fs::is_directory(p) ? p : p.parent_path();
    for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                             "generation_config.json"}) {
      if (fs::exists(dir / name)) files.push_back(dir / name);
    }
  } else if (format == ModelFormat::kLlama2c && fs::exists(p.parent_path() / "tokenizer.bin")) {
    files.push_back(p.parent_path() / "tokenizer.bin");
  }
  return files;
}

// Copies the source's tokenizer files where the written model's loader looks for them, or says
// why it cannot, so a converted model never silently loses its text interface.
Status CarryTokenizer(const ModelWeights& w, const ConvertOptions& o, const std::string& format) {
  const std::vector<fs::path> files = SourceTokenizerFiles(o.in, w.format);
  bool embedded = false;  // a GGUF source's vocabulary is inside the file, when it has one
  if (w.format == ModelFormat::kGguf) {
    auto g = GgufFile::Open(o.in);
    if (g.ok()) {
      auto t = GgufTokenizer(*g);
      embedded = t.ok() && *t != nullptr;
    }
  }
  if (files.empty() && !embedded) return Status::Ok();  // nothing to carry
  if (embedded && format == "gguf") return Status::Ok();  // written into the file (RunConvert)
  const bool same_kind = (format == "hf" && w.format == ModelFormat::kHuggingFace) ||
                         (format == "llama2c" && w.format == ModelFormat::kLlama2c);
  if (!same_kind || files.empty()) {
    const std::string what = files.empty() ? o.in + "'s embedded vocabulary" : files[0].string();
    Warn("the tokenizer (" + what + ") is not carried into a " + format +
         " model; run the output with --tokenizer " + (files.empty() ? o.in : files[0].string()));
    return Status::Ok();
  }
  const fs::path dest_dir = format == "hf" ? fs::path(o.out) : fs::path(o.out).parent_path();
  for (const fs::path& f : files) {
    const fs::path dest = (dest_dir.empty() ? fs::path(".") : dest_dir) / f.filename();
    std::error_code ec;
    if (fs::exists(dest) && fs::equivalent(dest, f, ec)) continue;  // converted in place
    if (fs::exists(dest)) {
      Warn("kept the existing " + dest.string() + " (not replaced by " + f.string() + ")");
      continue;
    }
    fs::copy_file(f, dest, ec);
    if (ec) return Status::IoError("cannot copy " + f.string() + " to " + dest.string() + ": " + ec.message());
  }
  return Status::Ok();
}

int RunConvert(const ConvertOptions& o) {
  auto named = FormatFromName(o.out);
  if (!named.ok()) return Fail(named.status());
  std::string format = o.format.empty() ? (named->empty() ? "hf" : *named) : o.format;
  if (format != "hf" && format != "gguf" && format != "llama2c") {
    return Fail(Status::InvalidArgument("--format: expected hf, gguf or llama2c, got '" + format + "'"));
  }
  if (!named->empty() && *named != format) {
    return Fail(Status::InvalidArgument("--format " + format + " contradicts OUT '" + o.out +
                                        "', a " + *named + " name"));
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
  // GGUF to GGUF (quantising a downloaded file, say): the vocabulary travels inside the file.
  std::optional<GgufFile> source_gguf;
  std::vector<GgufExtraKv> vocab;
  if (format == "gguf" && w->format == ModelFormat::kGguf) {
    auto g = GgufFile::Open(o.in);
    if (!g.ok()) return Fail(g.status());
    source_gguf = std::move(g).value();
    vocab = GgufTokenizerMetadata(*source_gguf);
  }
  Status s = format == "gguf"      ? WriteGguf(*w, o.out, vocab)
             : format == "llama2c" ? WriteLlama2c(*w, o.out)
                                   : WriteHuggingFace(*w, o.out);
  if (!s.ok()) return Fail(s);
  if (format == "llama2c") {
    // The llama2.c layout stores f32 only: anything else is widened (exactly) on the way out.
    auto entries = ListTensors(*w);
    std::set<std::string> widened;
    if (entries.ok()) {
      for (const TensorEntry& e : *entries) {
        if (e.view->dtype != DType::kF32) widened.insert(std::string(FormatOf(e.view->dtype).name));
      }
    }
    for (const std::string& dt : widened) {
      Warn("llama2.c files hold f32 only: the " + dt + " weights were widened to f32 (exactly; "
           "the file is larger, the values are the same" +
           std::string(dt == "bf16" ? "; the matmuls now keep the activations in f32 where bf16 "
                                      "weights round them to bf16, so outputs differ slightly: "
                                      "docs/kernels.md" : "") + ")");
    }
  }
  s = CarryTokenizer(*w, o, format);
  if (!s.ok()) return Fail(s);
  std::printf("wrote %s (%s) from %s\n", o.out.c_str(), format.c_str(), o.in.c_str());
  return kExitOk;
}

}  // namespace

void RegisterConvert(CLI::App& app) {
  auto o = std::make_shared<ConvertOptions>();
  CLI::App* cmd = app.add_subcommand("convert", "Write a model in another format (hf, gguf or llama2c)");
  cmd->add_option("IN", o->in, "Model file or Hugging Face directory")->required();
  cmd->add_option("OUT", o->out,
                  "Output: a .gguf file, a llama2.c .bin file, or a Hugging Face directory")
      ->required();
  cmd->add_option("--format", o->format, "hf, gguf or llama2c (default from OUT's name)");
  cmd->add_option("--dtype", o->dtype,
                  "Re-store the matrices: f32, bf16, f16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, "
                  "q5_k, q6_k, q4_k_m or q5_k_m (block formats: gguf only; default as stored)");
  cmd->callback([o] { std::exit(RunConvert(*o)); });
}

}  // namespace detinfer::cli
