#include "verify/case_gen.h"

#include <algorithm>

namespace detinfer::verify {

namespace {

constexpr const char* kSubjects[] = {"The little dog", "Lily", "A tall man", "The old king",
                                     "Tom and his sister", "The red bird"};
constexpr const char* kVerbs[] = {"went to", "looked at", "found", "was afraid of",
                                  "wanted to play in", "dreamed about"};
constexpr const char* kObjects[] = {"the park", "a big box", "the dark forest", "the sea",
                                    "a shiny stone", "the kitchen"};

std::vector<int32_t> RandomTokens(const ModelConfig& c, CaseRng& rng, int64_t n) {
  std::vector<int32_t> out;
  for (int64_t i = 0; i < n; ++i) {
    out.push_back(static_cast<int32_t>(rng.Uniform(0, c.vocab_size - 1)));
  }
  return out;
}

SamplingParams RandomSampling(CaseRng& rng, bool greedy) {
  SamplingParams s;
  s.seed = rng.Next();
  if (greedy) return s;
  constexpr float kTemps[] = {0.6f, 0.8f, 1.0f};
  s.temperature = kTemps[rng.Uniform(0, 2)];
  s.top_p = rng.Uniform(0, 1) == 0 ? 0.9f : 1.0f;
  s.top_k = rng.Uniform(0, 1) == 0 ? 0 : 40;
  return s;
}

}  // namespace

uint64_t CaseRng::Next() {
  // SplitMix64 (Steele, Lea, Flood 2014).
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t StreamSeed(uint64_t seed, uint64_t index, uint64_t purpose) {
  CaseRng r(seed ^ (index * 0x9e3779b97f4a7c15ULL) ^ (purpose << 56));
  r.Next();
  return r.Next();
}

std::vector<VerifyCase> MakeCases(const ModelConfig& c, const Tokenizer* tokenizer,
                                  uint64_t seed, int count, int32_t max_tokens) {
  std::vector<VerifyCase> cases;
  const int64_t cap = std::max<int64_t>(1, c.max_seq_len - max_tokens);
  for (int i = 0; i < count; ++i) {
    CaseRng rng(StreamSeed(seed, static_cast<uint64_t>(i), 1));
    VerifyCase vc;
    vc.index = i;
    vc.rng_seed = StreamSeed(seed, static_cast<uint64_t>(i), 2);
    std::vector<int32_t> prompt;
    if (tokenizer != nullptr && i % 3 == 2) {
      std::string text = kSubjects[rng.Uniform(0, 5)];
      text += " ";
      text += kVerbs[rng.Uniform(0, 5)];
      text += " ";
      text += kObjects[rng.Uniform(0, 5)];
      text += ".";
      auto ids = tokenizer->Encode(text, tokenizer->bos_id() >= 0);
      if (ids.ok() && !ids->empty()) {
        vc.kind = "text";
        prompt = *ids;
      }
    }
    if (prompt.empty()) {
      // Length class: 40% short [1, 8], 40% medium [9, 64], 20% long [65, 384].
      const int64_t u = rng.Uniform(0, 9);
      int64_t lo = 1, hi = 8;
      vc.kind = "short";
      if (u >= 8) {
        lo = 65, hi = 384, vc.kind = "long";
      } else if (u >= 4) {
        lo = 9, hi = 64, vc.kind = "medium";
      }
      prompt = RandomTokens(c, rng, rng.Uniform(lo, hi));
    }
    if (static_cast<int64_t>(prompt.size()) > cap) prompt.resize(static_cast<size_t>(cap));
    vc.request.id = "case-" + std::to_string(i);
    vc.request.prompt = std::move(prompt);
    vc.request.max_new_tokens = max_tokens;
    vc.request.sampling = RandomSampling(rng, i % 2 == 0);
    cases.push_back(std::move(vc));
  }
  return cases;
}

Request FillerRequest(const ModelConfig& c, CaseRng& rng, int32_t max_tokens,
                      const std::string& id) {
  Request r;
  r.id = id;
  const int64_t new_tokens = rng.Uniform(1, std::max<int32_t>(1, max_tokens));
  const int64_t cap = std::max<int64_t>(1, std::min<int64_t>(96, c.max_seq_len - new_tokens));
  r.prompt = RandomTokens(c, rng, rng.Uniform(1, cap));
  r.max_new_tokens = static_cast<int32_t>(new_tokens);
  r.sampling = RandomSampling(rng, rng.Uniform(0, 1) == 0);
  return r;
}

}  // namespace detinfer::verify
