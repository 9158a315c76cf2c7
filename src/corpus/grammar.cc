#include "corpus/grammar.h"

#include <algorithm>
#include <unordered_map>

namespace detinfer::verb_grammar {
namespace internal {
const std::vector<Adverbial>& EnglishAdverbials();
const std::vector<Pronoun>& EnglishPronouns();
const std::vector<Adverbial>& SpanishAdverbials();
const std::vector<Pronoun>& SpanishPronouns();
}  // namespace internal

namespace {

const std::array<std::string, kNumPersons> kEnglishBe = {"am", "are", "is", "are", "are", "are"};
const std::array<std::string, kNumPersons> kSpanishEstar = {"estoy",   "estás",  "está",
                                                            "estamos", "estáis", "están"};

std::vector<std::string> SplitWords(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t sp = s.find(' ', start);
    const size_t end = sp == std::string::npos ? s.size() : sp;
    if (end > start) out.push_back(s.substr(start, end - start));
    if (sp == std::string::npos) break;
    start = sp + 1;
  }
  return out;
}

// What a word can be inside a verb phrase.
struct WordInfo {
  std::vector<VerbReading> finite;  // readings as a complete finite verb
  std::vector<size_t> base_of;      // English base form / Spanish infinitive of these verbs
  std::vector<size_t> ing_of;       // English -ing / Spanish gerund of these verbs
  PersonSet be = 0;                 // am/is/are, estar: persons
  PersonSet go_aux = 0;             // Spanish ir present ("voy a" + infinitive): persons
  bool will = false;
  bool IsVerbal() const {
    return !finite.empty() || !base_of.empty() || !ing_of.empty() || be != 0 || will;
  }
};

using Lexicon = std::unordered_map<std::string, WordInfo>;

Lexicon BuildEnglishLexicon() {
  Lexicon lex;
  const PersonSet non_third = kAllPersons & static_cast<PersonSet>(~Only(Person::k3Sg));
  const auto& verbs = EnglishVerbs();
  for (size_t v = 0; v < verbs.size(); ++v) {
    lex[verbs[v].base].finite.push_back({Tense::kPresent, non_third, v});
    lex[verbs[v].base].base_of.push_back(v);
    lex[verbs[v].third].finite.push_back({Tense::kPresent, Only(Person::k3Sg), v});
    lex[verbs[v].past].finite.push_back({Tense::kPast, kAllPersons, v});
    lex[verbs[v].ing].ing_of.push_back(v);
  }
  for (int p = 0; p < kNumPersons; ++p) {
    lex[kEnglishBe[static_cast<size_t>(p)]].be |= Only(static_cast<Person>(p));
  }
  lex["will"].will = true;
  return lex;
}

Lexicon BuildSpanishLexicon() {
  Lexicon lex;
  const auto& verbs = SpanishVerbs();
  for (size_t v = 0; v < verbs.size(); ++v) {
    const SpanishVerb& sv = verbs[v];
    for (int p = 0; p < kNumPersons; ++p) {
      const size_t i = static_cast<size_t>(p);
      const PersonSet ps = Only(static_cast<Person>(p));
      lex[sv.present[i]].finite.push_back({Tense::kPresent, ps, v});
      lex[sv.preterite[i]].finite.push_back({Tense::kPast, ps, v});
      lex[sv.future[i]].finite.push_back({Tense::kFuture, ps, v});
      if (sv.infinitive == "ir") lex[sv.present[i]].go_aux |= ps;
    }
    lex[sv.infinitive].base_of.push_back(v);
    lex[sv.gerund].ing_of.push_back(v);
  }
  for (int p = 0; p < kNumPersons; ++p) {
    lex[kSpanishEstar[static_cast<size_t>(p)]].be |= Only(static_cast<Person>(p));
  }
  return lex;
}

const Lexicon& LexiconFor(Language l) {
  static const Lexicon kEnglish = BuildEnglishLexicon();
  static const Lexicon kSpanish = BuildSpanishLexicon();
  return l == Language::kEnglish ? kEnglish : kSpanish;
}

const WordInfo* Find(const Lexicon& lex, std::span<const std::string> words, size_t i) {
  if (i >= words.size()) return nullptr;
  auto it = lex.find(words[i]);
  return it == lex.end() ? nullptr : &it->second;
}

// Readings of an auxiliary + non-finite form: one per verb the form belongs to.
std::vector<VerbReading> WithVerbs(Tense t, PersonSet persons, const std::vector<size_t>& verbs) {
  std::vector<VerbReading> out;
  for (size_t v : verbs) out.push_back({t, persons, v});
  return out;
}

void AppendWords(std::vector<std::string>* out, std::initializer_list<std::string> words) {
  for (const std::string& w : words) out->push_back(w);
}

}  // namespace

