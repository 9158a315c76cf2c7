// Writes the seed corpora of the fuzz targets: tiny random models in every format and
// architecture (through the product's own writers), their config.json and index files, and
// small tokenizer files. Usage: detinfer_fuzz_seeds OUT_DIR (one subdirectory per target).
// scripts/fuzz.sh adds the real files from ../shared/models.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/gguf_writer.h"
#include "model/hf_writer.h"
#include "model/llama2c_writer.h"
#include "model/random_init.h"
#include "model/weight_recipe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

using namespace detinfer;
namespace fs = std::filesystem;

namespace {

void Write(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

void Copy(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
}

ModelConfig Tiny(Arch arch, bool tied) {
  ModelConfig c;
  c.arch = arch;
  c.dim = 8;
  c.n_layers = 1;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.head_dim = 4;
  c.ffn_dim = 12;
  c.vocab_size = 16;
  c.max_seq_len = 16;
  c.rope_theta = 10000.0;
  c.norm_eps = 1e-5f;
  c.tied_embeddings = tied;
  c.qkv_bias = arch == Arch::kQwen2;
  c.qk_norm = arch == Arch::kQwen3;
  c.rope_style = arch == Arch::kLlama ? RopeStyle::kInterleaved : RopeStyle::kRotateHalf;
  return c;
}

std::string ByteChar(int b) {
  std::string s;
  AppendUtf8(ByteToCodepoint(static_cast<uint8_t>(b)), &s);
  return s;
}

std::string TokenizerJson(bool split_regex, bool nfc) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[ByteChar(b)] = b;
  vocab["he"] = 256;
  vocab["ll"] = 257;
  vocab[ByteChar(' ') + "w"] = 258;
  nlohmann::json j;
  j["version"] = "1.0";
  j["added_tokens"] = {{{"id", 259}, {"content", "<|endoftext|>"}, {"special", true},
                        {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                        {"normalized", false}}};
  j["normalizer"] = nfc ? nlohmann::json{{"type", "NFC"}} : nlohmann::json(nullptr);
  const nlohmann::json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false},
                                     {"trim_offsets", true}, {"use_regex", !split_regex}};
  if (split_regex) {
    j["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern", {{"Regex", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
                                  "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
                                  "\\s+(?!\\S)|\\s+"}}},
           {"behavior", "Isolated"}, {"invert", false}},
          byte_level}}};
  } else {
    j["pre_tokenizer"] = byte_level;
  }
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", {{{"SpecialToken", {{"id", "<|endoftext|>"}, {"type_id", 0}}}},
                                     {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}}};
  j["decoder"] = {{"type", "ByteLevel"}};
  j["model"] = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr},
                {"ignore_merges", false}, {"vocab", vocab},
                {"merges", {"h e", "l l", ByteChar(' ') + " w"}}};
  return j.dump(1);
}

