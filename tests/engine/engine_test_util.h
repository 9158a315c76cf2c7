// Helpers shared by the engine tests: the small model shape they run, comparing two results bit
// for bit, a one-character-per-token vocabulary for stop-string tests.
#ifndef DETINFER_TESTS_ENGINE_ENGINE_TEST_UTIL_H_
#define DETINFER_TESTS_ENGINE_ENGINE_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

#include "engine/request.h"
#include "model/config.h"
#include "test_util.h"
#include "tokenizer/vocab_tokenizer.h"

namespace detinfer::testing {

// The engine tests' model shape, of any family: 2 layers, dim 32, 4 query / 2 KV heads of 8,
// 64 tokens (CharTokenizer's vocabulary), a 256-token context. Qwen2 gets q/k/v biases, Qwen3
// q/k norms.
inline ModelConfig TinyEngineConfig(Arch arch) {
  ModelConfig c;
  c.arch = arch;
  c.dim = 32;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 8;
  c.ffn_dim = 48;
  c.vocab_size = 64;
  c.max_seq_len = 256;
  c.rope_style = RopeStyle::kRotateHalf;
  c.qkv_bias = arch == Arch::kQwen2;
  c.qk_norm = arch == Arch::kQwen3;
  return c;
}

// Every output bit of two results: ids, finish reason, raw / sampling / prompt logprobs, the
// top alternatives (generated and prompt), prompt ranks and the fingerprint.
inline ::testing::AssertionResult SameBits(const RequestResult& a, const RequestResult& b) {
  if (!a.status.ok() || !b.status.ok()) {
    return ::testing::AssertionFailure() << a.status.ToString() << " / " << b.status.ToString();
  }
  if (a.tokens != b.tokens) return ::testing::AssertionFailure() << "tokens differ";
  if (a.finish != b.finish) return ::testing::AssertionFailure() << "finish differs";
  if (a.text != b.text) return ::testing::AssertionFailure() << "text differs";
  for (auto [x, y] : {std::pair{&a.logprobs, &b.logprobs},
                      std::pair{&a.sampling_logprobs, &b.sampling_logprobs},
                      std::pair{&a.prompt_logprobs, &b.prompt_logprobs}}) {
    auto r = BitsEqual(*x, *y);
    if (!r) return r;
  }
  for (auto [x, y] : {std::pair{&a.top_logprobs, &b.top_logprobs},
                      std::pair{&a.prompt_top_logprobs, &b.prompt_top_logprobs}}) {
    if (x->size() != y->size()) return ::testing::AssertionFailure() << "top";
    for (size_t i = 0; i < x->size(); ++i) {
      if ((*x)[i].size() != (*y)[i].size()) {
        return ::testing::AssertionFailure() << "top logprobs differ at " << i;
      }
      for (size_t j = 0; j < (*x)[i].size(); ++j) {
        if ((*x)[i][j].token != (*y)[i][j].token ||
            Bits((*x)[i][j].logprob) != Bits((*y)[i][j].logprob)) {
          return ::testing::AssertionFailure() << "top logprobs differ at " << i;
        }
      }
    }
  }
  if (a.prompt_ranks != b.prompt_ranks) return ::testing::AssertionFailure() << "prompt ranks";
  if (a.fingerprint != b.fingerprint) return ::testing::AssertionFailure() << "fingerprint";
  return ::testing::AssertionSuccess();
}

// A 64-token SentencePiece-style vocabulary (one character per token) for the 64-token test
// models: <unk> <s> </s>, a-z, A-Z, 0-8.
inline std::unique_ptr<Tokenizer> CharTokenizer() {
  GgufVocab v;
  v.source = "test vocabulary";
  v.model = "llama";
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.types = {2, 3, 3};
  for (char c = 'a'; c <= 'z'; ++c) v.tokens.push_back(std::string(1, c));
  for (char c = 'A'; c <= 'Z'; ++c) v.tokens.push_back(std::string(1, c));
  for (char c = '0'; c <= '8'; ++c) v.tokens.push_back(std::string(1, c));
  v.types.resize(v.tokens.size(), 1);
  v.scores.assign(v.tokens.size(), 0.0f);
  v.bos_id = 1;
  v.eos_id = 2;
  v.unk_id = 0;
  v.add_space_prefix = false;
  auto t = MakeGgufTokenizer(std::move(v));
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(t).value();
}

}  // namespace detinfer::testing

#endif  // DETINFER_TESTS_ENGINE_ENGINE_TEST_UTIL_H_