std::string_view LanguageName(Language l) { return l == Language::kEnglish ? "en" : "es"; }

std::string_view TimeFrameName(TimeFrame f) {
  switch (f) {
    case TimeFrame::kPast: return "past";
    case TimeFrame::kHabitual: return "habitual";
    case TimeFrame::kNow: return "now";
    case TimeFrame::kFuture: return "future";
  }
  return "?";
}

std::string_view TenseName(Tense t) {
  switch (t) {
    case Tense::kPast: return "past";
    case Tense::kPresent: return "present";
    case Tense::kProgressive: return "present progressive";
    case Tense::kFuture: return "future";
    case Tense::kGoingTo: return "going-to future";
  }
  return "?";
}

std::string_view PersonName(Person p) {
  static constexpr std::array<std::string_view, kNumPersons> kNames = {"1sg", "2sg", "3sg",
                                                                      "1pl", "2pl", "3pl"};
  return kNames[static_cast<size_t>(p)];
}

std::vector<Tense> TensesFor(TimeFrame frame) {
  switch (frame) {
    case TimeFrame::kPast: return {Tense::kPast};
    case TimeFrame::kHabitual: return {Tense::kPresent};
    case TimeFrame::kNow: return {Tense::kProgressive};
    case TimeFrame::kFuture: return {Tense::kFuture, Tense::kGoingTo};
  }
  return {};
}

bool TenseFitsFrame(Tense t, TimeFrame f) {
  const std::vector<Tense> ok = TensesFor(f);
  return std::find(ok.begin(), ok.end(), t) != ok.end();
}

const std::vector<Adverbial>& Adverbials(Language l) {
  return l == Language::kEnglish ? internal::EnglishAdverbials() : internal::SpanishAdverbials();
}

const std::vector<Pronoun>& Pronouns(Language l) {
  return l == Language::kEnglish ? internal::EnglishPronouns() : internal::SpanishPronouns();
}

size_t NumVerbs(Language l) {
  return l == Language::kEnglish ? EnglishVerbs().size() : SpanishVerbs().size();
}

std::vector<std::vector<std::string>> Complements(Language l, size_t verb) {
  const std::vector<std::string>& c = l == Language::kEnglish ? EnglishVerbs()[verb].complements
                                                              : SpanishVerbs()[verb].complements;
  std::vector<std::vector<std::string>> out;
  for (const std::string& s : c) out.push_back(SplitWords(s));
  return out;
}

const std::vector<std::string>& Punctuation(Language l) {
  static const std::vector<std::string> kEnglish = {".", "!"};
  static const std::vector<std::string> kSpanish = {"."};
  return l == Language::kEnglish ? kEnglish : kSpanish;
}

