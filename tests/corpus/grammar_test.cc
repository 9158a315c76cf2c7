// The verb grammar's tables and parser against hand-written conjugations (the oracle here is a
// grammar book, not our own output).
#include "corpus/grammar.h"

#include <gtest/gtest.h>

#include <set>

namespace detinfer::verb_grammar {
namespace {

using L = Language;
using P = Person;
using T = Tense;

size_t VerbIndex(L l, const std::string& lemma) {
  for (size_t v = 0; v < NumVerbs(l); ++v) {
    const std::string& name =
        l == L::kEnglish ? EnglishVerbs()[v].base : SpanishVerbs()[v].infinitive;
    if (name == lemma) return v;
  }
  ADD_FAILURE() << "no verb " << lemma;
  return 0;
}

std::string Phrase(L l, const std::string& lemma, T t, P p) {
  std::string s;
  for (const std::string& w : VerbPhrase(l, VerbIndex(l, lemma), t, p)) {
    if (!s.empty()) s += ' ';
    s += w;
  }
  return s;
}

std::vector<std::string> Words(const std::string& s) {
  std::vector<std::string> out;
  std::string w;
  for (char c : s + " ") {
    if (c == ' ') {
      if (!w.empty()) out.push_back(w);
      w.clear();
    } else {
      w += c;
    }
  }
  return out;
}

TEST(VerbGrammar, EnglishConjugations) {
  EXPECT_EQ(Phrase(L::kEnglish, "work", T::kPast, P::k1Sg), "worked");
  EXPECT_EQ(Phrase(L::kEnglish, "go", T::kPast, P::k3Pl), "went");
  EXPECT_EQ(Phrase(L::kEnglish, "work", T::kPresent, P::k3Sg), "works");
  EXPECT_EQ(Phrase(L::kEnglish, "study", T::kPresent, P::k3Sg), "studies");
  EXPECT_EQ(Phrase(L::kEnglish, "watch", T::kPresent, P::k1Pl), "watch");
  EXPECT_EQ(Phrase(L::kEnglish, "swim", T::kProgressive, P::k1Sg), "am swimming");
  EXPECT_EQ(Phrase(L::kEnglish, "dance", T::kProgressive, P::k3Sg), "is dancing");
  EXPECT_EQ(Phrase(L::kEnglish, "buy", T::kFuture, P::k2Sg), "will buy");
  EXPECT_EQ(Phrase(L::kEnglish, "eat", T::kGoingTo, P::k3Pl), "are going to eat");
}

TEST(VerbGrammar, SpanishConjugations) {
  EXPECT_EQ(Phrase(L::kSpanish, "trabajar", T::kPast, P::k1Sg), "trabajé");
  EXPECT_EQ(Phrase(L::kSpanish, "trabajar", T::kPast, P::k3Sg), "trabajó");
  EXPECT_EQ(Phrase(L::kSpanish, "comer", T::kPast, P::k3Pl), "comieron");
  EXPECT_EQ(Phrase(L::kSpanish, "comer", T::kPresent, P::k2Pl), "coméis");
  EXPECT_EQ(Phrase(L::kSpanish, "escribir", T::kPresent, P::k2Pl), "escribís");
  EXPECT_EQ(Phrase(L::kSpanish, "vivir", T::kPresent, P::k1Pl), "vivimos");
  EXPECT_EQ(Phrase(L::kSpanish, "hablar", T::kFuture, P::k3Sg), "hablará");
  EXPECT_EQ(Phrase(L::kSpanish, "aprender", T::kFuture, P::k2Pl), "aprenderéis");
  EXPECT_EQ(Phrase(L::kSpanish, "hacer", T::kPast, P::k3Sg), "hizo");
  EXPECT_EQ(Phrase(L::kSpanish, "hacer", T::kFuture, P::k1Sg), "haré");
  EXPECT_EQ(Phrase(L::kSpanish, "ir", T::kPast, P::k2Sg), "fuiste");
  EXPECT_EQ(Phrase(L::kSpanish, "jugar", T::kPast, P::k1Sg), "jugué");
  EXPECT_EQ(Phrase(L::kSpanish, "jugar", T::kPresent, P::k3Pl), "juegan");
  EXPECT_EQ(Phrase(L::kSpanish, "dormir", T::kPast, P::k3Pl), "durmieron");
  EXPECT_EQ(Phrase(L::kSpanish, "salir", T::kFuture, P::k1Pl), "saldremos");
  EXPECT_EQ(Phrase(L::kSpanish, "tocar", T::kPast, P::k1Sg), "toqué");
  EXPECT_EQ(Phrase(L::kSpanish, "ver", T::kPast, P::k3Sg), "vio");
  EXPECT_EQ(Phrase(L::kSpanish, "comer", T::kProgressive, P::k1Pl), "estamos comiendo");
  EXPECT_EQ(Phrase(L::kSpanish, "dormir", T::kProgressive, P::k2Sg), "estás durmiendo");
  EXPECT_EQ(Phrase(L::kSpanish, "trabajar", T::kGoingTo, P::k1Pl), "vamos a trabajar");
  EXPECT_EQ(Phrase(L::kSpanish, "ir", T::kGoingTo, P::k3Sg), "va a ir");
}

TEST(VerbGrammar, AFewHundredVerbFormsAndNoDuplicateWords) {
  std::set<std::string> forms;
  for (L l : kLanguages) {
    for (size_t v = 0; v < NumVerbs(l); ++v) {
      for (T t : {T::kPast, T::kPresent, T::kProgressive, T::kFuture, T::kGoingTo}) {
        for (int p = 0; p < kNumPersons; ++p) {
          for (const std::string& w : VerbPhrase(l, v, t, static_cast<P>(p))) forms.insert(w);
        }
      }
    }
  }
  EXPECT_GE(forms.size(), 300u);
  EXPECT_LE(forms.size(), 900u);
  const std::vector<std::string> all = AllWords();
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), all.size());
  for (const std::string& f : forms) EXPECT_EQ(std::count(all.begin(), all.end(), f), 1) << f;
}

