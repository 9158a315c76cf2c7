#include "verify/slot_dump.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/utc_time.h"
#include "engine/sampler.h"
#include "verify/axes_direct.h"
#include "verify/checksums.h"
#include "verify/npz_writer.h"

namespace detinfer::verify {

namespace {

// Slots of sequence 0 as [layers, positions, kv_heads, head_dim] in the storage dtype.
std::vector<uint8_t> Gather(const PagedKvCache& cache, bool value, int64_t layers,
                            int64_t positions) {
  std::vector<uint8_t> out;
  for (int64_t l = 0; l < layers; ++l) {
    for (int64_t p = 0; p < positions; ++p) {
      const auto row = StoredRow(cache, l, value, 0, p);
      const size_t at = out.size();
      out.resize(at + row.size());
      std::memcpy(out.data() + at, row.data(), row.size());
    }
  }
  return out;
}

double MaxDiff(DType dtype, const uint8_t* a, const uint8_t* b, size_t n) {
  std::vector<float> fa(n), fb(n);
  ConvertToF32(dtype, a, fa.data(), n);
  ConvertToF32(dtype, b, fb.data(), n);
  double m = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(fa[i]) - fb[i]);
    if (std::isnan(d)) return d;
    m = std::max(m, d);
  }
  return m;
}

}  // namespace

bool SlotDump::all_equal() const {
  return std::all_of(layers.begin(), layers.end(),
                     [](const SlotDumpLayer& l) { return l.k_equal && l.v_equal; });
}

std::string NpyDescr(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "<f4";
    case DType::kF16: return "<f2";
    default: return "<u2";  // bf16: raw bits
  }
}

