// EvaluateTenseAgreement with fake greedy callbacks whose right and wrong continuations are
// written by hand, so the expected counts follow from the continuations, not from the checker.
#include "corpus/tense_eval.h"

#include <gtest/gtest.h>

#include <map>

namespace detinfer {
namespace {

namespace vg = verb_grammar;

VerbCorpus Corpus() {
  VerbCorpusOptions o;
  o.train_sentences = 1;
  o.heldout_sentences = 1;
  auto c = GenerateVerbCorpus(o);
  EXPECT_TRUE(c.ok());
  return c.ok() ? std::move(c).value() : VerbCorpus{};
}

std::vector<int32_t> Ids(const VerbCorpus& c, const std::string& text) {
  std::vector<int32_t> ids;
  std::string w;
  for (char ch : text + " ") {
    if (ch != ' ') {
      w += ch;
      continue;
    }
    if (w.empty()) continue;
    auto it = std::find(c.vocab.begin(), c.vocab.end(), w);
    EXPECT_NE(it, c.vocab.end()) << w;
    ids.push_back(static_cast<int32_t>(it - c.vocab.begin()));
    w.clear();
  }
  return ids;
}

// Hand-written continuations per (language, frame, pronoun): right ones agree in tense and
// person and form full sentences.
std::string RightContinuation(const TensePrompt& p) {
  static const std::map<std::string, std::string> kEn = {
      {"I", "am"}, {"you", "are"}, {"he", "is"}, {"she", "is"}, {"we", "are"}, {"they", "are"}};
  static const std::map<std::string, std::string> kEs = {
      {"yo", "0"}, {"tú", "1"}, {"él", "2"}, {"ella", "2"},
      {"nosotros", "3"}, {"vosotros", "4"}, {"ellos", "5"}, {"ellas", "5"}};
  const std::string& pron = p.words.back();
  if (p.language == vg::Language::kEnglish) {
    const bool third = pron == "he" || pron == "she";
    switch (p.frame) {
      case vg::TimeFrame::kPast: return "played chess .";
      case vg::TimeFrame::kHabitual: return third ? "plays chess ." : "play chess .";
      case vg::TimeFrame::kNow: return kEn.at(pron) + " playing chess !";
      case vg::TimeFrame::kFuture: return "will play chess .";
    }
  }
  static const char* kPast[] = {"comí", "comiste", "comió", "comimos", "comisteis", "comieron"};
  static const char* kPres[] = {"como", "comes", "come", "comemos", "coméis", "comen"};
  static const char* kProg[] = {"estoy", "estás", "está", "estamos", "estáis", "están"};
  static const char* kIr[] = {"voy", "vas", "va", "vamos", "vais", "van"};
  const size_t i = static_cast<size_t>(std::stoi(kEs.at(pron)));
  switch (p.frame) {
    case vg::TimeFrame::kPast: return std::string(kPast[i]) + " pan .";
    case vg::TimeFrame::kHabitual: return std::string(kPres[i]) + " pan .";
    case vg::TimeFrame::kNow: return std::string(kProg[i]) + " comiendo pan .";
    case vg::TimeFrame::kFuture: return std::string(kIr[i]) + " a comer pan .";
  }
  return "";
}

TEST(TenseEval, PromptSetCoversBothLanguagesAndAllFrames) {
  const std::vector<TensePrompt> prompts = TenseEvalPrompts();
  EXPECT_EQ(prompts.size(), 19u * 6u + 19u * 8u);
  std::map<std::pair<int, int>, int> count;
  for (const TensePrompt& p : prompts) ++count[{static_cast<int>(p.language), static_cast<int>(p.frame)}];
  EXPECT_EQ(count.size(), 8u);
  for (const auto& [k, n] : count) EXPECT_GE(n, 5);
  EXPECT_EQ(prompts.front().words, (std::vector<std::string>{"Yesterday", "I"}));
}

TEST(TenseEval, AllRightContinuationsAgree) {
  const VerbCorpus c = Corpus();
  const std::vector<TensePrompt> prompts = TenseEvalPrompts();
  size_t call = 0;
  auto greedy = [&](const std::vector<int32_t>& ids) -> Result<std::vector<int32_t>> {
    const TensePrompt& p = prompts.at(call++);
    std::vector<int32_t> want = {c.bos_id};
    for (int32_t id : Ids(c, [&] {
           std::string s;
           for (const std::string& w : p.words) s += w + " ";
           return s;
         }())) {
      want.push_back(id);
    }
    EXPECT_EQ(ids, want);  // BOS + the prompt's words
    std::vector<int32_t> cont = Ids(c, RightContinuation(p));
    cont.push_back(c.eos_id);
    cont.push_back(Ids(c, "went")[0]);  // after EOS: ignored
    return cont;
  };
  auto r = EvaluateTenseAgreement(c, greedy);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->prompts, 266);
  EXPECT_EQ(r->agreed, 266);
  EXPECT_EQ(r->person_agreed, 266);
  EXPECT_EQ(r->grammatical, 266);
  EXPECT_DOUBLE_EQ(r->accuracy, 1.0);
  EXPECT_TRUE(r->failures.empty()) << r->failures.front();
  ASSERT_EQ(r->by_frame.size(), 8u);
  EXPECT_EQ(r->by_frame[0].name, "en/past");
  EXPECT_EQ(r->by_frame[0].prompts, 5 * 6);
  EXPECT_EQ(r->by_language[1].name, "es");
  EXPECT_EQ(r->by_language[1].agreed, 19 * 8);
}

TEST(TenseEval, WrongTenseWrongPersonAndNoVerbAreCountedApart) {
  const VerbCorpus c = Corpus();
  const std::vector<TensePrompt> prompts = TenseEvalPrompts();
  size_t call = 0;
  // English: every prompt answered "worked hard ." (right only for the 5 past adverbials x 6
  // pronouns = 30). Spanish: "trabajó mucho ." -- preterite 3sg: tense right for the 5 past
  // adverbials x 8 pronouns = 40, person right only for él/ella = 10 of those. Spanish future
  // prompts get "en casa ." (no verb) instead.
  auto greedy = [&](const std::vector<int32_t>&) -> Result<std::vector<int32_t>> {
    const TensePrompt& p = prompts.at(call++);
    if (p.language == vg::Language::kEnglish) return Ids(c, "worked hard .");
    if (p.frame == vg::TimeFrame::kFuture) return Ids(c, "en casa .");
    return Ids(c, "trabajó mucho .");
  };
  auto r = EvaluateTenseAgreement(c, greedy);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->agreed, 30 + 40);
  EXPECT_EQ(r->person_agreed, 30 + 10);
  EXPECT_EQ(r->grammatical, 30 + 10);
  EXPECT_DOUBLE_EQ(r->accuracy, 70.0 / 266.0);
  EXPECT_EQ(r->failures.size(), 266u - 70u);
  const auto has = [&](const std::string& text) {
    return std::any_of(r->failures.begin(), r->failures.end(),
                       [&](const std::string& f) { return f.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(has("en/future: 'Tomorrow I' -> 'worked hard .': the verb is past; future wants "
                  "future going-to future"));
  EXPECT_TRUE(has("es/future: 'Mañana yo' -> 'en casa .': no verb form"));
  for (const TenseEvalGroup& g : r->by_frame) {
    const bool past = g.name.ends_with("/past");
    EXPECT_EQ(g.agreed, past ? g.prompts : 0) << g.name;
  }
  const std::string json = TenseEvalJson(*r);
  EXPECT_NE(json.find("\"agreed\": 70,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"es/past\": {\n      \"prompts\": 40,\n      \"agreed\": 40"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("Ma\u00f1ana yo' -> 'en casa .': no verb form"), std::string::npos) << json;
}

TEST(TenseEval, BadIdsFailThePromptAndGreedyErrorsPropagate) {
  const VerbCorpus c = Corpus();
  auto bad = [&](const std::vector<int32_t>&) -> Result<std::vector<int32_t>> {
    return std::vector<int32_t>{99999};
  };
  auto r = EvaluateTenseAgreement(c, bad);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->agreed, 0);
  EXPECT_NE(r->failures.at(0).find("token id 99999 is outside the vocabulary"), std::string::npos);
  auto err = [&](const std::vector<int32_t>&) -> Result<std::vector<int32_t>> {
    return Status::Internal("engine broke");
  };
  auto e = EvaluateTenseAgreement(c, err);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(), "engine broke");
}

}  // namespace
}  // namespace detinfer
