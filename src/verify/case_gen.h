// The cases `detinfer verify` tries: prompts drawn by a seeded sampler from a fixed, documented
// distribution (docs/verify.md), each with its own sampling parameters and seed.
//
// Every random choice comes from CaseRng (SplitMix64), never from std::*_distribution (whose
// output is implementation-defined), so a (model, seed) pair names the same cases everywhere.
#ifndef DETINFER_VERIFY_CASE_GEN_H_
#define DETINFER_VERIFY_CASE_GEN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/request.h"
#include "model/config.h"
#include "tokenizer/tokenizer.h"

namespace detinfer::verify {

class CaseRng {
 public:
  explicit CaseRng(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  // Uniform in [lo, hi] (hi >= lo); modulo bias is irrelevant here.
  int64_t Uniform(int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(Next() % static_cast<uint64_t>(hi - lo + 1)); }

 private:
  uint64_t state_;
};

// A key for an independent stream: (seed, case, purpose).
uint64_t StreamSeed(uint64_t seed, uint64_t index, uint64_t purpose);

struct VerifyCase {
  int index = 0;
  std::string kind;  // "short", "medium", "long", "text"
  Request request;   // prompt, max_new_tokens, sampling (with its own seed)
  uint64_t rng_seed = 0;  // for the axes' own random choices (chunk sizes, boundaries, ...)
};

// `count` cases of `max_tokens` generated tokens each. Prompts are capped so that prompt +
// max_tokens fits the context. With a tokenizer, every third case is a text template.
std::vector<VerifyCase> MakeCases(const ModelConfig& config, const Tokenizer* tokenizer,
                                  uint64_t seed, int count, int32_t max_tokens);

// A random request used as other traffic around a case (random length, sampling, seed).
Request FillerRequest(const ModelConfig& config, CaseRng& rng, int32_t max_tokens,
                      const std::string& id);

}  // namespace detinfer::verify

#endif  // DETINFER_VERIFY_CASE_GEN_H_
