// The verb grammar behind the default model's corpus (docs/corpus.md): English and Spanish
// sentences "<time adverbial> <pronoun> <verb phrase> [complement] <punctuation>" whose verb
// phrase agrees with the adverbial's time frame and the pronoun's person.
//
// The tables here are the single source of truth: the corpus generator (verb_corpus.h) builds
// sentences from them and the tense checker (tense_eval.h) parses continuations with them.
// All tables are immutable (function-local constants).
#ifndef DETINFER_CORPUS_GRAMMAR_H_
#define DETINFER_CORPUS_GRAMMAR_H_

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace detinfer::verb_grammar {

enum class Language : uint8_t { kEnglish, kSpanish };
inline constexpr std::array<Language, 2> kLanguages = {Language::kEnglish, Language::kSpanish};
std::string_view LanguageName(Language l);  // "en", "es"

// What the adverbial says about time. The convention of this grammar (there are others in real
// language): past -> simple past / pretérito; habitual ("every day") -> simple present; now
// ("now", "today") -> present progressive; future -> "will" / futuro or "going to" / "ir a".
enum class TimeFrame : uint8_t { kPast, kHabitual, kNow, kFuture };
inline constexpr std::array<TimeFrame, 4> kTimeFrames = {TimeFrame::kPast, TimeFrame::kHabitual,
                                                         TimeFrame::kNow, TimeFrame::kFuture};
std::string_view TimeFrameName(TimeFrame f);  // "past", "habitual", "now", "future"

// kFuture: "will work" / "trabajaré"; kGoingTo: "am going to work" / "voy a trabajar".
enum class Tense : uint8_t { kPast, kPresent, kProgressive, kFuture, kGoingTo };
std::string_view TenseName(Tense t);
bool TenseFitsFrame(Tense t, TimeFrame f);

enum class Person : uint8_t { k1Sg, k2Sg, k3Sg, k1Pl, k2Pl, k3Pl };
inline constexpr int kNumPersons = 6;
std::string_view PersonName(Person p);  // "1sg", ...
using PersonSet = uint8_t;              // bit i: Person(i)
inline constexpr PersonSet Only(Person p) { return static_cast<PersonSet>(1u << static_cast<int>(p)); }
inline constexpr PersonSet kAllPersons = 0x3F;

struct Adverbial {
  std::vector<std::string> words;  // first word capitalised: adverbials start the sentence
  TimeFrame frame;
};
struct Pronoun {
  std::string word;
  Person person;
};

// English: base ("work"), third person singular present ("works"), past ("worked"), -ing.
struct EnglishVerb {
  std::string base, third, past, ing;
  std::vector<std::string> complements;  // words separated by single spaces
};
// Spanish, persons in Person order (yo, tú, él/ella, nosotros, vosotros, ellos/ellas).
struct SpanishVerb {
  std::string infinitive, gerund;
  std::array<std::string, kNumPersons> present, preterite, future;
  std::vector<std::string> complements;
};

const std::vector<Adverbial>& Adverbials(Language l);
const std::vector<Pronoun>& Pronouns(Language l);
const std::vector<EnglishVerb>& EnglishVerbs();
const std::vector<SpanishVerb>& SpanishVerbs();
size_t NumVerbs(Language l);
// The verb's complements, each split into words.
std::vector<std::vector<std::string>> Complements(Language l, size_t verb);
// End-of-sentence punctuation a language uses ("." and "!" for English, "." for Spanish: a
// Spanish exclamation would also need "¡" before the adverbial).
const std::vector<std::string>& Punctuation(Language l);

// The verb phrase of `verb` in `tense` for `person` ("am going to work", "voy a trabajar").
std::vector<std::string> VerbPhrase(Language l, size_t verb, Tense tense, Person person);
// The tenses a sentence in `frame` may use, in a fixed order.
std::vector<Tense> TensesFor(TimeFrame frame);

// Every word the grammar can produce, each once, in a fixed order (adverbials, pronouns, verb
// forms and auxiliaries, complements, punctuation; English then Spanish).
std::vector<std::string> AllWords();

// One reading of a verb phrase: its tense, the persons it agrees with, and the verb.
struct VerbReading {
  Tense tense;
  PersonSet persons;
  size_t verb;
};
struct VerbPhraseMatch {
  bool found = false;         // a verb phrase starts at `begin`
  size_t begin = 0, end = 0;  // words [begin, end) (when found)
  std::vector<VerbReading> readings;  // several when a form is ambiguous ("trabajamos")
  std::string problem;        // why the first verb-like word is not a verb phrase, if so
};
// Finds the first word that is a verb form or auxiliary and parses the verb phrase starting
// there: "will" + base; am/is/are + "going to" + base; am/is/are + -ing; a finite form;
// Spanish estar + gerund; ir + "a" + infinitive; a finite form. Not found: no such word.
VerbPhraseMatch FindFirstVerbPhrase(Language l, std::span<const std::string> words);

// A whole sentence parsed back: adverbial, pronoun, verb phrase agreeing with both (tense with
// the adverbial's frame, person with the pronoun), optional complement of that verb,
// punctuation, nothing after. These are exactly the sentences the corpus generator makes.
struct ParsedSentence {
  Language language;
  TimeFrame frame;
  Person person;
  std::vector<VerbReading> readings;  // of the verb phrase: those that fit complement and agree
};
// Empty `error` and a filled `parsed` when `words` is a sentence of the grammar.
struct SentenceParse {
  ParsedSentence parsed{};
  std::string error;
};
SentenceParse ParseSentence(std::span<const std::string> words);

}  // namespace detinfer::verb_grammar

#endif  // DETINFER_CORPUS_GRAMMAR_H_