std::string Llama2cTokenizerBin(int n_pieces) {
  std::string out;
  auto put = [&](const void* p, size_t n) { out.append(static_cast<const char*>(p), n); };
  const int32_t max_len = 7;
  put(&max_len, 4);
  std::vector<std::string> toks = {"<unk>", "\n<s>\n", "\n</s>\n"};
  for (int b = 0; b < n_pieces; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    toks.emplace_back(buf);
  }
  for (const char* p : {" ", "a", " a", "ab", "the"}) toks.emplace_back(p);
  for (size_t i = 0; i < toks.size(); ++i) {
    const float score = -static_cast<float>(i);
    const auto len = static_cast<int32_t>(toks[i].size());
    put(&score, 4);
    put(&len, 4);
    out += toks[i];
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  for (const char* d : {"gguf", "safetensors", "safetensors_index", "hf_config", "llama2c",
                        "hf_tokenizer", "llama2c_tokenizer", "tokenizer_encode"}) {
    fs::create_directories(out / d);
  }
  int n = 0;
  for (Arch arch : {Arch::kLlama, Arch::kQwen2, Arch::kQwen3}) {
    for (bool tied : {true, false}) {
      for (DType dt : {DType::kF32, DType::kBF16}) {
        Result<ModelWeights> w = InitRandomModel(Tiny(arch, tied), 1, dt);
        if (!w.ok()) {
          std::fprintf(stderr, "%s\n", w.status().ToString().c_str());
          return 1;
        }
        const std::string tag = std::string(ArchName(arch)) + (tied ? "-tied-" : "-") +
                                std::string(DTypeName(dt));
        const fs::path hf = out / ("hf-" + tag);
        if (!WriteGguf(*w, (out / "gguf" / (tag + ".gguf")).string()).ok() ||
            !WriteHuggingFace(*w, hf.string()).ok()) {
          std::fprintf(stderr, "cannot write seed %s\n", tag.c_str());
          return 1;
        }
        Copy(hf / "config.json", out / "hf_config" / (tag + ".json"));
        Copy(hf / "model.safetensors", out / "safetensors" / (tag + ".safetensors"));
        fs::remove_all(hf);
        if (arch == Arch::kLlama && dt == DType::kF32) {
          (void)WriteLlama2c(*w, (out / "llama2c" / (tag + ".bin")).string());
        }
        ++n;
      }
    }
  }
  // Block-format seeds (the quantised types the GGUF reader and loader accept): rows of 32 and
  // 256 elements, so that every format keeps its own blocks.
  for (const char* recipe : {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k_m", "q5_k_m", "q6_k"}) {
    ModelConfig c = Tiny(Arch::kLlama, false);
    const bool k_quant = recipe[1] != '8' && recipe[2] == '_' && recipe[3] == 'k';
    c.dim = k_quant ? 256 : 32;
    c.ffn_dim = k_quant ? 256 : 64;
    c.head_dim = c.dim / 2;
    Result<ModelWeights> w = InitRandomModel(c, 1, ParseWeightRecipe(recipe).value());
    if (!w.ok() || !WriteGguf(*w, (out / "gguf" / (std::string("llama-") + recipe + ".gguf")).string()).ok()) {
      std::fprintf(stderr, "cannot write seed %s\n", recipe);
      return 1;
    }
    ++n;
  }
  Write(out / "safetensors_index" / "index.json",
        R"({"metadata": {"total_size": 1024}, "weight_map": {)"
        R"("model.embed_tokens.weight": "model-00001-of-00002.safetensors",)"
        R"("lm_head.weight": "model-00002-of-00002.safetensors"}})");
  int t = 0;
  for (bool split : {false, true}) {
    for (bool nfc : {false, true}) {
      Write(out / "hf_tokenizer" / ("tokenizer-" + std::to_string(t++) + ".json"),
            TokenizerJson(split, nfc));
    }
  }
  // A WordLevel model (whole words, Whitespace pre-tokenizer), as the verb-grammar model uses.
  Write(out / "hf_tokenizer" / "word-level.json",
        R"({"version": "1.0", "added_tokens": [{"id": 1, "content": "<s>", "special": true},)"
        R"( {"id": 2, "content": "</s>", "special": true}], "normalizer": null,)"
        R"( "pre_tokenizer": {"type": "Whitespace"}, "decoder": null,)"
        R"( "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken":)"
        R"( {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]},)"
        R"( "model": {"type": "WordLevel", "unk_token": "<unk>", "vocab": {"<unk>": 0,)"
        R"( "<s>": 1, "</s>": 2, "Hello": 3, "world": 4, ",": 5, "it": 6, "'": 7, "s": 8}}})");
  Write(out / "llama2c_tokenizer" / "bytes.bin", std::string(1, '\0') + Llama2cTokenizerBin(256));
  Write(out / "llama2c_tokenizer" / "few.bin", std::string(1, '\0') + Llama2cTokenizerBin(8));
  const char* texts[] = {"\x00Hello world", "\x01Once upon a time", "\x02the cat sat",
                         "\x80<|endoftext|>hello", "\x00\xc3\xa9t\xc3\xa9 \xf0\x9f\x99\x82 42",
                         "\x01 leading and  double  spaces\n\n", "\x02<|user|>ab"};
  for (size_t i = 0; i < std::size(texts); ++i) {
    const std::string s = i == 0 || i == 4 ? std::string(texts[i], std::strlen(texts[i] + 1) + 1)
                                           : std::string(texts[i]);
    Write(out / "tokenizer_encode" / ("text-" + std::to_string(i)), s);
  }
  std::printf("wrote seeds for %d models into %s\n", n, out.c_str());
  return 0;
}
