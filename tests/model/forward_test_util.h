// Helpers the model tests share for running a Transformer the ways the invariance axes compare
// (whole prompt, chunks, token by token).
#ifndef DETINFER_TESTS_MODEL_FORWARD_TEST_UTIL_H_
#define DETINFER_TESTS_MODEL_FORWARD_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/transformer.h"
#include "test_util.h"

namespace detinfer::testing {

// n token ids below `vocab`, a fixed mix of `seed` (the same on every machine).
inline std::vector<int32_t> MixedTokens(size_t n, uint64_t seed, int64_t vocab) {
  std::vector<int32_t> t(n);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& v : t) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 29;
    v = static_cast<int32_t>(x % static_cast<uint64_t>(vocab));
  }
  return t;
}

// Logits of every position of `tokens`, fed to one sequence in chunks of `chunk` (1 = decode),
// with K/V stored in `kv`.
inline std::vector<float> LogitsInChunks(const Transformer& m, const KernelContext& ctx,
                                         const std::vector<int32_t>& tokens, size_t chunk,
                                         DType kv = DType::kF32) {
  auto cache = m.NewCache(static_cast<int64_t>(tokens.size()), kv);
  EXPECT_TRUE(cache.ok());
  EXPECT_TRUE(cache->AddSequence(0).ok());
  std::vector<float> all, part;
  for (size_t i = 0; i < tokens.size(); i += chunk) {
    const size_t n = std::min(chunk, tokens.size() - i);
    const Segment seg{0, static_cast<int64_t>(i), std::span(tokens).subspan(i, n), true};
    const Status s = m.Forward(ctx, *cache, std::span<const Segment>(&seg, 1), &part);
    EXPECT_TRUE(s.ok()) << s.ToString();
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

// SPEC §A1–§A3, §A6, §A7 for one model: the logits of a 90-token sequence are the same bits
// whole, in chunks of 1, 5 and 64, and co-batched (its first 37 tokens between two other
// prompts, then one token at a time beside another sequence's decode) on every ISA path and
// 1, 2 or 3 threads.
inline void ExpectTokenBitsInvariant(const Transformer& m, int64_t vocab, DType kv) {
  const std::vector<int32_t> target = MixedTokens(90, 1, vocab);
  auto ref = MakeContext(Isa::kScalar, 1);
  const std::vector<float> alone = LogitsInChunks(m, ref.ctx, target, target.size(), kv);
  for (const size_t chunk : {size_t{1}, size_t{5}, size_t{64}}) {
    EXPECT_TRUE(BitsEqual(LogitsInChunks(m, ref.ctx, target, chunk, kv), alone)) << chunk;
  }
  const std::vector<int32_t> other = MixedTokens(120, 2, vocab);
  const int64_t V = vocab;
  for (const Isa isa : TestableIsas()) {
    for (const int threads : {1, 2, 3}) {
      SCOPED_TRACE(IsaString(isa) + " x" + std::to_string(threads));
      auto h = MakeContext(isa, threads);
      auto cache = m.NewCache(400, kv);
      ASSERT_TRUE(cache.ok());
      for (SeqId s : {0, 1, 2}) ASSERT_TRUE(cache->AddSequence(s).ok());
      std::vector<float> out;
      // The target's first 37 tokens between two other prompts.
      const Segment step1[3] = {{1, 0, std::span(other).first(50), false},
                                {0, 0, std::span(target).first(37), true},
                                {2, 0, std::span(target).first(11), false}};
      ASSERT_TRUE(m.Forward(h.ctx, *cache, step1, &out).ok());
      ASSERT_TRUE(BitsEqual(out.data() + V, alone.data(), size_t(37 * V)));
      // Then one token at a time beside a prefill chunk and a decode.
      for (int64_t p = 37; p < 90; ++p) {
        const int64_t r = 50 + (p - 37);
        const Segment step[3] = {
            {2, 11 + (p - 37), std::span(target).subspan(size_t(11 + (p - 37)), 1), false},
            {0, p, std::span(target).subspan(size_t(p), 1), false},
            {1, r, std::span(other).subspan(size_t(r), 1), false}};
        ASSERT_TRUE(m.Forward(h.ctx, *cache, step, &out).ok());
        ASSERT_TRUE(BitsEqual(out.data() + V, alone.data() + p * V, size_t(V))) << p;
      }
    }
  }
}

}  // namespace detinfer::testing

#endif  // DETINFER_TESTS_MODEL_FORWARD_TEST_UTIL_H_
