#include "corpus/verb_corpus.h"

#include <fstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "corpus/grammar.h"

namespace detinfer {
namespace {

namespace vg = verb_grammar;

// SplitMix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number generators", 2014): one
// 64-bit state, fully specified, so the corpus is the same on every platform.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) by rejection (no modulo bias); n > 0.
  size_t Below(size_t n) {
    const uint64_t bound = static_cast<uint64_t>(n);
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x;
    do {
      x = Next();
    } while (x >= limit);
    return static_cast<size_t>(x % bound);
  }

 private:
  uint64_t state_;
};

uint64_t Fnv1a(const std::vector<std::string>& words) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) h = (h ^ static_cast<uint8_t>(' ')) * 0x100000001b3ull;
    for (char c : words[i]) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  }
  return h;
}

// One sentence. The draws, in this order: language, time frame, adverbial, pronoun, verb,
// tense (future frames: "will"/futuro or "going to"/"ir a"), complement (none with probability
// 1/4, else uniform), punctuation (English: "!" with probability 1/8).
std::vector<std::string> DrawSentence(SplitMix64& rng) {
  const vg::Language lang = vg::kLanguages[rng.Below(vg::kLanguages.size())];
  const vg::TimeFrame frame = vg::kTimeFrames[rng.Below(vg::kTimeFrames.size())];
  std::vector<const vg::Adverbial*> advs;
  for (const vg::Adverbial& a : vg::Adverbials(lang)) {
    if (a.frame == frame) advs.push_back(&a);
  }
  const vg::Adverbial& adv = *advs[rng.Below(advs.size())];
  const vg::Pronoun& pron = vg::Pronouns(lang)[rng.Below(vg::Pronouns(lang).size())];
  const size_t verb = rng.Below(vg::NumVerbs(lang));
  const std::vector<vg::Tense> tenses = vg::TensesFor(frame);
  const vg::Tense tense = tenses[rng.Below(tenses.size())];
  std::vector<std::string> words = adv.words;
  words.push_back(pron.word);
  for (std::string& w : vg::VerbPhrase(lang, verb, tense, pron.person)) words.push_back(std::move(w));
  const auto complements = vg::Complements(lang, verb);
  if (rng.Below(4) != 0) {
    for (const std::string& w : complements[rng.Below(complements.size())]) words.push_back(w);
  }
  const auto& punct = vg::Punctuation(lang);
  words.push_back(punct.size() > 1 && rng.Below(8) == 0 ? punct[1] : punct[0]);
  return words;
}

Status CheckCount(int64_t n, const char* name) {
  if (n < 0 || n > kMaxCorpusSentences) {
    return Status::InvalidArgument(std::string("VerbCorpusOptions.") + name + ": " +
                                   std::to_string(n) + " is outside [0, " +
                                   std::to_string(kMaxCorpusSentences) + "]");
  }
  return Status::Ok();
}

Status WriteFile(const std::string& path, const std::string& text, const char* what) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::IoError(std::string(what) + ": cannot create '" + path + "'");
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) return Status::IoError(std::string(what) + ": cannot write '" + path + "'");
  return Status::Ok();
}

