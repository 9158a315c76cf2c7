// Helpers for the attention tests: seeded sequences, storage in f32/bf16/f16, packed /
// paged / cached / padded runners, and an independent double-precision oracle.
#ifndef DETINFER_TESTS_KERNELS_ATTENTION_TEST_UTIL_H_
#define DETINFER_TESTS_KERNELS_ATTENTION_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "kernels/attention.h"
#include "test_util.h"

namespace detinfer::testing {

struct AttnDims {
  int64_t hq = 4, hkv = 2, d = 64;
  DType dtype = DType::kF32;
};

// Storage rows of K or V: `bytes` in the storage dtype, `widened` the exact f32 values.
struct Stored {
  std::vector<uint8_t> bytes;
  std::vector<float> widened;
};

inline Stored Store(const std::vector<float>& vals, DType dt) {
  Stored s;
  if (vals.empty()) return s;  // (ConvertFromF32 would memcpy from/to null)
  s.bytes.resize(vals.size() * DTypeSize(dt));
  ConvertFromF32(vals.data(), dt, s.bytes.data(), vals.size());
  s.widened.resize(vals.size());
  ConvertToF32(dt, s.bytes.data(), s.widened.data(), vals.size());
  return s;
}

// One sequence's own data: q [q_len, Hq, D] and K/V for positions [0, kv_len) [kv_len, Hkv, D].
struct SeqData {
  int64_t q_len = 0, q_pos = 0, kv_len = 0;
  std::vector<float> q;
  Stored k, v;
  std::vector<uint8_t> mask;  // empty or kv_len entries
};

// A causal prefill-style sequence by default (q_pos = kv_len - q_len). mask_keep < 1 draws a
// random key mask (each key kept with that probability).
inline SeqData MakeSeq(const AttnDims& dm, int64_t q_len, int64_t kv_len, uint64_t seed,
                       double mask_keep = 1.0, float amp = 2.0f) {
  SeqData s;
  s.q_len = q_len;
  s.kv_len = kv_len;
  s.q_pos = kv_len - q_len;
  s.q = RandomFloats(static_cast<size_t>(q_len * dm.hq * dm.d), seed * 3 + 1, -amp, amp);
  s.k = Store(RandomFloats(static_cast<size_t>(kv_len * dm.hkv * dm.d), seed * 3 + 2, -amp, amp), dm.dtype);
  s.v = Store(RandomFloats(static_cast<size_t>(kv_len * dm.hkv * dm.d), seed * 3 + 3), dm.dtype);
  if (mask_keep < 1.0) {
    std::mt19937_64 rng(seed * 7 + 5);
    std::bernoulli_distribution keep(mask_keep);
    s.mask.resize(static_cast<size_t>(kv_len));
    for (auto& m : s.mask) m = keep(rng) ? 1 : 0;
  }
  return s;
}

struct AttnOut {
  std::vector<float> out, lse;
};

// Packed contiguous call over `seqs` in the given order; gap_rows of junk K/V rows between
// sequences (so kv_begin is not trivially 0). Returns each sequence's own outputs.
inline std::vector<AttnOut> RunPacked(const KernelContext& ctx, const AttnDims& dm,
                                      const std::vector<const SeqData*>& seqs,
                                      const AttentionOptions& opts, int64_t gap_rows = 0,
                                      Status* status = nullptr) {
  const size_t el = DTypeSize(dm.dtype);
  const int64_t krow = dm.hkv * dm.d, qrow = dm.hq * dm.d;
  int64_t tq = 0, tkv = 0;
  std::vector<AttentionSeq> as;
  for (const SeqData* s : seqs) {
    AttentionSeq a;
    a.q_begin = tq;
    a.q_len = s->q_len;
    a.q_pos = s->q_pos;
    a.kv_len = s->kv_len;
    a.kv_begin = tkv + gap_rows;
    a.key_mask = s->mask;
    as.push_back(a);
    tq += s->q_len;
    tkv += gap_rows + s->kv_len;
  }
  std::vector<float> q(static_cast<size_t>(tq * qrow));
  std::vector<uint8_t> kb(static_cast<size_t>(tkv * krow) * el, 0x3c), vb(kb.size(), 0x3c);
  for (size_t i = 0; i < seqs.size(); ++i) {
    std::copy(seqs[i]->q.begin(), seqs[i]->q.end(), q.begin() + as[i].q_begin * qrow);
    std::copy(seqs[i]->k.bytes.begin(), seqs[i]->k.bytes.end(),
              kb.begin() + static_cast<ptrdiff_t>(as[i].kv_begin * krow) * static_cast<ptrdiff_t>(el));
    std::copy(seqs[i]->v.bytes.begin(), seqs[i]->v.bytes.end(),
              vb.begin() + static_cast<ptrdiff_t>(as[i].kv_begin * krow) * static_cast<ptrdiff_t>(el));
  }
  std::vector<float> out(q.size(), 7.0f), lse(static_cast<size_t>(tq * dm.hq), 7.0f);
  KvView kv;
  kv.k = TensorView::Contiguous(kb.data(), dm.dtype, {tkv, dm.hkv, dm.d});
  kv.v = TensorView::Contiguous(vb.data(), dm.dtype, {tkv, dm.hkv, dm.d});
  const Status st = Attention(ctx, TensorView::Contiguous(q.data(), DType::kF32, {tq, dm.hq, dm.d}),
                              kv, as, opts,
                              TensorView::Contiguous(out.data(), DType::kF32, {tq, dm.hq, dm.d}),
                              TensorView::Contiguous(lse.data(), DType::kF32, {tq, dm.hq}));
  if (status) *status = st;
  EXPECT_TRUE(st.ok()) << st.ToString();
  std::vector<AttnOut> res(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    const auto b = as[i].q_begin;
    res[i].out.assign(out.begin() + b * qrow, out.begin() + (b + as[i].q_len) * qrow);
    res[i].lse.assign(lse.begin() + b * dm.hq, lse.begin() + (b + as[i].q_len) * dm.hq);
  }
  return res;
}

// Attention with `opts` on a tiny fixed problem (2 queries at positions 2 and 3 over 4 f32 keys,
// scalar path): the status, for the tests of the options' checks.
inline Status AttentionStatusWith(const AttentionOptions& opts, uint64_t seed) {
  const AttnDims dm{2, 1, 8, DType::kF32};
  const SeqData s = MakeSeq(dm, 2, 4, seed);
  std::vector<float> q = s.q, out(q.size()), lse(static_cast<size_t>(2 * dm.hq));
  KvView kv;
  kv.k = TensorView::Contiguous(s.k.bytes.data(), dm.dtype, {4, dm.hkv, dm.d});
  kv.v = TensorView::Contiguous(s.v.bytes.data(), dm.dtype, {4, dm.hkv, dm.d});
  AttentionSeq a;
  a.q_len = 2;
  a.q_pos = 2;
  a.kv_len = 4;
  return Attention(MakeContext(Isa::kScalar, 1).ctx,
                   TensorView::Contiguous(q.data(), DType::kF32, {2, dm.hq, dm.d}), kv,
                   std::span<const AttentionSeq>(&a, 1), opts,
                   TensorView::Contiguous(out.data(), DType::kF32, {2, dm.hq, dm.d}),
                   TensorView::Contiguous(lse.data(), DType::kF32, {2, dm.hq}));
}

inline AttnOut RunOne(const KernelContext& ctx, const AttnDims& dm, const SeqData& s,
                      const AttentionOptions& opts) {
  return RunPacked(ctx, dm, {&s}, opts)[0];
}

// Paged call: every sequence's positions scattered over randomly chosen blocks of one pool,
// in the row-major paged layout or (tiled) the key-tiled one of KvLayout::kPagedTiled. Slots
// no sequence uses hold 0x7f bytes (NaN in f16), which must never reach an output.
inline std::vector<AttnOut> RunPaged(const KernelContext& ctx, const AttnDims& dm,
                                     const std::vector<const SeqData*>& seqs,
                                     const AttentionOptions& opts, int64_t bs, uint64_t seed,
                                     bool tiled = false) {
  const size_t el = DTypeSize(dm.dtype);
  const int64_t krow = dm.hkv * dm.d, qrow = dm.hq * dm.d;
  int64_t nblocks = 0, tq = 0;
  for (const SeqData* s : seqs) nblocks += (s->kv_len + bs - 1) / bs + 1;
  std::vector<int32_t> perm(static_cast<size_t>(nblocks));
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<uint8_t> kb(static_cast<size_t>(nblocks * bs * krow) * el, 0x7f), vb(kb.size(), 0x7f);
  std::vector<std::vector<int32_t>> tables(seqs.size());
  std::vector<AttentionSeq> as;
  size_t next = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const SeqData* s = seqs[i];
    const int64_t nb = (s->kv_len + bs - 1) / bs;
    for (int64_t b = 0; b < nb; ++b) tables[i].push_back(perm[next++]);
    for (int64_t t = 0; t < s->kv_len; ++t) {
      const int64_t blk = tables[i][static_cast<size_t>(t / bs)], slot = t % bs;
      const size_t src = static_cast<size_t>(t * krow) * el;
      if (!tiled) {
        const size_t dst = static_cast<size_t>((blk * bs + slot) * krow) * el;
        std::memcpy(kb.data() + dst, s->k.bytes.data() + src, static_cast<size_t>(krow) * el);
        std::memcpy(vb.data() + dst, s->v.bytes.data() + src, static_cast<size_t>(krow) * el);
        continue;
      }
      // V [Hkv, nblocks, bs, D]; K [Hkv, nblocks * bs / 16, D, 16] (attention.h).
      for (int64_t g = 0; g < dm.hkv; ++g) {
        const size_t head = src + static_cast<size_t>(g * dm.d) * el;
        const size_t vdst = static_cast<size_t>(((g * nblocks + blk) * bs + slot) * dm.d) * el;
        std::memcpy(vb.data() + vdst, s->v.bytes.data() + head, static_cast<size_t>(dm.d) * el);
        const int64_t chunk = blk * (bs / 16) + slot / 16;
        for (int64_t e = 0; e < dm.d; ++e) {
          const size_t kdst =
              static_cast<size_t>(((g * (nblocks * bs / 16) + chunk) * dm.d + e) * 16 + slot % 16) * el;
          std::memcpy(kb.data() + kdst, s->k.bytes.data() + head + static_cast<size_t>(e) * el, el);
        }
      }
    }
    AttentionSeq a;
    a.q_begin = tq;
    a.q_len = s->q_len;
    a.q_pos = s->q_pos;
    a.kv_len = s->kv_len;
    a.key_mask = s->mask;
    as.push_back(a);
    tq += s->q_len;
  }
  for (size_t i = 0; i < seqs.size(); ++i) as[i].blocks = tables[i];
  std::vector<float> q(static_cast<size_t>(tq * qrow));
  for (size_t i = 0; i < seqs.size(); ++i) {
    std::copy(seqs[i]->q.begin(), seqs[i]->q.end(), q.begin() + as[i].q_begin * qrow);
  }
  std::vector<float> out(q.size()), lse(static_cast<size_t>(tq * dm.hq));
  KvView kv;
  kv.layout = tiled ? KvLayout::kPagedTiled : KvLayout::kPaged;
  if (tiled) {
    kv.k = TensorView::Contiguous(kb.data(), dm.dtype, {dm.hkv, nblocks * bs / 16, dm.d, 16});
    kv.v = TensorView::Contiguous(vb.data(), dm.dtype, {dm.hkv, nblocks, bs, dm.d});
  } else {
    kv.k = TensorView::Contiguous(kb.data(), dm.dtype, {nblocks, bs, dm.hkv, dm.d});
    kv.v = TensorView::Contiguous(vb.data(), dm.dtype, {nblocks, bs, dm.hkv, dm.d});
  }
  const Status st = Attention(ctx, TensorView::Contiguous(q.data(), DType::kF32, {tq, dm.hq, dm.d}),
                              kv, as, opts,
                              TensorView::Contiguous(out.data(), DType::kF32, {tq, dm.hq, dm.d}),
                              TensorView::Contiguous(lse.data(), DType::kF32, {tq, dm.hq}));
  EXPECT_TRUE(st.ok()) << st.ToString();
  std::vector<AttnOut> res(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    const auto b = as[i].q_begin;
    res[i].out.assign(out.begin() + b * qrow, out.begin() + (b + as[i].q_len) * qrow);
    res[i].lse.assign(lse.begin() + b * dm.hq, lse.begin() + (b + as[i].q_len) * dm.hq);
  }
  return res;
}

