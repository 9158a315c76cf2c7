// Text in and out of the model: tokenising 1 MB of mixed text with real tokenizer.json files,
// and rendering a 20-message conversation with a real chat template (Qwen3's). The side-by-side
// comparison with Hugging Face's own tokenizers library is scripts/tokenizer-reference/bench.sh
// (it needs node and npm packages, so it is not part of make bench).
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "template/chat_template_engine.h"
#include "tokenizer/hf_tokenizer_json.h"

namespace detinfer {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// 1 MB (cut at a character boundary): the tokenizer reference texts (multilingual, emoji,
// code, whitespace) and then this repository's docs, repeated — prose in which words recur, as
// in real documents.
const std::string& MixedText() {
  static const std::string text = [] {
    const fs::path root = DETINFER_SOURCE_DIR;
    std::string out;
    const nlohmann::json cases = nlohmann::json::parse(
        ReadFile(root / "tests/data/tokenizers/llama2/expected.json"), nullptr, false);
    if (!cases.is_discarded()) {
      for (const auto& c : cases["cases"]) out += c["text"].get<std::string>() + "\n";
    }
    std::string docs;
    for (const auto& e : fs::directory_iterator(root / "docs")) {
      if (e.path().extension() == ".md") docs += ReadFile(e.path());
    }
    while (!docs.empty() && out.size() < (1u << 20)) out += docs;
    out.resize(std::min<size_t>(out.size(), 1u << 20));
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
    return out;
  }();
  return text;
}

const char* kTokenizerFiles[] = {"llama2", "gemma3-subset", "synthetic/unigram_byte_fallback"};

void BM_TokenizeText(benchmark::State& state) {
  const fs::path root = DETINFER_SOURCE_DIR;
  const std::string name = kTokenizerFiles[state.range(0)];
  fs::path file = root / "tests/data/tokenizers" / name / "tokenizer.json";
  if (!fs::exists(file)) file = root / "tests/data/tokenizers" / (name + ".json");
  auto tok = LoadHfTokenizerJson(file.string());
  if (!tok.ok()) {
    state.SkipWithError(tok.status().ToString().c_str());
    return;
  }
  const std::string& text = MixedText();
  size_t ids = 0;
  for (auto _ : state) {
    auto r = (*tok)->Encode(text, true);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      return;
    }
    ids = r->size();
    benchmark::DoNotOptimize(r->data());
  }
  state.SetLabel(name);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(ids);
  state.counters["MB/s"] = benchmark::Counter(static_cast<double>(text.size()) / 1e6,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void BM_ChatTemplateRender(benchmark::State& state) {
  const fs::path dir = fs::path(DETINFER_SOURCE_DIR) / "tests/data/templates";
  auto program = ParseChatTemplate(ReadFile(dir / "qwen3.jinja"));
  const nlohmann::ordered_json expected =
      nlohmann::ordered_json::parse(ReadFile(dir / "expected_renders.json"), nullptr, false);
  if (!program.ok() || expected.is_discarded()) {
    state.SkipWithError("tests/data/templates: qwen3.jinja or expected_renders.json unreadable");
    return;
  }
  ChatInputs in;
  for (const auto& r : expected["renders"]) {
    if (r["template"] == "qwen3.jinja" && r["case"] == "twenty_messages") {
      in.messages = r["inputs"]["messages"];
      in.add_generation_prompt = r["inputs"]["add_generation_prompt"].get<bool>();
    }
  }
  size_t bytes = 0;
  for (auto _ : state) {
    auto out = RenderChatTemplate(*program, in);
    if (!out.ok()) {
      state.SkipWithError(out.status().ToString().c_str());
      return;
    }
    bytes = out->size();
    benchmark::DoNotOptimize(out->data());
  }
  state.counters["messages"] = static_cast<double>(in.messages.size());
  state.counters["us_per_render"] = benchmark::Counter(
      1e-6, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["bytes_out"] = static_cast<double>(bytes);
}

BENCHMARK(BM_TokenizeText)->ArgName("file")->DenseRange(0, 2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ChatTemplateRender)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace detinfer
