#include "corpus/tense_eval.h"

#include <unordered_map>

#include <nlohmann/json.hpp>

namespace detinfer {
namespace {

namespace vg = verb_grammar;

std::string Join(const std::vector<std::string>& words) {
  std::string s;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) s += ' ';
    s += words[i];
  }
  return s;
}

TenseEvalGroup& GroupNamed(std::vector<TenseEvalGroup>* groups, const std::string& name) {
  for (TenseEvalGroup& g : *groups) {
    if (g.name == name) return g;
  }
  groups->push_back({name, 0, 0});
  return groups->back();
}

}  // namespace

std::vector<TensePrompt> TenseEvalPrompts() {
  std::vector<TensePrompt> out;
  for (vg::Language l : vg::kLanguages) {
    for (const vg::Adverbial& a : vg::Adverbials(l)) {
      for (const vg::Pronoun& p : vg::Pronouns(l)) {
        TensePrompt t{l, a.frame, p.person, a.words};
        t.words.push_back(p.word);
        out.push_back(std::move(t));
      }
    }
  }
  return out;
}

ContinuationCheck CheckContinuation(const VerbCorpus& corpus, const TensePrompt& prompt,
                                    std::span<const int32_t> continuation) {
  ContinuationCheck c;
  std::vector<std::string> words;
  for (int32_t t : continuation) {
    if (t == corpus.eos_id) break;
    if (t < 0 || static_cast<size_t>(t) >= corpus.vocab.size()) {
      c.problem = "token id " + std::to_string(t) + " is outside the vocabulary";
      return c;
    }
    words.push_back(corpus.vocab[static_cast<size_t>(t)]);
  }
  const vg::VerbPhraseMatch vp = vg::FindFirstVerbPhrase(prompt.language, words);
  if (!vp.found) {
    c.problem = vp.problem;
    return c;
  }
  for (const vg::VerbReading& reading : vp.readings) {
    if (!vg::TenseFitsFrame(reading.tense, prompt.frame)) continue;
    c.tense_agrees = true;
    c.person_agrees = c.person_agrees || (reading.persons & vg::Only(prompt.person)) != 0;
  }
  if (!c.tense_agrees) {
    c.problem = "the verb is ";
    c.problem += vg::TenseName(vp.readings.front().tense);
    c.problem += "; ";
    c.problem += vg::TimeFrameName(prompt.frame);
    c.problem += " wants";
    for (vg::Tense t : vg::TensesFor(prompt.frame)) {
      c.problem += ' ';
      c.problem += vg::TenseName(t);
    }
    return c;
  }
  std::vector<std::string> sentence = prompt.words;
  sentence.insert(sentence.end(), words.begin(), words.end());
  c.grammatical = vg::ParseSentence(sentence).error.empty();
  return c;
}

Result<TenseEvalResult> EvaluateTenseAgreement(const VerbCorpus& corpus,
                                               const GreedyContinuation& greedy) {
  std::unordered_map<std::string, int32_t> id;
  for (size_t i = 0; i < corpus.vocab.size(); ++i) id.emplace(corpus.vocab[i], static_cast<int32_t>(i));
  TenseEvalResult r;
  // Groups in a fixed order, so the JSON people compare is stable.
  for (vg::Language l : vg::kLanguages) {
    GroupNamed(&r.by_language, std::string(vg::LanguageName(l)));
    for (vg::TimeFrame f : vg::kTimeFrames) {
      std::string name(vg::LanguageName(l));
      name += '/';
      name += vg::TimeFrameName(f);
      GroupNamed(&r.by_frame, name);
    }
  }
  for (const TensePrompt& prompt : TenseEvalPrompts()) {
    std::vector<int32_t> ids = {corpus.bos_id};
    for (const std::string& w : prompt.words) {
      auto it = id.find(w);
      if (it == id.end()) {
        return Status::InvalidArgument("EvaluateTenseAgreement: prompt word '" + w +
                                       "' is not in the corpus vocabulary");
      }
      ids.push_back(it->second);
    }
    DETINFER_ASSIGN_OR_RETURN(std::vector<int32_t> cont, greedy(ids));
    const std::string prompt_text = Join(prompt.words);
    std::string group_name(vg::LanguageName(prompt.language));
    TenseEvalGroup& lang_group = GroupNamed(&r.by_language, group_name);
    group_name += '/';
    group_name += vg::TimeFrameName(prompt.frame);
    TenseEvalGroup& frame_group = GroupNamed(&r.by_frame, group_name);
    ++r.prompts;
    ++lang_group.prompts;
    ++frame_group.prompts;

    const ContinuationCheck check = CheckContinuation(corpus, prompt, cont);
    if (!check.tense_agrees) {
      std::vector<std::string> words;
      for (int32_t t : cont) {
        if (t == corpus.eos_id || t < 0 || static_cast<size_t>(t) >= corpus.vocab.size()) break;
        words.push_back(corpus.vocab[static_cast<size_t>(t)]);
      }
      std::string line = group_name;
      line += ": '";
      line += prompt_text;
      line += "' -> '";
      line += Join(words);
      line += "': ";
      line += check.problem;
      r.failures.push_back(std::move(line));
      continue;
    }
    ++r.agreed;
    ++lang_group.agreed;
    ++frame_group.agreed;
    if (check.person_agrees) ++r.person_agreed;
    if (check.grammatical) ++r.grammatical;
  }
  r.accuracy = r.prompts > 0 ? static_cast<double>(r.agreed) / static_cast<double>(r.prompts) : 0.0;
  return r;
}

std::string TenseEvalJson(const TenseEvalResult& r) {
  using nlohmann::ordered_json;
  auto groups = [](const std::vector<TenseEvalGroup>& gs) {
    ordered_json j = ordered_json::object();
    for (const TenseEvalGroup& g : gs) j[g.name] = {{"prompts", g.prompts}, {"agreed", g.agreed}};
    return j;
  };
  ordered_json j;
  j["prompts"] = r.prompts;
  j["agreed"] = r.agreed;
  j["accuracy"] = r.accuracy;
  j["person_agreed"] = r.person_agreed;
  j["grammatical"] = r.grammatical;
  j["by_language"] = groups(r.by_language);
  j["by_frame"] = groups(r.by_frame);
  j["failures"] = r.failures;
  return j.dump(2);
}

}  // namespace detinfer
