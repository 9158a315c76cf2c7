// Test helpers for AttentionBackward: per-sequence random data, an independent double-precision
// forward (plain loops, not the engine's Attention(), which is written separately), the
// analytic gradients in double, packing sequences into a varlen batch, and running the kernel.
#ifndef DETINFER_TESTS_KERNELS_ATTENTION_BACKWARD_REF_H_
#define DETINFER_TESTS_KERNELS_ATTENTION_BACKWARD_REF_H_

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/attention_backward.h"
#include "test_util.h"

namespace detinfer::attn_bwd_test {

struct Shape {
  int64_t hq, hkv, d;
  bool causal;
  float scale = 0.0f;  // as passed in AttentionOptions; 0 = 1/sqrt(D)
  int64_t window = 0;  // sliding window (AttentionOptions::window); 0 = none
  float softcap = 0.0f;  // attention-logit soft cap c (AttentionOptions::softcap); 0 = none
  float Effective() const {
    return scale != 0.0f ? scale : 1.0f / std::sqrt(static_cast<float>(d));
  }
};

// One sequence's own data, independent of where it is packed.
struct SeqData {
  int64_t q_len = 0, q_pos = 0, kv_len = 0;
  std::vector<uint8_t> mask;          // empty = keep all
  std::vector<float> q, dout, out;    // [q_len, hq, d]
  std::vector<float> lse;             // [q_len, hq]
  std::vector<float> k, v;            // [kv_len, hkv, d]
};

inline bool Visible(const Shape& sh, const SeqData& s, int64_t i, int64_t j) {
  return j < s.kv_len && (!sh.causal || j <= s.q_pos + i) &&
         (sh.window == 0 || j > s.q_pos + i - sh.window) &&
         (s.mask.empty() || s.mask[static_cast<size_t>(j)] != 0);
}

inline std::vector<double> ToDouble(const std::vector<float>& f) {
  return std::vector<double>(f.begin(), f.end());
}

// The score of a raw (scaled) dot product: itself, or c * tanh(raw / c) under a soft cap c.
inline double CappedScoreD(const Shape& sh, double raw) {
  return sh.softcap != 0.0f ? sh.softcap * std::tanh(raw / sh.softcap) : raw;
}

// d score / d raw: 1, or 1 - tanh^2(raw / c) under a soft cap c (the closed form).
inline double CapGradD(const Shape& sh, double raw) {
  if (sh.softcap == 0.0f) return 1.0;
  const double t = std::tanh(raw / sh.softcap);
  return 1.0 - t * t;
}

// Plain double softmax attention of one sequence (probabilities kept for the gradients).
// p[(i*hq + h)*kv_len + j] = P_ihj (0 when invisible). A row with no visible key: out 0, lse -Inf.
inline void ForwardD(const Shape& sh, const SeqData& s, const double* q, const double* k,
                     const double* v, double* out, double* lse, std::vector<double>* p) {
  const int64_t hq = sh.hq, d = sh.d, grp = sh.hq / sh.hkv, n = s.kv_len;
  const double scale = sh.Effective();
  std::vector<double> sc(static_cast<size_t>(n));
  if (p) p->assign(static_cast<size_t>(s.q_len * hq * n), 0.0);
  for (int64_t i = 0; i < s.q_len; ++i) {
    for (int64_t h = 0; h < hq; ++h) {
      const double* qi = q + (i * hq + h) * d;
      const int64_t g = h / grp;
      double m = -INFINITY;
      for (int64_t j = 0; j < n; ++j) {
        if (!Visible(sh, s, i, j)) continue;
        double dot = 0;
        for (int64_t e = 0; e < d; ++e) dot += qi[e] * k[(j * sh.hkv + g) * d + e];
        sc[static_cast<size_t>(j)] = CappedScoreD(sh, dot * scale);
        m = std::fmax(m, sc[static_cast<size_t>(j)]);
      }
      double* o = out + (i * hq + h) * d;
      for (int64_t e = 0; e < d; ++e) o[e] = 0;
      if (m == -INFINITY) {
        lse[i * hq + h] = -INFINITY;
        continue;
      }
      double l = 0;
      for (int64_t j = 0; j < n; ++j) {
        if (Visible(sh, s, i, j)) l += std::exp(sc[static_cast<size_t>(j)] - m);
      }
      for (int64_t j = 0; j < n; ++j) {
        if (!Visible(sh, s, i, j)) continue;
        const double pj = std::exp(sc[static_cast<size_t>(j)] - m) / l;
        if (p) (*p)[static_cast<size_t>((i * hq + h) * n + j)] = pj;
        for (int64_t e = 0; e < d; ++e) o[e] += pj * v[(j * sh.hkv + g) * d + e];
      }
      lse[i * hq + h] = m + std::log(l);
    }
  }
}

// Fills s->out and s->lse from ForwardD, rounded to float (what a forward kernel would save).
inline void ComputeForward(const Shape& sh, SeqData* s) {
  const auto q = ToDouble(s->q), k = ToDouble(s->k), v = ToDouble(s->v);
  std::vector<double> out(s->q.size()), lse(static_cast<size_t>(s->q_len * sh.hq));
  ForwardD(sh, *s, q.data(), k.data(), v.data(), out.data(), lse.data(), nullptr);
  s->out.assign(out.begin(), out.end());
  s->lse.assign(lse.begin(), lse.end());
}

// Random q, k, v, dout in [-1, 1) (q scaled up so softmaxes are not flat), random mask (about a
// quarter of keys dropped) when `masked`, then the forward.
inline SeqData MakeSeq(const Shape& sh, int64_t q_len, int64_t q_pos, int64_t kv_len,
                       uint64_t seed, bool masked) {
  SeqData s;
  s.q_len = q_len;
  s.q_pos = q_pos;
  s.kv_len = kv_len;
  const auto nq = static_cast<size_t>(q_len * sh.hq * sh.d);
  const auto nk = static_cast<size_t>(kv_len * sh.hkv * sh.d);
  s.q = testing::RandomFloats(nq, seed * 7 + 1, -2.f, 2.f);
  s.dout = testing::RandomFloats(nq, seed * 7 + 2);
  s.k = testing::RandomFloats(nk, seed * 7 + 3);
  s.v = testing::RandomFloats(nk, seed * 7 + 4);
  if (masked) {
    std::mt19937_64 rng(seed * 7 + 5);
    s.mask.resize(static_cast<size_t>(kv_len));
    for (auto& m : s.mask) m = (rng() % 4 != 0) ? 1 : 0;
  }
  ComputeForward(sh, &s);
  return s;
}

struct GradsD {
  std::vector<double> dq, dk, dv;
};

// The analytic gradients of attention_backward.h, in double, from a double forward (with a soft
// cap, dS is taken w.r.t. the raw score: times 1 - tanh^2(raw / c)).
inline GradsD OracleGrads(const Shape& sh, const SeqData& s) {
  const int64_t hq = sh.hq, hkv = sh.hkv, d = sh.d, grp = hq / hkv, n = s.kv_len;
  const double scale = sh.Effective();
  const auto q = ToDouble(s.q), k = ToDouble(s.k), v = ToDouble(s.v), dout = ToDouble(s.dout);
  std::vector<double> out(q.size()), lse(static_cast<size_t>(s.q_len * hq)), p;
  ForwardD(sh, s, q.data(), k.data(), v.data(), out.data(), lse.data(), &p);
  GradsD g{std::vector<double>(q.size()), std::vector<double>(k.size()),
           std::vector<double>(v.size())};
  for (int64_t i = 0; i < s.q_len; ++i) {
    for (int64_t h = 0; h < hq; ++h) {
      const int64_t qo = (i * hq + h) * d, kh = h / grp;
      double delta = 0;
      for (int64_t e = 0; e < d; ++e) delta += dout[qo + e] * out[qo + e];
      for (int64_t j = 0; j < n; ++j) {
        if (!Visible(sh, s, i, j) || lse[i * hq + h] == -INFINITY) continue;
        const int64_t ko = (j * hkv + kh) * d;
        const double pj = p[static_cast<size_t>((i * hq + h) * n + j)];
        double dp = 0, raw = 0;
        for (int64_t e = 0; e < d; ++e) dp += dout[qo + e] * v[ko + e];
        for (int64_t e = 0; e < d; ++e) raw += q[qo + e] * k[ko + e];
        const double ds = pj * (dp - delta) * CapGradD(sh, raw * scale);
        for (int64_t e = 0; e < d; ++e) {
          g.dq[qo + e] += scale * ds * k[ko + e];
          g.dk[ko + e] += scale * ds * q[qo + e];
          g.dv[ko + e] += pj * dout[qo + e];
        }
      }
    }
  }
  return g;
}

// A packed varlen batch. AttentionSeq::key_mask points into the SeqData, which must outlive it.
struct Batch {
  int64_t tq = 0, tkv = 0;
  std::vector<float> q, k, v, out, dout, lse;
  std::vector<AttentionSeq> seqs;
  std::vector<uint8_t> q_used, kv_used;  // 1 for rows some sequence covers
};

// Packs `seqs` in order. With `rng`, each sequence is preceded by 0-3 unused query rows and 0-3
// unused K/V rows of random garbage (a trailing gap too), whose gradients must come out +0.
inline Batch Pack(const Shape& sh, const std::vector<const SeqData*>& seqs, std::mt19937_64* rng) {
  Batch b;
  const int64_t qrow = sh.hq * sh.d, krow = sh.hkv * sh.d;
  auto gap = [&](int64_t* t, std::vector<uint8_t>* used) {
    const int64_t n = rng ? static_cast<int64_t>((*rng)() % 4) : 0;
    *t += n;
    used->insert(used->end(), static_cast<size_t>(n), 0);
  };
  for (const SeqData* s : seqs) {
    gap(&b.tq, &b.q_used);
    gap(&b.tkv, &b.kv_used);
    AttentionSeq a;
    a.q_begin = b.tq;
    a.q_len = s->q_len;
    a.q_pos = s->q_pos;
    a.kv_begin = b.tkv;
    a.kv_len = s->kv_len;
    a.key_mask = s->mask;
    b.seqs.push_back(a);
    b.tq += s->q_len;
    b.tkv += s->kv_len;
    b.q_used.insert(b.q_used.end(), static_cast<size_t>(s->q_len), 1);
    b.kv_used.insert(b.kv_used.end(), static_cast<size_t>(s->kv_len), 1);
  }
  gap(&b.tq, &b.q_used);
  gap(&b.tkv, &b.kv_used);
  const uint64_t seed = rng ? (*rng)() : 99;
  b.q = testing::RandomFloats(static_cast<size_t>(b.tq * qrow), seed + 1);
  b.dout = testing::RandomFloats(b.q.size(), seed + 2);
  b.out = testing::RandomFloats(b.q.size(), seed + 3);
  b.lse = testing::RandomFloats(static_cast<size_t>(b.tq * sh.hq), seed + 4);
  b.k = testing::RandomFloats(static_cast<size_t>(b.tkv * krow), seed + 5);
  b.v = testing::RandomFloats(b.k.size(), seed + 6);
  for (size_t i = 0; i < seqs.size(); ++i) {
    const SeqData& s = *seqs[i];
    const auto q0 = static_cast<size_t>(b.seqs[i].q_begin), k0 = static_cast<size_t>(b.seqs[i].kv_begin);
    auto put = [](const std::vector<float>& src, std::vector<float>* dst, size_t at) {
      std::copy(src.begin(), src.end(), dst->begin() + static_cast<std::ptrdiff_t>(at));
    };
    put(s.q, &b.q, q0 * static_cast<size_t>(qrow));
    put(s.dout, &b.dout, q0 * static_cast<size_t>(qrow));
    put(s.out, &b.out, q0 * static_cast<size_t>(qrow));
    put(s.lse, &b.lse, q0 * static_cast<size_t>(sh.hq));
    put(s.k, &b.k, k0 * static_cast<size_t>(krow));
    put(s.v, &b.v, k0 * static_cast<size_t>(krow));
  }
  return b;
}

struct Grads {
  std::vector<float> dq, dk, dv;
};

// Runs the kernel on a batch; outputs start as NaN so that any element left unwritten shows.
inline Status RunBackward(const KernelContext& ctx, const Shape& sh, const Batch& b, Grads* g) {
  const float nan = testing::FromBits(0x7fc00001u);
  g->dq.assign(b.q.size(), nan);
  g->dk.assign(b.k.size(), nan);
  g->dv.assign(b.k.size(), nan);
  auto q3 = [&](const std::vector<float>& x) {
    return TensorView::Contiguous(x.data(), DType::kF32, {b.tq, sh.hq, sh.d});
  };
  auto k3 = [&](const std::vector<float>& x) {
    return TensorView::Contiguous(x.data(), DType::kF32, {b.tkv, sh.hkv, sh.d});
  };
  const AttentionOptions opts{sh.causal, sh.scale, sh.window, sh.softcap};
  return AttentionBackward(ctx, q3(b.q), k3(b.k), k3(b.v), b.seqs, opts, q3(b.out), q3(b.dout),
                           TensorView::Contiguous(b.lse.data(), DType::kF32, {b.tq, sh.hq}),
                           q3(g->dq), k3(g->dk), k3(g->dv));
}

// Sequence `idx`'s own rows of batch gradients.
inline Grads Extract(const Shape& sh, const Batch& b, size_t idx, const Grads& g) {
  const AttentionSeq& a = b.seqs[idx];
  const int64_t qrow = sh.hq * sh.d, krow = sh.hkv * sh.d;
  auto rows = [](const std::vector<float>& x, int64_t begin, int64_t len, int64_t w) {
    return std::vector<float>(x.begin() + begin * w, x.begin() + (begin + len) * w);
  };
  return {rows(g.dq, a.q_begin, a.q_len, qrow), rows(g.dk, a.kv_begin, a.kv_len, krow),
          rows(g.dv, a.kv_begin, a.kv_len, krow)};
}

}  // namespace detinfer::attn_bwd_test

#endif  // DETINFER_TESTS_KERNELS_ATTENTION_BACKWARD_REF_H_
