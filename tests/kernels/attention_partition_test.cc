// Key partitions of the attention order (attention_partition.h): sequences longer than
// kAttentionPartition keys, where a query's partitions are folded. Prefill folds them inside
// one task; decode-like calls (few rows) compute them in different tasks and fold afterwards.
// Both must give the same bits on every path and thread count, and stay within the oracle's
// tolerance.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "attention_test_util.h"
#include "kernels/attention_partition.h"

namespace detinfer::testing {
namespace {

constexpr int64_t kP = kAttentionPartition;

// A sequence of 2.5 partitions with a random key mask and the whole second partition masked
// out (so a query's partitions 0 and 2 are folded with 1 skipped), plus position 0 masked (the
// first query sees no key at all).
SeqData LongSeq(const AttnDims& dm, uint64_t seed) {
  SeqData s = MakeSeq(dm, 2 * kP + kP / 2, 2 * kP + kP / 2, seed, 0.9);
  for (int64_t t = kP; t < 2 * kP; ++t) s.mask[static_cast<size_t>(t)] = 0;
  s.mask[0] = 0;
  return s;
}

// Rows [p, p + n) of a causal sequence as their own call: n queries at positions p.., keys
// [0, p + n) (what a decode step or a short chunk sees).
SeqData Rows(const AttnDims& dm, const SeqData& s, int64_t p, int64_t n) {
  SeqData r;
  r.q_len = n;
  r.q_pos = p;
  r.kv_len = p + n;
  const int64_t qrow = dm.hq * dm.d, krow = dm.hkv * dm.d;
  const size_t kbytes = static_cast<size_t>((p + n) * krow) * DTypeSize(dm.dtype);
  r.q.assign(s.q.begin() + p * qrow, s.q.begin() + (p + n) * qrow);
  r.k.bytes.assign(s.k.bytes.begin(), s.k.bytes.begin() + static_cast<ptrdiff_t>(kbytes));
  r.v.bytes.assign(s.v.bytes.begin(), s.v.bytes.begin() + static_cast<ptrdiff_t>(kbytes));
  r.k.widened.assign(s.k.widened.begin(), s.k.widened.begin() + (p + n) * krow);
  r.v.widened.assign(s.v.widened.begin(), s.v.widened.begin() + (p + n) * krow);
  r.mask.assign(s.mask.begin(), s.mask.begin() + p + n);
  return r;
}

AttnOut Slice(const AttnDims& dm, const AttnOut& a, int64_t p, int64_t n) {
  const int64_t qrow = dm.hq * dm.d;
  return {std::vector<float>(a.out.begin() + p * qrow, a.out.begin() + (p + n) * qrow),
          std::vector<float>(a.lse.begin() + p * dm.hq, a.lse.begin() + (p + n) * dm.hq)};
}

// Max |lse - oracle| / max(1, |oracle|); a -Inf oracle (no visible key) needs exactly -Inf.
double LseError(const std::vector<float>& got, const std::vector<double>& want) {
  double e = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isinf(want[i])) {
      if (!(std::isinf(got[i]) && got[i] < 0)) return INFINITY;
      continue;
    }
    e = std::fmax(e, std::fabs(got[i] - want[i]) / std::fmax(1.0, std::fabs(want[i])));
  }
  return e;
}

// Decode steps and short chunks (partitions in separate tasks) == the full prefill (partitions
// folded in one task), for every ISA path and thread count, at positions on both sides of the
// partition boundaries; and one decode step through the KV-cache op.
TEST(AttentionPartitionTest, DecodeSplitEqualsPrefillOnEveryPath) {
  for (DType dt : {DType::kBF16, DType::kF32}) {
    const AttnDims dm{4, 2, 40, dt};
    const SeqData s = LongSeq(dm, 11);
    AttentionOptions opts;
    const AttnOut full = RunOne(MakeContext(Isa::kScalar, 1).ctx, dm, s, opts);
    for (Isa isa : TestableIsas()) {
      for (int threads : {1, 2, 3}) {
        auto h = MakeContext(isa, threads);
        if (isa != Isa::kScalar) {
          ASSERT_TRUE(SameOut(RunOne(h.ctx, dm, s, opts), full)) << IsaString(isa) << " threads=" << threads;
        }
        for (int64_t p : {int64_t{0}, kP - 1, kP, kP + 1, 2 * kP - 1, 2 * kP, 2 * kP + 7, s.q_len - 3}) {
          for (int64_t n : {1, 3}) {
            const SeqData r = Rows(dm, s, p, n);
            ASSERT_TRUE(SameOut(RunOne(h.ctx, dm, r, opts), Slice(dm, full, p, n)))
                << IsaString(isa) << " threads=" << threads << " " << DTypeName(dt) << " p=" << p
                << " n=" << n;
          }
        }
      }
    }
    // Through the KV-cache op (which has no key mask): one decode step with the cache
    // holding [0, p) == the full prefill.
    auto h = MakeContext(TestableIsas().back(), 2);
    const SeqData u = MakeSeq(dm, 2 * kP + 9, 2 * kP + 9, 14);
    const AttnOut uf = RunOne(h.ctx, dm, u, opts);
    const int64_t p = 2 * kP + 3;
    const AttnOut r = RunChunked(h.ctx, dm, u, {p, p + 1}, opts);
    ASSERT_TRUE(SameOut(Slice(dm, r, p, 1), Slice(dm, uf, p, 1))) << DTypeName(dt);
  }
}

