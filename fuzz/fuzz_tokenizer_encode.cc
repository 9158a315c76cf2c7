// Tokenizer encode on arbitrary bytes: the first byte picks one of three fixed tokenizers (Hugging
// Face byte-level BPE with added tokens, llama2.c score merging, a GGUF "llama" vocabulary), the
// rest is the text. Properties: ill-formed UTF-8 is an error, never a crash; every id is in the
// vocabulary; decoding succeeds; byte-level BPE gives the text back exactly.
#include <cstring>
#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/hf_tokenizer_json.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab_tokenizer.h"

using namespace detinfer;

namespace {

std::string ByteChar(int b) {
  std::string s;
  AppendUtf8(ByteToCodepoint(static_cast<uint8_t>(b)), &s);
  return s;
}

std::string ByteToken(int b) {
  static const char* const kHex = "0123456789ABCDEF";
  return std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">";
}

std::unique_ptr<Tokenizer> Built(Result<std::unique_ptr<Tokenizer>> t) {
  if (!t.ok()) fuzz::Fail("fixed tokenizer does not build: " + t.status().ToString());
  return std::move(t).value();
}

// GPT-2 pre-tokenizer, the 256 byte characters, a few merges and two added tokens.
std::unique_ptr<Tokenizer> ByteLevelTokenizer() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[ByteChar(b)] = b;
  const std::string sp = ByteChar(' ');
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {sp, "w"}, {"o", "r"}, {sp + "w", "or"},
      {sp, "t"}, {sp + "t", "he"}, {"i", "n"}, {sp, "in"}};
  nlohmann::json merge_list = nlohmann::json::array();
  int next = 256;
  for (const auto& [a, b] : merges) {
    if (!vocab.contains(a + b)) vocab[a + b] = next++;
    merge_list.push_back(a + " " + b);
  }
  nlohmann::json j;
  j["added_tokens"] = {
      {{"id", next}, {"content", "<|endoftext|>"}, {"special", true}, {"single_word", false},
       {"lstrip", false}, {"rstrip", false}, {"normalized", false}},
      {{"id", next + 1}, {"content", "<|im_start|>"}, {"special", true}, {"single_word", false},
       {"lstrip", false}, {"rstrip", false}, {"normalized", false}}};
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false},
                        {"trim_offsets", true}, {"use_regex", true}};
  j["post_processor"] = nullptr;
  j["decoder"] = {{"type", "ByteLevel"}};
  j["model"] = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr},
                {"vocab", vocab}, {"merges", merge_list}};
  return Built(ParseHfTokenizerJson(j.dump(), "fixed-tokenizer.json"));
}

// run.c's layout: <unk>, <s>, </s>, 256 byte tokens, then scored pieces.
std::unique_ptr<Tokenizer> Llama2cTokenizer() {
  std::vector<std::pair<std::string, float>> toks = {{"<unk>", 0}, {"\n<s>\n", 0}, {"\n</s>\n", 0}};
  for (int b = 0; b < 256; ++b) toks.emplace_back(ByteToken(b), 0.f);
  for (const char* p : {" ", "a", "b", "e", "t", " a", " t", "th", "the", " the", "at", "ab"}) {
    toks.emplace_back(p, -static_cast<float>(toks.size()));
  }
  std::vector<uint8_t> bin;
  auto put = [&](const void* p, size_t n) {
    const size_t at = bin.size();
    bin.resize(at + n);
    std::memcpy(bin.data() + at, p, n);
  };
  const int32_t max_len = 16;
  put(&max_len, 4);
  for (const auto& [text, score] : toks) {
    const auto len = static_cast<int32_t>(text.size());
    put(&score, 4);
    put(&len, 4);
    put(text.data(), text.size());
  }
  return Built(ParseLlama2cTokenizer(bin, "fixed-tokenizer.bin"));
}

// llama.cpp's SentencePiece-style "llama" vocabulary with a user-defined token.
std::unique_ptr<Tokenizer> GgufLlamaTokenizer() {
  const std::string u = "\xE2\x96\x81";  // "▁"
  GgufVocab v;
  v.source = "fixed.gguf";
  v.model = "llama";
  auto add = [&](std::string t, float s, int32_t type) {
    v.tokens.push_back(std::move(t));
    v.scores.push_back(s);
    v.types.push_back(type);
  };
  add("<unk>", 0, 2);
  add("<s>", 0, 3);
  add("</s>", 0, 3);
  for (int b = 0; b < 256; ++b) add(ByteToken(b), 0, 6);
  for (const std::string& p : {u, std::string("a"), std::string("b"), u + "a", std::string("ab"),
                               u + "ab", u + "the", std::string("th")}) {
    add(p, -static_cast<float>(v.tokens.size()), 1);
  }
  add("<|user|>", 0, 4);
  v.bos_id = 1;
  v.eos_id = 2;
  v.unk_id = 0;
  return Built(MakeGgufTokenizer(std::move(v)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Built once and never modified: Tokenizer methods are const.
  static const std::unique_ptr<Tokenizer> kTokenizers[] = {
      ByteLevelTokenizer(), Llama2cTokenizer(), GgufLlamaTokenizer()};
  if (size < 1) return 0;
  const size_t which = data[0] % 3;
  const bool add_bos = (data[0] & 0x80) != 0;
  const Tokenizer& tok = *kTokenizers[which];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  Result<std::vector<int32_t>> ids = tok.Encode(text, add_bos);
  const bool well_formed = ValidateUtf8(text, "input").ok();
  if (!ids.ok()) {
    if (well_formed) fuzz::Fail("encode of valid UTF-8 failed: " + ids.status().ToString());
    return 0;
  }
  if (!well_formed) fuzz::Fail("encode accepted ill-formed UTF-8");
  for (int32_t id : *ids) {
    if (id < 0 || id >= tok.vocab_size()) fuzz::Fail("encode gave id " + std::to_string(id));
  }
  Result<std::string> back = tok.Decode(*ids);
  if (!back.ok()) fuzz::Fail("decode of encoded ids failed: " + back.status().ToString());
  if (which == 0 && !add_bos && *back != text) fuzz::Fail("byte-level BPE does not round-trip");
  return 0;
}
