// English tables of the verb grammar (grammar.h). Every form is written out by hand (no
// spelling rules to get wrong): base, third person singular, past, -ing.
#include "corpus/grammar.h"

namespace detinfer::verb_grammar {

const std::vector<EnglishVerb>& EnglishVerbs() {
  static const std::vector<EnglishVerb> kVerbs = {
      {"work", "works", "worked", "working", {"at home", "in the office", "hard"}},
      {"play", "plays", "played", "playing", {"football", "the piano", "chess"}},
      {"walk", "walks", "walked", "walking", {"in the park", "to school"}},
      {"cook", "cooks", "cooked", "cooking", {"dinner", "pasta"}},
      {"study", "studies", "studied", "studying", {"history", "at the library"}},
      {"watch", "watches", "watched", "watching", {"a film", "television"}},
      {"clean", "cleans", "cleaned", "cleaning", {"the house", "the kitchen"}},
      {"dance", "dances", "danced", "dancing", {"at the party", "salsa"}},
      {"listen", "listens", "listened", "listening", {"to music", "to the radio"}},
      {"visit", "visits", "visited", "visiting", {"the museum", "London"}},
      {"eat", "eats", "ate", "eating", {"an apple", "bread"}},
      {"drink", "drinks", "drank", "drinking", {"water", "coffee"}},
      // No complement of "go" starts with "to" + a verb: "am going to the beach" must stay the
      // progressive of "go", never read as "going to" + base.
      {"go", "goes", "went", "going", {"home", "to the beach", "to the market"}},
      {"write", "writes", "wrote", "writing", {"a letter", "a story"}},
      {"buy", "buys", "bought", "buying", {"bread", "a car"}},
      {"make", "makes", "made", "making", {"a cake", "dinner"}},
      {"swim", "swims", "swam", "swimming", {"in the sea", "in the pool"}},
      {"run", "runs", "ran", "running", {"in the park", "fast"}},
      {"sing", "sings", "sang", "singing", {"a song", "in the choir"}},
      {"sleep", "sleeps", "slept", "sleeping", {"well", "at home"}},
  };
  return kVerbs;
}

namespace internal {

const std::vector<Adverbial>& EnglishAdverbials() {
  using F = TimeFrame;
  static const std::vector<Adverbial> kAdverbials = {
      {{"Yesterday"}, F::kPast},
      {{"Last", "night"}, F::kPast},
      {{"Last", "week"}, F::kPast},
      {{"Last", "year"}, F::kPast},
      {{"Two", "days", "ago"}, F::kPast},
      {{"Every", "day"}, F::kHabitual},
      {{"Every", "morning"}, F::kHabitual},
      {{"Usually"}, F::kHabitual},
      {{"Often"}, F::kHabitual},
      {{"Sometimes"}, F::kHabitual},
      {{"Now"}, F::kNow},
      {{"Right", "now"}, F::kNow},
      {{"At", "the", "moment"}, F::kNow},
      {{"Today"}, F::kNow},
      {{"Tomorrow"}, F::kFuture},
      {{"Next", "week"}, F::kFuture},
      {{"Next", "month"}, F::kFuture},
      {{"Next", "year"}, F::kFuture},
      {{"Soon"}, F::kFuture},
  };
  return kAdverbials;
}

const std::vector<Pronoun>& EnglishPronouns() {
  using P = Person;
  static const std::vector<Pronoun> kPronouns = {
      {"I", P::k1Sg}, {"you", P::k2Sg}, {"he", P::k3Sg},
      {"she", P::k3Sg}, {"we", P::k1Pl}, {"they", P::k3Pl},
  };
  return kPronouns;
}

}  // namespace internal
}  // namespace detinfer::verb_grammar
