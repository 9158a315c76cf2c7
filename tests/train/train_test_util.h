// Shared helpers for the trainer tests: a tiny model shape and a small synthetic corpus.
#ifndef DETINFER_TESTS_TRAIN_TRAIN_TEST_UTIL_H_
#define DETINFER_TESTS_TRAIN_TRAIN_TEST_UTIL_H_

#include <cstdint>
#include <vector>

#include "model/config.h"

namespace detinfer::testing {

// A small GQA Llama: 2 layers, 4 query heads sharing 2 KV heads of dim 8.
inline ModelConfig TinyTrainConfig(int64_t vocab = 24) {
  ModelConfig c;
  c.arch = Arch::kLlama;
  c.dim = 32;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 8;
  c.ffn_dim = 48;
  c.vocab_size = vocab;
  c.max_seq_len = 32;
  c.rope_theta = 10000.0;
  c.norm_eps = 1e-5f;
  return c;
}

// Sequences "1, a, a+1, ..., a+len-2" mod (vocab - 2), shifted past id 1 (BOS = 1): each next
// token is a deterministic function of the previous one, so a model can learn it exactly.
inline std::vector<std::vector<int32_t>> CountingCorpus(int64_t vocab, int64_t n) {
  std::vector<std::vector<int32_t>> out;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int32_t> s{1};
    const int64_t len = 4 + i % 5;
    for (int64_t j = 0; j < len; ++j) {
      s.push_back(static_cast<int32_t>(2 + (i * 7 + j) % (vocab - 2)));
    }
    out.push_back(s);
  }
  return out;
}

}  // namespace detinfer::testing

#endif  // DETINFER_TESTS_TRAIN_TRAIN_TEST_UTIL_H_