// A causal sequence with q_pos = 0, q_len = kv_len fed through AttentionWithCache in chunks:
// chunk [a, b) uses cache rows [0, a) and new rows [a, b). Returns the concatenated outputs.
inline AttnOut RunChunked(const KernelContext& ctx, const AttnDims& dm, const SeqData& s,
                          const std::vector<int64_t>& cuts, const AttentionOptions& opts) {
  const size_t el = DTypeSize(dm.dtype);
  const int64_t krow = dm.hkv * dm.d, qrow = dm.hq * dm.d;
  AttnOut res;
  res.out.resize(static_cast<size_t>(s.q_len * qrow));
  res.lse.resize(static_cast<size_t>(s.q_len * dm.hq));
  std::vector<int64_t> b = cuts;
  b.insert(b.begin(), 0);
  b.push_back(s.q_len);
  for (size_t i = 0; i + 1 < b.size(); ++i) {
    const int64_t lo = b[i], hi = b[i + 1];
    if (hi <= lo) continue;
    const auto* kbase = s.k.bytes.data();
    const auto* vbase = s.v.bytes.data();
    const TensorView kc = TensorView::Contiguous(kbase, dm.dtype, {lo, dm.hkv, dm.d});
    const TensorView vc = TensorView::Contiguous(vbase, dm.dtype, {lo, dm.hkv, dm.d});
    const TensorView kn = TensorView::Contiguous(kbase + static_cast<size_t>(lo * krow) * el, dm.dtype, {hi - lo, dm.hkv, dm.d});
    const TensorView vn = TensorView::Contiguous(vbase + static_cast<size_t>(lo * krow) * el, dm.dtype, {hi - lo, dm.hkv, dm.d});
    const Status st = AttentionWithCache(
        ctx, TensorView::Contiguous(s.q.data() + lo * qrow, DType::kF32, {hi - lo, dm.hq, dm.d}),
        kc, vc, kn, vn, opts,
        TensorView::Contiguous(res.out.data() + lo * qrow, DType::kF32, {hi - lo, dm.hq, dm.d}),
        TensorView::Contiguous(res.lse.data() + lo * dm.hq, DType::kF32, {hi - lo, dm.hq}));
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  return res;
}

inline ::testing::AssertionResult SameOut(const AttnOut& a, const AttnOut& b) {
  auto r = BitsEqual(a.out, b.out);
  if (!r) return r << " (out)";
  r = BitsEqual(a.lse, b.lse);
  if (!r) return r << " (lse)";
  return ::testing::AssertionSuccess();
}

// Independent double-precision oracle (plain loops over the widened stored values).
struct OracleOut {
  std::vector<double> out, lse;
};
inline OracleOut Oracle(const AttnDims& dm, const SeqData& s, const AttentionOptions& opts) {
  const double scale = opts.scale == 0.0f ? 1.0 / std::sqrt(static_cast<double>(dm.d)) : opts.scale;
  const int64_t group = dm.hq / dm.hkv;
  OracleOut o;
  o.out.assign(static_cast<size_t>(s.q_len * dm.hq * dm.d), 0.0);
  o.lse.assign(static_cast<size_t>(s.q_len * dm.hq), -INFINITY);
  for (int64_t i = 0; i < s.q_len; ++i) {
    const int64_t pos = s.q_pos + i;
    for (int64_t h = 0; h < dm.hq; ++h) {
      const int64_t g = h / group;
      const float* q = s.q.data() + (i * dm.hq + h) * dm.d;
      std::vector<double> sc;
      std::vector<int64_t> keys;
      for (int64_t t = 0; t < s.kv_len; ++t) {
        if (opts.causal && t > pos) continue;
        if (opts.window > 0 && t <= pos - opts.window) continue;  // outside the sliding window
        if (!s.mask.empty() && !s.mask[static_cast<size_t>(t)]) continue;
        const float* k = s.k.widened.data() + (t * dm.hkv + g) * dm.d;
        double dot = 0;
        for (int64_t d = 0; d < dm.d; ++d) dot += static_cast<double>(q[d]) * k[d];
        const double c = opts.softcap;  // Gemma 2's soft cap: c * tanh(score / c)
        sc.push_back(c > 0 ? c * std::tanh(dot * scale / c) : dot * scale);
        keys.push_back(t);
      }
      if (keys.empty()) continue;
      const double m = *std::max_element(sc.begin(), sc.end());
      double l = 0;
      for (double x : sc) l += std::exp(x - m);
      double* out = o.out.data() + (i * dm.hq + h) * dm.d;
      for (size_t j = 0; j < keys.size(); ++j) {
        const double p = std::exp(sc[j] - m) / l;
        const float* v = s.v.widened.data() + (keys[j] * dm.hkv + g) * dm.d;
        for (int64_t d = 0; d < dm.d; ++d) out[d] += p * v[d];
      }
      o.lse[static_cast<size_t>(i * dm.hq + h)] = m + std::log(l);
    }
  }
  return o;
}

}  // namespace detinfer::testing

#endif  // DETINFER_TESTS_KERNELS_ATTENTION_TEST_UTIL_H_