Result<SlotDump> DumpSlots(const Transformer& model, const KernelContext& ctx,
                           const std::vector<int32_t>& prompt, const std::string& prompt_text,
                           DType kv_dtype, const Tokenizer* tokenizer, const std::string& out_dir,
                           const std::string& model_path,
                           const std::vector<std::pair<std::string, std::string>>& model_files) {
  const ModelConfig& c = model.config();
  if (prompt.empty()) return Status::InvalidArgument("dump-slots: the prompt is empty");
  const int64_t n = static_cast<int64_t>(prompt.size());
  if (n + 1 > c.max_seq_len) {
    return Status::OutOfRange("dump-slots: prompt of " + std::to_string(n) +
                              " tokens leaves no room for the decoded token (context " +
                              std::to_string(c.max_seq_len) + ")");
  }
  // Path A: prefill, then decode one greedy token.
  DETINFER_ASSIGN_OR_RETURN(PagedKvCache a, model.NewCache(n + 1, kv_dtype));
  DETINFER_RETURN_IF_ERROR(a.AddSequence(0));
  std::vector<std::vector<float>> rows;
  const std::vector<int64_t> prefill{n};
  DETINFER_RETURN_IF_ERROR(FeedPieces(model, ctx, a, prompt, prefill, false, &rows));
  DETINFER_ASSIGN_OR_RETURN(SampledToken next, SampleToken(ctx, rows.back(), SamplingParams{}, 0));
  std::vector<int32_t> all = prompt;
  all.push_back(next.token);
  const Segment decode{0, n, std::span(all).subspan(static_cast<size_t>(n), 1), false};
  std::vector<float> lg;
  DETINFER_RETURN_IF_ERROR(model.Forward(ctx, a, std::span(&decode, 1), &lg));
  // Path B: one fresh pass over prompt + token.
  DETINFER_ASSIGN_OR_RETURN(PagedKvCache b, model.NewCache(n + 1, kv_dtype));
  DETINFER_RETURN_IF_ERROR(b.AddSequence(0));
  const std::vector<int64_t> whole{n + 1};
  DETINFER_RETURN_IF_ERROR(FeedPieces(model, ctx, b, all, whole, false, nullptr));

  SlotDump dump;
  dump.token = next.token;
  dump.positions = n + 1;
  const std::vector<int64_t> shape{c.n_layers, n + 1, c.n_kv_heads, c.head_dim};
  const auto ak = Gather(a, false, c.n_layers, n + 1), av = Gather(a, true, c.n_layers, n + 1);
  const auto bk = Gather(b, false, c.n_layers, n + 1), bv = Gather(b, true, c.n_layers, n + 1);
  const size_t per_layer = ak.size() / static_cast<size_t>(c.n_layers);
  const size_t esize = DTypeSize(kv_dtype);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const size_t off = static_cast<size_t>(l) * per_layer;
    SlotDumpLayer s;
    s.k_equal = std::memcmp(ak.data() + off, bk.data() + off, per_layer) == 0;
    s.v_equal = std::memcmp(av.data() + off, bv.data() + off, per_layer) == 0;
    s.k_max_abs_diff = MaxDiff(kv_dtype, ak.data() + off, bk.data() + off, per_layer / esize);
    s.v_max_abs_diff = MaxDiff(kv_dtype, av.data() + off, bv.data() + off, per_layer / esize);
    dump.layers.push_back(s);
  }

  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return Status::InvalidArgument("--out: cannot create '" + out_dir + "': " + ec.message());
  NpzWriter npz;
  const std::string descr = NpyDescr(kv_dtype);
  DETINFER_RETURN_IF_ERROR(npz.Add("prefill_decode_k", descr, shape, ak.data(), ak.size()));
  DETINFER_RETURN_IF_ERROR(npz.Add("prefill_decode_v", descr, shape, av.data(), av.size()));
  DETINFER_RETURN_IF_ERROR(npz.Add("one_pass_k", descr, shape, bk.data(), bk.size()));
  DETINFER_RETURN_IF_ERROR(npz.Add("one_pass_v", descr, shape, bv.data(), bv.size()));
  DETINFER_RETURN_IF_ERROR(npz.Add("tokens", "<i4", {n + 1}, all.data(), all.size() * sizeof(int32_t)));
  DETINFER_RETURN_IF_ERROR(npz.WriteFile(out_dir + "/slots.npz"));

  std::string token_text;
  if (tokenizer != nullptr) {
    auto t = tokenizer->Decode(std::span(&next.token, 1));
    if (t.ok()) token_text = *t;
  }
  std::string md = "# dump-slots report\n\n";
  md += "Model: `" + model_path + "`  \nPrompt: " +
        (prompt_text.empty() ? std::string("(token ids)") : "\"" + prompt_text + "\"") + "  \n";
  md += "Prompt ids: ";
  for (size_t i = 0; i < prompt.size(); ++i) md += (i ? "," : "") + std::to_string(prompt[i]);
  md += "  \nDecoded token (greedy): " + std::to_string(next.token);
  if (!token_text.empty()) md += " \"" + token_text + "\"";
  md += "  \nKV storage dtype: " + std::string(DTypeName(kv_dtype));
  if (kv_dtype == DType::kBF16) md += " (stored in slots.npz as raw bits, '<u2')";
  md += "  \nPath A: prefill the prompt, decode one token. Path B: one fresh pass over prompt + token.\n\n";
  md += "| layer | K bytes equal | V bytes equal | max abs diff K | max abs diff V |\n";
  md += "|---|---|---|---|---|\n";
  for (size_t l = 0; l < dump.layers.size(); ++l) {
    const SlotDumpLayer& s = dump.layers[l];
    char line[200];
    std::snprintf(line, sizeof line, "| %zu | %s | %s | %.3g | %.3g |\n", l, s.k_equal ? "yes" : "NO",
                  s.v_equal ? "yes" : "NO", s.k_max_abs_diff, s.v_max_abs_diff);
    md += line;
  }
  md += std::string("\nVerdict: ") + (dump.all_equal() ? "every byte of every slot is equal.\n"
                                                       : "SLOTS DIFFER (SPEC §R2 is broken).\n");
  std::ofstream(out_dir + "/report.md") << md;

  nlohmann::json files = nlohmann::json::array();
  for (const auto& [path, sha] : model_files) files.push_back({{"path", path}, {"sha256", sha}});
  nlohmann::json layers = nlohmann::json::array();
  for (const SlotDumpLayer& s : dump.layers) layers.push_back({{"k_equal", s.k_equal}, {"v_equal", s.v_equal}});
  nlohmann::json manifest = {
      {"date", UtcNow()},
      {"engine", {{"version", DETINFER_VERSION}, {"build_type", DETINFER_BUILD_TYPE}}},
      {"isa", std::string(IsaName(ctx.isa))},
      {"threads", ctx.num_threads()},
      {"model", {{"path", model_path}, {"files", files}}},
      {"prompt_text", prompt_text},
      {"prompt_ids", prompt},
      {"decoded_token", next.token},
      {"kv_dtype", std::string(DTypeName(kv_dtype))},
      {"npy_dtype", descr},
      {"npy_dtype_note", kv_dtype == DType::kBF16 ? "bf16 has no NumPy dtype: raw bits as uint16 "
                                                    "(widen with (u32(x) << 16).view(float32))"
                                                  : "the cache's storage dtype"},
      {"arrays", {{"prefill_decode_k", shape}, {"prefill_decode_v", shape}, {"one_pass_k", shape},
                  {"one_pass_v", shape}, {"tokens", {n + 1}}}},
      {"layout", "[layer, position, kv_head, head_dim]; positions 0..n-1 are the prompt, n the decoded token"},
      {"layers", layers},
      {"all_equal", dump.all_equal()},
  };
  std::ofstream(out_dir + "/manifest.json") << manifest.dump(2) << "\n";
  return dump;
}

Result<std::vector<std::pair<std::string, std::string>>> HashModelFiles(const std::string& path) {
  std::vector<std::pair<std::string, std::string>> out;
  std::vector<std::string> files;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    for (const auto& e : std::filesystem::directory_iterator(path, ec)) {
      if (e.is_regular_file()) files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(path);
  }
  for (const std::string& f : files) {
    DETINFER_ASSIGN_OR_RETURN(std::string sha, Sha256File(f));
    out.emplace_back(f, sha);
  }
  return out;
}

}  // namespace detinfer::verify