std::vector<std::string> VerbPhrase(Language l, size_t verb, Tense tense, Person person) {
  const size_t p = static_cast<size_t>(person);
  std::vector<std::string> out;
  if (l == Language::kEnglish) {
    const EnglishVerb& v = EnglishVerbs()[verb];
    switch (tense) {
      case Tense::kPast: AppendWords(&out, {v.past}); break;
      case Tense::kPresent: AppendWords(&out, {person == Person::k3Sg ? v.third : v.base}); break;
      case Tense::kProgressive: AppendWords(&out, {kEnglishBe[p], v.ing}); break;
      case Tense::kFuture: AppendWords(&out, {"will", v.base}); break;
      case Tense::kGoingTo: AppendWords(&out, {kEnglishBe[p], "going", "to", v.base}); break;
    }
    return out;
  }
  const SpanishVerb& v = SpanishVerbs()[verb];
  switch (tense) {
    case Tense::kPast: AppendWords(&out, {v.preterite[p]}); break;
    case Tense::kPresent: AppendWords(&out, {v.present[p]}); break;
    case Tense::kProgressive: AppendWords(&out, {kSpanishEstar[p], v.gerund}); break;
    case Tense::kFuture: AppendWords(&out, {v.future[p]}); break;
    case Tense::kGoingTo: {
      // "ir a" + infinitive: the present of ir, whose forms are the first Spanish verb named ir.
      for (const SpanishVerb& ir : SpanishVerbs()) {
        if (ir.infinitive == "ir") AppendWords(&out, {ir.present[p], "a", v.infinitive});
      }
      break;
    }
  }
  return out;
}

std::vector<std::string> AllWords() {
  std::vector<std::string> out;
  std::unordered_map<std::string, bool> seen;
  auto add = [&](const std::string& w) {
    if (seen.emplace(w, true).second) out.push_back(w);
  };
  for (Language l : kLanguages) {
    for (const Adverbial& a : Adverbials(l)) {
      for (const std::string& w : a.words) add(w);
    }
    for (const Pronoun& p : Pronouns(l)) add(p.word);
    for (size_t v = 0; v < NumVerbs(l); ++v) {
      for (Tense t : {Tense::kPast, Tense::kPresent, Tense::kProgressive, Tense::kFuture,
                      Tense::kGoingTo}) {
        for (int p = 0; p < kNumPersons; ++p) {
          for (const std::string& w : VerbPhrase(l, v, t, static_cast<Person>(p))) add(w);
        }
      }
    }
    for (size_t v = 0; v < NumVerbs(l); ++v) {
      for (const auto& c : Complements(l, v)) {
        for (const std::string& w : c) add(w);
      }
    }
    for (const std::string& w : Punctuation(l)) add(w);
  }
  return out;
}

VerbPhraseMatch FindFirstVerbPhrase(Language l, std::span<const std::string> words) {
  const Lexicon& lex = LexiconFor(l);
  VerbPhraseMatch m;
  size_t i = 0;
  const WordInfo* info = nullptr;
  for (; i < words.size(); ++i) {
    info = Find(lex, words, i);
    if (info != nullptr && info->IsVerbal()) break;
  }
  if (i == words.size()) {
    m.problem = "no verb form";
    return m;
  }
  m.begin = i;
  auto done = [&](size_t end, std::vector<VerbReading> readings) {
    m.found = true;
    m.end = end;
    m.readings = std::move(readings);
    return m;
  };
  const WordInfo* next = Find(lex, words, i + 1);
  if (l == Language::kEnglish) {
    if (info->will) {
      if (next != nullptr && !next->base_of.empty()) {
        return done(i + 2, WithVerbs(Tense::kFuture, kAllPersons, next->base_of));
      }
      m.problem = "'will' is not followed by a base form";
      return m;
    }
    if (info->be != 0) {
      // "going to" + base is the future; "going to the beach" is the progressive of "go".
      if (i + 3 < words.size() && words[i + 1] == "going" && words[i + 2] == "to") {
        const WordInfo* base = Find(lex, words, i + 3);
        if (base != nullptr && !base->base_of.empty()) {
          return done(i + 4, WithVerbs(Tense::kGoingTo, info->be, base->base_of));
        }
      }
      if (next != nullptr && !next->ing_of.empty()) {
        return done(i + 2, WithVerbs(Tense::kProgressive, info->be, next->ing_of));
      }
      m.problem = "'" + words[i] + "' is not followed by an -ing form or 'going to' + base";
      return m;
    }
  } else {
    if (info->be != 0) {
      if (next != nullptr && !next->ing_of.empty()) {
        return done(i + 2, WithVerbs(Tense::kProgressive, info->be, next->ing_of));
      }
      m.problem = "'" + words[i] + "' is not followed by a gerund";
      return m;
    }
    if (info->go_aux != 0 && i + 2 < words.size() && words[i + 1] == "a") {
      const WordInfo* inf = Find(lex, words, i + 2);
      if (inf != nullptr && !inf->base_of.empty()) {
        return done(i + 3, WithVerbs(Tense::kGoingTo, info->go_aux, inf->base_of));
      }
    }
  }
  if (!info->finite.empty()) return done(i + 1, info->finite);
  m.problem = "'" + words[i] + "' is not a finite verb form";
  return m;
}

