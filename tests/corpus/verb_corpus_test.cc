// The verb corpus: determinism, the grammar holds for every sentence, disjoint splits, and the
// tokenizer files it writes load back through the normal loaders.
#include "corpus/verb_corpus.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <unistd.h>

#include "corpus/grammar.h"
#include "model/hf_writer.h"
#include "model/model_bundle.h"
#include "model/random_init.h"
#include "tokenizer/hf_tokenizer_json.h"

namespace detinfer {
namespace {

VerbCorpus Make(uint64_t seed, int64_t train, int64_t heldout) {
  VerbCorpusOptions o;
  o.seed = seed;
  o.train_sentences = train;
  o.heldout_sentences = heldout;
  auto c = GenerateVerbCorpus(o);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : VerbCorpus{};
}

std::vector<std::string> WordsOf(const VerbCorpus& c, const std::vector<int32_t>& ids) {
  std::vector<std::string> w;
  for (size_t i = 1; i + 1 < ids.size(); ++i) w.push_back(c.vocab.at(static_cast<size_t>(ids[i])));
  return w;
}

std::string TempDir(const std::string& leaf) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path p = std::filesystem::path(::testing::TempDir()) /
                            ("detinfer_" + std::to_string(::getpid()) + "_" + info->name() + "_" + leaf);
  std::filesystem::create_directories(p);
  return p.string();
}

TEST(VerbCorpus, SameSeedSameCorpusOtherSeedOther) {
  const VerbCorpus a = Make(7, 3000, 200), b = Make(7, 3000, 200), c = Make(8, 3000, 200);
  EXPECT_EQ(a.vocab, b.vocab);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.heldout, b.heldout);
  EXPECT_EQ(a.vocab, c.vocab);  // the vocabulary is the grammar's, not the seed's
  EXPECT_NE(a.train, c.train);
  EXPECT_NE(a.heldout, c.heldout);
  // A longer corpus with the same seed starts with the same draws... of each split.
  const VerbCorpus longer = Make(7, 4000, 200);
  EXPECT_TRUE(std::equal(a.train.begin(), a.train.end(), longer.train.begin()));
}

TEST(VerbCorpus, EverySentenceIsAGrammaticalAgreeingSentence) {
  const VerbCorpus c = Make(1, 20000, 1000);
  ASSERT_EQ(c.train.size(), 20000u);
  ASSERT_EQ(c.heldout.size(), 1000u);
  std::set<std::pair<int, int>> seen;  // (language, frame) pairs covered
  for (const auto* split : {&c.train, &c.heldout}) {
    for (const std::vector<int32_t>& s : *split) {
      ASSERT_GE(s.size(), 5u);
      ASSERT_EQ(s.front(), c.bos_id);
      ASSERT_EQ(s.back(), c.eos_id);
      const std::vector<std::string> words = WordsOf(c, s);
      const verb_grammar::SentenceParse p = verb_grammar::ParseSentence(words);
      ASSERT_EQ(p.error, "") << ::testing::PrintToString(words);
      // Agreement, checked here again from the readings: 100% in the corpus itself.
      bool agrees = false;
      for (const verb_grammar::VerbReading& r : p.parsed.readings) {
        agrees = agrees || (verb_grammar::TenseFitsFrame(r.tense, p.parsed.frame) &&
                            (r.persons & verb_grammar::Only(p.parsed.person)) != 0);
      }
      ASSERT_TRUE(agrees) << ::testing::PrintToString(words);
      seen.insert({static_cast<int>(p.parsed.language), static_cast<int>(p.parsed.frame)});
    }
  }
  EXPECT_EQ(seen.size(), 8u);
}

TEST(VerbCorpus, VocabularyHasSpecialsFirstAndNoDuplicates) {
  const VerbCorpus c = Make(1, 10, 10);
  ASSERT_GE(c.vocab.size(), 4u);
  EXPECT_EQ(c.vocab[static_cast<size_t>(c.pad_id)], "<pad>");
  EXPECT_EQ(c.vocab[static_cast<size_t>(c.unk_id)], "<unk>");
  EXPECT_EQ(c.vocab[static_cast<size_t>(c.bos_id)], "<s>");
  EXPECT_EQ(c.vocab[static_cast<size_t>(c.eos_id)], "</s>");
  EXPECT_EQ(std::set<std::string>(c.vocab.begin(), c.vocab.end()).size(), c.vocab.size());
  for (const char* w : {"Yesterday", "trabajé", "durmieron", "going", ".", "!", "Mañana"}) {
    EXPECT_NE(std::find(c.vocab.begin(), c.vocab.end(), w), c.vocab.end()) << w;
  }
}

TEST(VerbCorpus, TrainAndHeldOutShareNoSentence) {
  const VerbCorpus c = Make(3, 20000, 1000);
  std::set<std::vector<int32_t>> train(c.train.begin(), c.train.end());
  for (const auto& s : c.heldout) EXPECT_EQ(train.count(s), 0u);
  // Repeats are allowed (sampling with replacement) but the splits are far from degenerate.
  EXPECT_GT(train.size(), c.train.size() / 4);
}

