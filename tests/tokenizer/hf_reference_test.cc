// Hugging Face tokenizer.json files checked against Hugging Face's own library: the expected ids
// and decodes under tests/data/tokenizers were written by scripts/tokenizer-reference (npm
// "tokenizers" 0.23.2, the Rust crate compiled for node), never by detinfer. Files: a real
// Llama-2-style SentencePiece BPE, the real Gemma-3 file (gzipped) and a vocabulary subset of
// it, and synthetic
// files for Unigram, every Split behaviour, the Metaspace variants, normalizers, decoders and
// post-processors no real file here uses. Also: the special-token rules of tokenizer_config.json
// and GGUF, and errors naming the component at fault.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <zlib.h>

#include "tokenizer/hf_tokenizer_json.h"
#include "tokenizer/streaming_decoder.h"
#include "tokenizer/vocab_tokenizer.h"

namespace detinfer {
namespace {

using nlohmann::json;

const std::string kData = std::string(DETINFER_SOURCE_DIR) + "/tests/data/tokenizers/";

std::string ReadReferenceFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<int32_t> RefIds(const json& j) { return j.get<std::vector<int32_t>>(); }

// Every case of `expected_path`: ids with and without special tokens, the three decodes, and
// the round trip wherever the library's decode gives the text back.
void ExpectMatches(const Tokenizer& t, const std::string& expected_path) {
  const json expected = json::parse(ReadReferenceFile(expected_path));
  ASSERT_GT(expected["cases"].size(), 30u);
  for (const json& c : expected["cases"]) {
    const std::string text = c["text"].get<std::string>();
    SCOPED_TRACE(expected_path + ": text '" + text + "'");
    auto ids = t.Encode(text, false);
    ASSERT_TRUE(ids.ok()) << ids.status().ToString();
    EXPECT_EQ(*ids, RefIds(c["ids"]));
    auto special = t.Encode(text, true);
    ASSERT_TRUE(special.ok()) << special.status().ToString();
    EXPECT_EQ(*special, RefIds(c["ids_special"]));
    const std::vector<int32_t> want = RefIds(c["ids_special"]);
    auto d = t.Decode(RefIds(c["ids"]));
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(*d, c["decode"].get<std::string>());
    auto ds = t.Decode(want);
    ASSERT_TRUE(ds.ok());
    EXPECT_EQ(*ds, c["decode_special"].get<std::string>());
    auto skip = t.Decode(want, Tokenizer::DecodeOptions{.skip_special_tokens = true});
    ASSERT_TRUE(skip.ok());
    EXPECT_EQ(*skip, c["decode_special_skip"].get<std::string>());
    if (c["decode"] == text) {
      auto round = t.Decode(*ids);
      ASSERT_TRUE(round.ok());
      EXPECT_EQ(*round, text);
    }
  }
}

std::unique_ptr<Tokenizer> LoadDir(const std::string& dir) {
  const HfTokenizerOptions o = HfOptionsFromConfig(ReadReferenceFile(kData + dir + "/tokenizer_config.json"));
  auto t = LoadHfTokenizerJson(kData + dir + "/tokenizer.json", o);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

TEST(HfReference, Llama2MatchesTheTokenizersLibrary) {
  auto t = LoadDir("llama2");
  ASSERT_TRUE(t);
  ExpectMatches(*t, kData + "llama2/expected.json");
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_EQ(t->eos_id(), 2);
  EXPECT_TRUE(t->IsSpecial(0) && t->IsSpecial(1) && t->IsSpecial(2));
  EXPECT_FALSE(t->IsSpecial(3));
  EXPECT_FALSE(t->IsSpecial(22557));
}

std::string ReadGzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  EXPECT_NE(f, nullptr) << path;
  std::string out;
  if (f == nullptr) return out;
  char buf[1 << 16];
  for (int n; (n = gzread(f, buf, sizeof(buf))) > 0;) out.append(buf, static_cast<size_t>(n));
  gzclose(f);
  return out;
}

// The whole real Gemma-3 file (262144 model tokens, 514906 merges, 6415 added tokens), committed
// gzipped.
TEST(HfReference, Gemma3MatchesTheTokenizersLibrary) {
  const HfTokenizerOptions o = HfOptionsFromConfig(ReadReferenceFile(kData + "gemma3/tokenizer_config.json"));
  auto t = ParseHfTokenizerJson(ReadGzip(kData + "gemma3/tokenizer.json.gz"), "gemma3/tokenizer.json", o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ExpectMatches(**t, kData + "gemma3/expected.json");
  EXPECT_EQ((*t)->vocab_size(), 262145);  // 262144 model tokens and <image_soft_token>
  EXPECT_EQ((*t)->bos_id(), 2);
}

TEST(HfReference, Gemma3SubsetMatchesTheTokenizersLibrary) {
  auto t = LoadDir("gemma3-subset");
  ASSERT_TRUE(t);
  ExpectMatches(*t, kData + "gemma3-subset/expected.json");
}

TEST(HfReference, SyntheticFilesMatchTheTokenizersLibrary) {
  const json names = json::parse(ReadReferenceFile(kData + "synthetic/index.json"));
  ASSERT_GE(names.size(), 19u);
  for (const json& n : names) {
    const std::string name = n.get<std::string>();
    SCOPED_TRACE(name);
    auto t = LoadHfTokenizerJson(kData + "synthetic/" + name + ".json");
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    ExpectMatches(**t, kData + "synthetic/" + name + ".expected.json");
  }
}

// Streaming: for the SentencePiece file, what StreamingDecoder emits equals Decode wherever
// the ids hold no invalid byte run (ByteFallback gives one U+FFFD per byte, the streaming
// decoder one per maximal subpart).
TEST(HfReference, Llama2StreamingEqualsDecode) {
  auto t = LoadDir("llama2");
  ASSERT_TRUE(t);
  const json expected = json::parse(ReadReferenceFile(kData + "llama2/expected.json"));
  for (const json& c : expected["cases"]) {
    const std::vector<int32_t> ids = RefIds(c["ids"]);
    StreamingDecoder s(*t);
    std::string out;
    for (int32_t id : ids) {
      auto piece = s.Push(id);
      ASSERT_TRUE(piece.ok());
      out += *piece;
    }
    out += s.Finish();
    EXPECT_EQ(out, c["decode"].get<std::string>()) << c["text"];
  }
}

// transformers' LlamaTokenizerFast rebuilds the post-processor from add_bos_token /
// add_eos_token; other classes keep the file's post_processor.
TEST(HfReference, AddBosAndAddEosFollowTransformers) {
  const std::string path = kData + "llama2/tokenizer.json";
  const json expected = json::parse(ReadReferenceFile(kData + "llama2/expected.json"));
  const json& c = expected["cases"][6];  // "Hello world"
  ASSERT_EQ(c["text"], "Hello world");
  std::vector<int32_t> body = RefIds(c["ids"]);
  HfTokenizerOptions o = HfOptionsFromConfig(ReadReferenceFile(kData + "llama2/tokenizer_config.json"));
  o.add_eos_token = true;
  auto with_eos = LoadHfTokenizerJson(path, o);
  ASSERT_TRUE(with_eos.ok());
  std::vector<int32_t> want = {1};
  want.insert(want.end(), body.begin(), body.end());
  want.push_back(2);
  EXPECT_EQ(*(*with_eos)->Encode("Hello world", true), want);
  o.add_bos_token = false;
  o.add_eos_token = false;
  auto bare = LoadHfTokenizerJson(path, o);
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(*(*bare)->Encode("Hello world", true), body);
  EXPECT_EQ((*bare)->bos_id(), 1);  // still known, just not added
  // Another class: the file's TemplateProcessing (BOS only) decides; add_eos_token is unused.
  o.tokenizer_class = "PreTrainedTokenizerFast";
  o.add_eos_token = true;
  auto other = LoadHfTokenizerJson(path, o);
  ASSERT_TRUE(other.ok());
  want.pop_back();
  EXPECT_EQ(*(*other)->Encode("Hello world", true), want);
}

// Meta's first Llama-3 tokenizer.json had only a ByteLevel post-processor: Hugging Face adds
// no BOS, even though tokenizer_config.json names one (detinfer used to add it).
TEST(HfReference, ByteLevelPostProcessorAddsNoBos) {
  json j = json::parse(ReadReferenceFile(kData + "synthetic/bytelevel_lowercase.json"));
  j["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false},
                         {"use_regex", true}};
  HfTokenizerOptions o;
  o.bos_token = "<|im_start|>";
  o.tokenizer_class = "PreTrainedTokenizerFast";
  auto t = ParseHfTokenizerJson(j.dump(), "tok.json", o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_GE((*t)->bos_id(), 0);
  EXPECT_EQ(*(*t)->Encode("hi", true), *(*t)->Encode("hi", false));
}

TEST(HfReference, GgufAddBosAndAddEos) {
  GgufVocab v;
  v.source = "m.gguf";
  v.model = "llama";
  v.tokens = {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "\xE2\x96\x81" "a"};
  v.scores = {0, 0, 0, -1, -2, -1.5};
  v.types = {2, 3, 3, 1, 1, 1};
  v.bos_id = 1;
  v.eos_id = 2;
  v.unk_id = 0;
  auto def = MakeGgufTokenizer(v);
  ASSERT_TRUE(def.ok()) << def.status().ToString();
  EXPECT_EQ(*(*def)->Encode("a", true), (std::vector<int32_t>{1, 5}));
  EXPECT_TRUE((*def)->IsSpecial(1) && (*def)->IsSpecial(2));
  EXPECT_FALSE((*def)->IsSpecial(5));
  EXPECT_EQ(*(*def)->Decode(std::vector<int32_t>{1, 5, 2}, {.skip_special_tokens = true}), "a");
  v.add_bos = false;
  v.add_eos = true;
  auto eos = MakeGgufTokenizer(v);
  ASSERT_TRUE(eos.ok());
  EXPECT_EQ(*(*eos)->Encode("a", true), (std::vector<int32_t>{5, 2}));
  EXPECT_EQ(*(*eos)->Encode("a", false), (std::vector<int32_t>{5}));
}

Status RefLoadError(const json& j) {
  auto t = ParseHfTokenizerJson(j.dump(), "tok.json");
  return t.ok() ? Status::Internal("loaded") : t.status();
}

void ExpectError(const json& j, StatusCode code, const std::string& text) {
  const Status s = RefLoadError(j);
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_NE(s.message().find(text), std::string::npos) << s.ToString() << "\nwanted: " << text;
}

TEST(HfReference, ErrorsNameTheComponent) {
  const json good = json::parse(ReadReferenceFile(kData + "synthetic/bpe_metaspace_first.json"));
  ASSERT_TRUE(RefLoadError(good).code() == StatusCode::kInternal);  // loads
  json j = good;
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers", json::array({good["pre_tokenizer"], {{"type", "Foo"}}})}};
  ExpectError(j, StatusCode::kUnsupported, "tok.json: pre_tokenizer.pretokenizers[1]: type 'Foo' is not supported");
  j = good;
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array({{{"type", "Precompiled"}}})}};
  ExpectError(j, StatusCode::kUnsupported, "tok.json: normalizer.normalizers[0]: type 'Precompiled' is not supported");
  j = good;
  j["decoder"] = {{"type", "CTC"}};
  ExpectError(j, StatusCode::kUnsupported, "tok.json: decoder: type 'CTC' is not supported");
  j = good;
  j["post_processor"] = {{"type", "Sequence"}, {"processors", json::array({{{"type", "Bogus"}}})}};
  ExpectError(j, StatusCode::kUnsupported, "tok.json: post_processor.processors[0]: type 'Bogus' is not supported");
  j = good;
  j["model"]["type"] = "WordPiece";
  ExpectError(j, StatusCode::kUnsupported, "model.type 'WordPiece' is not supported");
  j = good;
  j["model"]["dropout"] = 0.1;
  ExpectError(j, StatusCode::kUnsupported, "model.dropout");
  // Malformed fields.
  j = good;
  j["pre_tokenizer"]["replacement"] = "ab";
  ExpectError(j, StatusCode::kInvalidArgument, "pre_tokenizer.replacement must be one character");
  j = good;
  j["pre_tokenizer"]["prepend_scheme"] = "sometimes";
  ExpectError(j, StatusCode::kInvalidArgument, "pre_tokenizer.prepend_scheme 'sometimes'");
  j = good;
  j["decoder"] = {{"type", "Strip"}, {"content", " "}, {"start", -1}, {"stop", 0}};
  ExpectError(j, StatusCode::kInvalidArgument, "decoder.start must be a non-negative integer");
  j = good;
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(x"}}}, {"behavior", "Isolated"}};
  ExpectError(j, StatusCode::kInvalidArgument, "pre_tokenizer.pattern.Regex: invalid regex");
  j = good;
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Sideways"}};
  ExpectError(j, StatusCode::kInvalidArgument, "pre_tokenizer.behavior 'Sideways'");
  j = good;
  j["post_processor"]["single"][0]["SpecialToken"]["id"] = "<nope>";
  ExpectError(j, StatusCode::kInvalidArgument, "post_processor.single[0]: special token '<nope>'");
  // Fields of the wrong type are errors or defaults, never an exception (found by fuzzing).
  j = good;
  j["added_tokens"][1]["special"] = nullptr;
  EXPECT_TRUE(ParseHfTokenizerJson(j.dump(), "tok.json").ok());
  j = good;
  j["post_processor"]["single"][1]["Sequence"]["id"] = 5;
  ExpectError(j, StatusCode::kUnsupported, "post_processor.single[1]: a single template may only hold sequence A");
  const json uni = json::parse(ReadReferenceFile(kData + "synthetic/unigram_unk.json"));
  j = uni;
  j["model"]["vocab"][5] = json::array({"x"});
  ExpectError(j, StatusCode::kInvalidArgument, "model.vocab[5] must be a [piece, score] pair");
  j = uni;
  j["model"]["unk_id"] = 1 << 30;
  ExpectError(j, StatusCode::kInvalidArgument, "model.unk_id");
  // Invalid UTF-8 text is an error naming the offset; so is a byte the decoder cannot know.
  auto t = ParseHfTokenizerJson(good.dump(), "tok.json");
  ASSERT_TRUE(t.ok());
  auto bad = (*t)->Encode("ok\xC3(", false);
  EXPECT_NE(bad.status().message().find("byte offset 2"), std::string::npos) << bad.status().ToString();
  EXPECT_EQ((*t)->Decode(std::vector<int32_t>{1, 1 << 20}).status().code(), StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace detinfer