SentenceParse ParseSentence(std::span<const std::string> words) {
  SentenceParse out;
  auto fail = [&](std::string why) {
    out.error = std::move(why);
    return out;
  };
  // The longest adverbial of either language that starts the sentence ("Ahora mismo", not
  // "Ahora"), then a pronoun of that language.
  size_t adv_len = 0;
  const Adverbial* adverbial = nullptr;
  Language lang = Language::kEnglish;
  for (Language l : kLanguages) {
    for (const Adverbial& a : Adverbials(l)) {
      if (a.words.size() > adv_len && a.words.size() <= words.size() &&
          std::equal(a.words.begin(), a.words.end(), words.begin())) {
        adv_len = a.words.size();
        adverbial = &a;
        lang = l;
      }
    }
  }
  if (adverbial == nullptr) return fail("does not start with a time adverbial");
  if (adv_len >= words.size()) return fail("ends after the adverbial");
  const Pronoun* pronoun = nullptr;
  for (const Pronoun& p : Pronouns(lang)) {
    if (p.word == words[adv_len]) pronoun = &p;
  }
  if (pronoun == nullptr) return fail("'" + words[adv_len] + "' is not a pronoun");
  const std::span<const std::string> rest = words.subspan(adv_len + 1);
  const VerbPhraseMatch vp = FindFirstVerbPhrase(lang, rest);
  if (!vp.found) return fail("no verb phrase: " + vp.problem);
  if (vp.begin != 0) return fail("'" + rest[0] + "' stands between the pronoun and the verb");
  if (vp.end >= rest.size()) return fail("no final punctuation");
  const std::string& last = rest.back();
  const auto& punct = Punctuation(lang);
  if (std::find(punct.begin(), punct.end(), last) == punct.end()) {
    return fail("'" + last + "' is not final punctuation");
  }
  const std::span<const std::string> complement = rest.subspan(vp.end, rest.size() - 1 - vp.end);
  for (const VerbReading& r : vp.readings) {
    bool fits = complement.empty();
    for (const auto& c : Complements(lang, r.verb)) {
      fits = fits || std::equal(c.begin(), c.end(), complement.begin(), complement.end());
    }
    if (fits) out.parsed.readings.push_back(r);
  }
  if (out.parsed.readings.empty()) return fail("the words after the verb are not its complement");
  std::erase_if(out.parsed.readings, [&](const VerbReading& r) {
    return !TenseFitsFrame(r.tense, adverbial->frame) || (r.persons & Only(pronoun->person)) == 0;
  });
  if (out.parsed.readings.empty()) {
    return fail("the verb phrase does not agree with the adverbial's time frame and the pronoun");
  }
  out.parsed.language = lang;
  out.parsed.frame = adverbial->frame;
  out.parsed.person = pronoun->person;
  return out;
}

}  // namespace detinfer::verb_grammar