// Folding partitions keeps the accuracy of the single online softmax: prefill rows and
// non-causal decode (every partition of every query) against the double oracle.
TEST(AttentionPartitionTest, LongSequenceMatchesOracle) {
  const AttnDims dm{4, 2, 64, DType::kF32};
  auto h = MakeContext(TestableIsas().back(), 2);
  const SeqData s = LongSeq(dm, 12);
  AttentionOptions causal;
  const AttnOut got = RunOne(h.ctx, dm, s, causal);
  const OracleOut want = Oracle(dm, s, causal);
  EXPECT_LE(MaxErrorRelativeToPeak(got.out.data(), want.out.data(), got.out.size()), 5e-6);
  ASSERT_TRUE(std::isinf(want.lse[0]));  // row 0 sees no key
  EXPECT_LE(LseError(got.lse, want.lse), 2e-6);
  AttentionOptions nc;
  nc.causal = false;
  SeqData one = MakeSeq(dm, 1, 3 * kP + 5, 13, 0.8);
  one.q_pos = 0;
  const AttnOut g1 = RunOne(h.ctx, dm, one, nc);
  const OracleOut w1 = Oracle(dm, one, nc);
  EXPECT_LE(MaxErrorRelativeToPeak(g1.out.data(), w1.out.data(), g1.out.size()), 5e-6);
  EXPECT_LE(LseError(g1.lse, w1.lse), 2e-6);
}

// The fold itself: an unseen partition is skipped, the first seen one is taken bit for bit
// (a -0 in acc stays -0), a later one is merged with weights exp(m_i - max) as documented.
TEST(AttentionPartitionTest, FoldFollowsTheDocumentedFormula) {
  namespace ap = kernels::attention_partition;
  const int64_t dim = 8;
  const int64_t n = ap::StateFloats(dim);
  std::vector<float> total(static_cast<size_t>(n)), a(total.size()), b(total.size()), none(total.size());
  ap::Reset(total.data(), dim);
  ap::Reset(none.data(), dim);
  ap::Reset(a.data(), dim);
  ap::Reset(b.data(), dim);
  a[0] = 1.5f;
  a[1] = 1.0f;
  b[0] = 0.25f;
  b[1] = 1.0f;
  for (int64_t j = 0; j < kernels::kAttnLanes; ++j) {
    a[static_cast<size_t>(ap::kLanesAt + j)] = 0.5f + static_cast<float>(j);
    b[static_cast<size_t>(ap::kLanesAt + j)] = 2.0f - 0.1f * static_cast<float>(j);
  }
  for (int64_t d = 0; d < dim; ++d) {
    a[static_cast<size_t>(ap::kAccAt + d)] = d == 0 ? -0.0f : 0.3f * static_cast<float>(d) - 1.0f;
    b[static_cast<size_t>(ap::kAccAt + d)] = 0.7f - 0.2f * static_cast<float>(d);
  }
  ap::Fold(total.data(), none.data(), dim);
  EXPECT_EQ(total[1], 0.0f);
  ap::Fold(total.data(), a.data(), dim);
  EXPECT_EQ(std::memcmp(total.data(), a.data(), total.size() * sizeof(float)), 0);
  EXPECT_TRUE(std::signbit(total[static_cast<size_t>(ap::kAccAt)]));
  ap::Fold(total.data(), b.data(), dim);
  EXPECT_EQ(total[0], 1.5f);
  const double wb = std::exp(0.25 - 1.5);  // a's weight is exactly 1 (its max is the max)
  for (int64_t j = ap::kLanesAt; j < n; ++j) {
    const double want = a[static_cast<size_t>(j)] + wb * b[static_cast<size_t>(j)];
    EXPECT_NEAR(total[static_cast<size_t>(j)], want, 1e-6 * std::fmax(1.0, std::fabs(want))) << j;
  }
  std::vector<float> out(static_cast<size_t>(dim));
  float lse = 0;
  ap::Finish(total.data(), dim, out.data(), &lse);
  double l = 0;
  for (int64_t j = 0; j < kernels::kAttnLanes; ++j) l += total[static_cast<size_t>(ap::kLanesAt + j)];
  EXPECT_NEAR(lse, 1.5 + std::log(l), 1e-6 * (1.5 + std::log(l)));
  for (int64_t d = 0; d < dim; ++d) {
    EXPECT_NEAR(out[static_cast<size_t>(d)], total[static_cast<size_t>(ap::kAccAt + d)] / l, 1e-6);
  }
}

}  // namespace
}  // namespace detinfer::testing