VerbPhraseMatch Match(L l, const std::string& s) { return FindFirstVerbPhrase(l, Words(s)); }

TEST(VerbGrammar, FindsTheFirstVerbPhrase) {
  VerbPhraseMatch m = Match(L::kEnglish, "am going to the beach .");
  ASSERT_TRUE(m.found);
  ASSERT_EQ(m.readings.size(), 1u);
  EXPECT_EQ(m.readings[0].tense, T::kProgressive);  // "going" is the -ing of go here
  EXPECT_EQ(m.readings[0].persons, Only(P::k1Sg));
  m = Match(L::kEnglish, "are going to go home .");
  ASSERT_TRUE(m.found);
  EXPECT_EQ(m.readings[0].tense, T::kGoingTo);
  EXPECT_EQ(m.end, 4u);
  m = Match(L::kEnglish, "will play chess");
  ASSERT_TRUE(m.found);
  EXPECT_EQ(m.readings[0].tense, T::kFuture);
  m = Match(L::kEnglish, "the piano works");  // first verb form, after non-verbs
  ASSERT_TRUE(m.found);
  EXPECT_EQ(m.begin, 2u);
  EXPECT_EQ(m.readings[0].persons, Only(P::k3Sg));
  EXPECT_FALSE(Match(L::kEnglish, "working hard .").found);
  EXPECT_FALSE(Match(L::kEnglish, "will the").found);
  EXPECT_FALSE(Match(L::kEnglish, "home .").found);

  m = Match(L::kSpanish, "voy a casa .");
  ASSERT_TRUE(m.found);
  ASSERT_EQ(m.readings.size(), 1u);
  EXPECT_EQ(m.readings[0].tense, T::kPresent);
  m = Match(L::kSpanish, "vamos a comer pan");
  ASSERT_TRUE(m.found);
  EXPECT_EQ(m.readings[0].tense, T::kGoingTo);
  EXPECT_EQ(m.readings[0].persons, Only(P::k1Pl));
  // -ar nosotros: present and preterite are the same word.
  m = Match(L::kSpanish, "trabajamos mucho");
  ASSERT_TRUE(m.found);
  std::set<T> tenses;
  for (const VerbReading& r : m.readings) tenses.insert(r.tense);
  EXPECT_EQ(tenses, (std::set<T>{T::kPresent, T::kPast}));
  EXPECT_FALSE(Match(L::kSpanish, "estoy en casa").found);
}

TEST(VerbGrammar, ParsesWholeSentences) {
  auto ok = [](const std::string& s) { return ParseSentence(Words(s)).error; };
  EXPECT_EQ(ok("Yesterday I worked at home ."), "");
  EXPECT_EQ(ok("Right now they are going to the beach !"), "");
  EXPECT_EQ(ok("Next year she is going to buy a car ."), "");
  EXPECT_EQ(ok("Ahora mismo nosotros estamos comiendo pan ."), "");
  EXPECT_EQ(ok("La semana que viene vosotros iréis a la playa ."), "");
  EXPECT_EQ(ok("Ayer yo trabajé ."), "");
  SentenceParse p = ParseSentence(Words("El año pasado ellas durmieron bien ."));
  EXPECT_EQ(p.error, "");
  EXPECT_EQ(p.parsed.language, L::kSpanish);
  EXPECT_EQ(p.parsed.frame, TimeFrame::kPast);
  EXPECT_EQ(p.parsed.person, P::k3Pl);

  EXPECT_NE(ok("Yesterday I will work ."), "");        // tense
  EXPECT_NE(ok("Every day he work ."), "");            // person
  EXPECT_NE(ok("Ayer yo trabajó ."), "");              // person
  EXPECT_NE(ok("Yesterday I worked a car ."), "");     // not work's complement
  EXPECT_NE(ok("Yesterday I worked at home"), "");     // no punctuation
  EXPECT_NE(ok("Ayer yo trabajé !"), "");              // Spanish uses "." only
  EXPECT_NE(ok("Ayer I worked ."), "");                // language mix
  EXPECT_NE(ok("I worked ."), "");                     // no adverbial
}

}  // namespace
}  // namespace detinfer::verb_grammar