TEST(VerbCorpus, BadOptionsAreErrorsNamingTheOption) {
  VerbCorpusOptions o;
  o.train_sentences = -1;
  auto c = GenerateVerbCorpus(o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("VerbCorpusOptions.train_sentences: -1"), std::string::npos);
  o.train_sentences = 1;
  o.heldout_sentences = kMaxCorpusSentences + 1;
  c = GenerateVerbCorpus(o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("heldout_sentences"), std::string::npos);
}

TEST(VerbCorpus, TokenizerFileRoundTripsEverySentence) {
  const VerbCorpus c = Make(5, 2000, 100);
  const std::string dir = TempDir("tok");
  const std::string path = dir + "/tokenizer.json";
  ASSERT_TRUE(WriteWordLevelTokenizer(c, path).ok());
  HfTokenizerOptions o;
  o.eos_token = "</s>";
  auto tok = LoadHfTokenizerJson(path, o);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  const Tokenizer& t = **tok;
  EXPECT_EQ(t.vocab_size(), static_cast<int32_t>(c.vocab.size()));
  EXPECT_EQ(t.bos_id(), c.bos_id);
  EXPECT_EQ(t.eos_id(), c.eos_id);
  for (const auto& s : c.train) {
    // Text as a person would type it: words separated by spaces, punctuation attached.
    std::string typed;
    for (const std::string& w : WordsOf(c, s)) {
      if (!typed.empty() && w != "." && w != "!") typed += ' ';
      typed += w;
    }
    auto ids = t.Encode(typed, /*add_bos=*/true);
    ASSERT_TRUE(ids.ok());
    ASSERT_EQ(*ids, std::vector<int32_t>(s.begin(), s.end() - 1)) << typed;
    auto text = t.Decode(std::vector<int32_t>(s.begin() + 1, s.end() - 1));
    ASSERT_TRUE(text.ok());
    auto expected = VerbCorpusText(c, std::vector<int32_t>(s.begin() + 1, s.end() - 1));
    ASSERT_TRUE(expected.ok());
    ASSERT_EQ(*text, *expected);
  }
  auto unk = t.Encode("Yesterday I flew .", false);
  ASSERT_TRUE(unk.ok());
  EXPECT_EQ((*unk)[2], c.unk_id);
  // The file's bytes depend only on the vocabulary.
  const VerbCorpus other = Make(6, 10, 10);
  ASSERT_TRUE(WriteWordLevelTokenizer(other, dir + "/again.json").ok());
  auto read = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(read(path), read(dir + "/again.json"));
}

TEST(VerbCorpus, ModelBundleLoadsTheWrittenTokenizer) {
  const VerbCorpus c = Make(1, 10, 10);
  ModelConfig cfg;
  cfg.arch = Arch::kLlama;
  cfg.dim = 16;
  cfg.n_layers = 1;
  cfg.n_heads = 2;
  cfg.n_kv_heads = 1;
  cfg.head_dim = 8;
  cfg.ffn_dim = 24;
  cfg.vocab_size = static_cast<int64_t>(c.vocab.size());
  cfg.max_seq_len = 32;
  cfg.rope_theta = 10000.0;
  cfg.norm_eps = 1e-5f;
  auto w = InitRandomModel(cfg, 1, DType::kF32);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  const std::string dir = TempDir("model");
  ASSERT_TRUE(WriteHuggingFace(*w, dir).ok());
  ASSERT_TRUE(WriteWordLevelTokenizer(c, dir + "/tokenizer.json").ok());
  ASSERT_TRUE(WriteWordLevelTokenizerConfig(c, dir + "/tokenizer_config.json").ok());
  auto b = LoadModelBundle(dir);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_TRUE(b->tokenizer);
  EXPECT_EQ(b->tokenizer->bos_id(), c.bos_id);
  EXPECT_EQ(b->tokenizer->eos_id(), c.eos_id);
  auto ids = b->tokenizer->Encode("Ayer yo trabajé en casa.", true);
  ASSERT_TRUE(ids.ok());
  auto text = VerbCorpusText(c, *ids);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "<s> Ayer yo trabajé en casa .");
}

TEST(VerbCorpus, WritersRejectABrokenVocabulary) {
  VerbCorpus c = Make(1, 1, 1);
  c.vocab.push_back("two words");
  Status s = WriteWordLevelTokenizer(c, "/nonexistent/tokenizer.json");
  EXPECT_NE(s.message().find("'two words' is empty or contains white space"), std::string::npos);
  c.vocab.back() = "Yesterday";
  s = WriteWordLevelTokenizer(c, "/nonexistent/tokenizer.json");
  EXPECT_NE(s.message().find("are both 'Yesterday'"), std::string::npos) << s.ToString();
  c.vocab.pop_back();
  c.eos_id = 100000;
  EXPECT_NE(WriteWordLevelTokenizerConfig(c, "/tmp/x.json").message().find("eos_id 100000"),
            std::string::npos);
  c.eos_id = 3;
  s = WriteWordLevelTokenizer(c, "/nonexistent/tokenizer.json");
  EXPECT_NE(s.message().find("cannot create '/nonexistent/tokenizer.json'"), std::string::npos);
}

}  // namespace
}  // namespace detinfer