// The vocabulary must survive the tokenizer file: non-empty words without white space (the
// pre-tokenizer would split them), each once, special ids inside it.
Status CheckVocab(const VerbCorpus& c, const char* what) {
  std::unordered_map<std::string, size_t> seen;
  for (size_t i = 0; i < c.vocab.size(); ++i) {
    const std::string& w = c.vocab[i];
    if (w.empty() || w.find_first_of(" \t\n\r\v\f") != std::string::npos) {
      return Status::InvalidArgument(std::string(what) + ": vocabulary entry " + std::to_string(i) +
                                     " '" + w + "' is empty or contains white space");
    }
    if (auto [it, fresh] = seen.emplace(w, i); !fresh) {
      return Status::InvalidArgument(std::string(what) + ": vocabulary entries " +
                                     std::to_string(it->second) + " and " + std::to_string(i) +
                                     " are both '" + w + "'");
    }
  }
  for (auto [sid, name] : {std::pair{c.pad_id, "pad_id"}, {c.unk_id, "unk_id"},
                           {c.bos_id, "bos_id"}, {c.eos_id, "eos_id"}}) {
    if (sid < 0 || static_cast<size_t>(sid) >= c.vocab.size()) {
      return Status::InvalidArgument(std::string(what) + ": " + name + " " + std::to_string(sid) +
                                     " is outside the vocabulary (size " +
                                     std::to_string(c.vocab.size()) + ")");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<VerbCorpus> GenerateVerbCorpus(const VerbCorpusOptions& options) {
  DETINFER_RETURN_IF_ERROR(CheckCount(options.train_sentences, "train_sentences"));
  DETINFER_RETURN_IF_ERROR(CheckCount(options.heldout_sentences, "heldout_sentences"));
  VerbCorpus c;
  c.vocab = {"<pad>", "<unk>", "<s>", "</s>"};
  for (std::string& w : vg::AllWords()) c.vocab.push_back(std::move(w));
  std::unordered_map<std::string, int32_t> id;
  for (size_t i = 0; i < c.vocab.size(); ++i) id.emplace(c.vocab[i], static_cast<int32_t>(i));
  const auto want_train = static_cast<size_t>(options.train_sentences);
  const auto want_heldout = static_cast<size_t>(options.heldout_sentences);
  c.train.reserve(want_train);
  c.heldout.reserve(want_heldout);
  SplitMix64 rng(options.seed);
  // Draw until both splits are full; a sentence for a split that is already full is dropped.
  while (c.train.size() < want_train || c.heldout.size() < want_heldout) {
    const std::vector<std::string> words = DrawSentence(rng);
    auto& split = Fnv1a(words) % kHeldOutModulus == 0 ? c.heldout : c.train;
    if (split.size() >= (&split == &c.train ? want_train : want_heldout)) continue;
    std::vector<int32_t> ids;
    ids.reserve(words.size() + 2);
    ids.push_back(c.bos_id);
    for (const std::string& w : words) ids.push_back(id.at(w));  // AllWords covers the grammar
    ids.push_back(c.eos_id);
    split.push_back(std::move(ids));
  }
  return c;
}

Result<std::string> VerbCorpusText(const VerbCorpus& corpus, const std::vector<int32_t>& ids) {
  std::string text;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || static_cast<size_t>(ids[i]) >= corpus.vocab.size()) {
      return Status::OutOfRange("token id " + std::to_string(ids[i]) +
                                " is outside the verb-corpus vocabulary (size " +
                                std::to_string(corpus.vocab.size()) + ")");
    }
    if (i > 0) text += ' ';
    text += corpus.vocab[static_cast<size_t>(ids[i])];
  }
  return text;
}

Status WriteWordLevelTokenizer(const VerbCorpus& corpus, const std::string& path) {
  DETINFER_RETURN_IF_ERROR(CheckVocab(corpus, "WriteWordLevelTokenizer"));
  using nlohmann::ordered_json;
  ordered_json added = ordered_json::array();
  for (int32_t sid : {corpus.pad_id, corpus.unk_id, corpus.bos_id, corpus.eos_id}) {
    added.push_back({{"id", sid},
                     {"content", corpus.vocab.at(static_cast<size_t>(sid))},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  ordered_json vocab = ordered_json::object();
  for (size_t i = 0; i < corpus.vocab.size(); ++i) vocab[corpus.vocab[i]] = static_cast<int32_t>(i);
  const std::string bos = corpus.vocab.at(static_cast<size_t>(corpus.bos_id));
  ordered_json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added;
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  j["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", ordered_json::array({{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}},
                                      {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
      {"pair", ordered_json::array({{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}},
                                    {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                    {{"SpecialToken", {{"id", bos}, {"type_id", 1}}}},
                                    {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}})},
      {"special_tokens",
       {{bos, {{"id", bos}, {"ids", ordered_json::array({corpus.bos_id})},
               {"tokens", ordered_json::array({bos})}}}}}};
  j["decoder"] = nullptr;
  j["model"] = {{"type", "WordLevel"},
                {"vocab", vocab},
                {"unk_token", corpus.vocab.at(static_cast<size_t>(corpus.unk_id))}};
  return WriteFile(path, j.dump(2) + "\n", "WriteWordLevelTokenizer");
}

Status WriteWordLevelTokenizerConfig(const VerbCorpus& corpus, const std::string& path) {
  DETINFER_RETURN_IF_ERROR(CheckVocab(corpus, "WriteWordLevelTokenizerConfig"));
  auto name = [&](int32_t i) { return corpus.vocab.at(static_cast<size_t>(i)); };
  nlohmann::ordered_json j;
  j["tokenizer_class"] = "PreTrainedTokenizerFast";
  j["bos_token"] = name(corpus.bos_id);
  j["eos_token"] = name(corpus.eos_id);
  j["unk_token"] = name(corpus.unk_id);
  j["pad_token"] = name(corpus.pad_id);
  j["add_bos_token"] = true;
  j["clean_up_tokenization_spaces"] = false;
  return WriteFile(path, j.dump(2) + "\n", "WriteWordLevelTokenizerConfig");
}

}  // namespace detinfer
