// Spanish tables of the verb grammar (grammar.h). Regular -ar/-er/-ir verbs are conjugated by
// the textbook endings below; every irregular or spelling-changing verb is written out in full.
#include "corpus/grammar.h"

namespace detinfer::verb_grammar {
namespace {

using Forms = std::array<std::string, kNumPersons>;

Forms WithEndings(const std::string& stem, const std::array<const char*, kNumPersons>& endings) {
  Forms f;
  for (int p = 0; p < kNumPersons; ++p) f[static_cast<size_t>(p)] = stem + endings[static_cast<size_t>(p)];
  return f;
}

// A regular verb: present and preterite from the stem (infinitive minus -ar/-er/-ir), future
// from the whole infinitive, gerund -ando / -iendo.
SpanishVerb Regular(const std::string& infinitive, std::vector<std::string> complements) {
  const std::string stem = infinitive.substr(0, infinitive.size() - 2);
  const std::string ending = infinitive.substr(infinitive.size() - 2);
  SpanishVerb v;
  v.infinitive = infinitive;
  v.complements = std::move(complements);
  v.future = WithEndings(infinitive, {"é", "ás", "á", "emos", "éis", "án"});
  if (ending == "ar") {
    v.gerund = stem + "ando";
    v.present = WithEndings(stem, {"o", "as", "a", "amos", "áis", "an"});
    v.preterite = WithEndings(stem, {"é", "aste", "ó", "amos", "asteis", "aron"});
  } else {
    v.gerund = stem + "iendo";
    v.present = ending == "er" ? WithEndings(stem, {"o", "es", "e", "emos", "éis", "en"})
                               : WithEndings(stem, {"o", "es", "e", "imos", "ís", "en"});
    v.preterite = WithEndings(stem, {"í", "iste", "ió", "imos", "isteis", "ieron"});
  }
  return v;
}

}  // namespace

const std::vector<SpanishVerb>& SpanishVerbs() {
  static const std::vector<SpanishVerb> kVerbs = {
      Regular("trabajar", {"en casa", "en la oficina", "mucho"}),
      Regular("cantar", {"una canción", "en el coro"}),
      Regular("bailar", {"en la fiesta", "salsa"}),
      Regular("cocinar", {"la cena", "pasta"}),
      Regular("estudiar", {"historia", "en la biblioteca"}),
      Regular("escuchar", {"música", "la radio"}),
      Regular("limpiar", {"la casa", "la cocina"}),
      Regular("visitar", {"el museo", "a los abuelos"}),
      Regular("nadar", {"en el mar", "en la piscina"}),
      Regular("comprar", {"pan", "un coche"}),
      Regular("hablar", {"con el profesor", "despacio"}),
      Regular("comer", {"una manzana", "pan"}),
      Regular("beber", {"agua", "café"}),
      Regular("correr", {"en el parque", "rápido"}),
      Regular("aprender", {"inglés", "historia"}),
      Regular("escribir", {"una carta", "un cuento"}),
      Regular("abrir", {"la ventana", "la puerta"}),
      Regular("vivir", {"en Madrid", "en el campo"}),
      // "ir a casa" keeps "a" + a noun, so it stays the present of ir, never "ir a" + infinitive.
      {"ir", "yendo",
       {"voy", "vas", "va", "vamos", "vais", "van"},
       {"fui", "fuiste", "fue", "fuimos", "fuisteis", "fueron"},
       {"iré", "irás", "irá", "iremos", "iréis", "irán"},
       {"a casa", "a la playa", "al mercado"}},
      {"hacer", "haciendo",
       {"hago", "haces", "hace", "hacemos", "hacéis", "hacen"},
       {"hice", "hiciste", "hizo", "hicimos", "hicisteis", "hicieron"},
       {"haré", "harás", "hará", "haremos", "haréis", "harán"},
       {"la tarea", "un pastel"}},
      {"jugar", "jugando",
       {"juego", "juegas", "juega", "jugamos", "jugáis", "juegan"},
       {"jugué", "jugaste", "jugó", "jugamos", "jugasteis", "jugaron"},
       {"jugaré", "jugarás", "jugará", "jugaremos", "jugaréis", "jugarán"},
       {"al fútbol", "al ajedrez"}},
      {"dormir", "durmiendo",
       {"duermo", "duermes", "duerme", "dormimos", "dormís", "duermen"},
       {"dormí", "dormiste", "durmió", "dormimos", "dormisteis", "durmieron"},
       {"dormiré", "dormirás", "dormirá", "dormiremos", "dormiréis", "dormirán"},
       {"bien", "en casa"}},
      {"ver", "viendo",
       {"veo", "ves", "ve", "vemos", "veis", "ven"},
       {"vi", "viste", "vio", "vimos", "visteis", "vieron"},
       {"veré", "verás", "verá", "veremos", "veréis", "verán"},
       {"una película", "la televisión"}},
      {"salir", "saliendo",
       {"salgo", "sales", "sale", "salimos", "salís", "salen"},
       {"salí", "saliste", "salió", "salimos", "salisteis", "salieron"},
       {"saldré", "saldrás", "saldrá", "saldremos", "saldréis", "saldrán"},
       {"con amigos", "de casa"}},
      {"tocar", "tocando",
       {"toco", "tocas", "toca", "tocamos", "tocáis", "tocan"},
       {"toqué", "tocaste", "tocó", "tocamos", "tocasteis", "tocaron"},
       {"tocaré", "tocarás", "tocará", "tocaremos", "tocaréis", "tocarán"},
       {"el piano", "la guitarra"}},
  };
  return kVerbs;
}

namespace internal {

const std::vector<Adverbial>& SpanishAdverbials() {
  using F = TimeFrame;
  static const std::vector<Adverbial> kAdverbials = {
      {{"Ayer"}, F::kPast},
      {{"Anoche"}, F::kPast},
      {{"La", "semana", "pasada"}, F::kPast},
      {{"El", "año", "pasado"}, F::kPast},
      {{"Hace", "dos", "días"}, F::kPast},
      {{"Cada", "día"}, F::kHabitual},
      {{"Todos", "los", "días"}, F::kHabitual},
      {{"Normalmente"}, F::kHabitual},
      {{"A", "menudo"}, F::kHabitual},
      {{"A", "veces"}, F::kHabitual},
      {{"Ahora"}, F::kNow},
      {{"Ahora", "mismo"}, F::kNow},
      {{"En", "este", "momento"}, F::kNow},
      {{"Hoy"}, F::kNow},
      {{"Mañana"}, F::kFuture},
      {{"La", "semana", "que", "viene"}, F::kFuture},
      {{"El", "mes", "que", "viene"}, F::kFuture},
      {{"El", "año", "que", "viene"}, F::kFuture},
      {{"Pronto"}, F::kFuture},
  };
  return kAdverbials;
}

const std::vector<Pronoun>& SpanishPronouns() {
  using P = Person;
  static const std::vector<Pronoun> kPronouns = {
      {"yo", P::k1Sg},       {"tú", P::k2Sg},       {"él", P::k3Sg},    {"ella", P::k3Sg},
      {"nosotros", P::k1Pl}, {"vosotros", P::k2Pl}, {"ellos", P::k3Pl}, {"ellas", P::k3Pl},
  };
  return kPronouns;
}

}  // namespace internal
}  // namespace detinfer::verb_grammar
