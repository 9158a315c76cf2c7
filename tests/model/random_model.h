// Random Llama-family models built in memory for tests, and an independent double-precision
// reference forward pass over them (plain loops, sharing no code with src/kernels).
#ifndef DETINFER_TESTS_MODEL_RANDOM_MODEL_H_
#define DETINFER_TESTS_MODEL_RANDOM_MODEL_H_

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/buffer.h"
#include "model/weights.h"

namespace detinfer::testing {

inline TensorView RandomTensor(ModelWeights& w, std::mt19937_64& rng, std::vector<int64_t> shape,
                               float scale, float offset = 0.0f) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  auto buf = AlignedBuffer::Allocate(static_cast<size_t>(n) * sizeof(float));
  std::uniform_real_distribution<float> dist(-scale, scale);
  for (int64_t i = 0; i < n; ++i) buf->as<float>()[i] = offset + dist(rng);
  TensorView v;
  v.data = buf->data();
  v.dtype = DType::kF32;
  v.rank = static_cast<int>(shape.size());
  int64_t stride = 1;
  for (int d = v.rank - 1; d >= 0; --d) {
    v.shape[d] = shape[static_cast<size_t>(d)];
    v.stride[d] = stride;
    stride *= v.shape[d];
  }
  w.owned.push_back(std::move(buf).value());
  return v;
}

inline ModelWeights RandomModel(const ModelConfig& c, uint64_t seed) {
  ModelWeights w;
  w.config = c;
  w.source = "random-model";
  std::mt19937_64 rng(seed);
  const float s = 1.0f / std::sqrt(static_cast<float>(c.dim));
  w.token_embedding = RandomTensor(w, rng, {c.vocab_size, c.dim}, 1.0f);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    LayerWeights lw;
    lw.attn_norm = RandomTensor(w, rng, {c.dim}, 0.2f, 1.0f);
    lw.wq = RandomTensor(w, rng, {c.n_heads * c.head_dim, c.dim}, s);
    lw.wk = RandomTensor(w, rng, {c.n_kv_heads * c.head_dim, c.dim}, s);
    lw.wv = RandomTensor(w, rng, {c.n_kv_heads * c.head_dim, c.dim}, s);
    lw.wo = RandomTensor(w, rng, {c.dim, c.n_heads * c.head_dim}, s);
    if (c.qkv_bias) {
      lw.bq = RandomTensor(w, rng, {c.n_heads * c.head_dim}, 0.1f);
      lw.bk = RandomTensor(w, rng, {c.n_kv_heads * c.head_dim}, 0.1f);
      lw.bv = RandomTensor(w, rng, {c.n_kv_heads * c.head_dim}, 0.1f);
    }
    if (c.qk_norm) {
      lw.q_norm = RandomTensor(w, rng, {c.head_dim}, 0.2f, 1.0f);
      lw.k_norm = RandomTensor(w, rng, {c.head_dim}, 0.2f, 1.0f);
    }
    lw.ffn_norm = RandomTensor(w, rng, {c.dim}, 0.2f, 1.0f);
    lw.w_gate = RandomTensor(w, rng, {c.ffn_dim, c.dim}, s);
    lw.w_up = RandomTensor(w, rng, {c.ffn_dim, c.dim}, s);
    lw.w_down = RandomTensor(w, rng, {c.dim, c.ffn_dim}, 1.0f / std::sqrt(float(c.ffn_dim)));
    w.layers.push_back(lw);
  }
  w.final_norm = RandomTensor(w, rng, {c.dim}, 0.2f, 1.0f);
  w.lm_head = c.tied_embeddings ? w.token_embedding : RandomTensor(w, rng, {c.vocab_size, c.dim}, s);
  return w;
}

// Logits [T, vocab] for every position of `tokens`, in double precision.
inline std::vector<double> ReferenceForward(const ModelWeights& w, const std::vector<int32_t>& tokens) {
  const ModelConfig& c = w.config;
  const int64_t T = static_cast<int64_t>(tokens.size()), D = c.dim, hd = c.head_dim;
  const int64_t hq = c.n_heads, hkv = c.n_kv_heads, F = c.ffn_dim, V = c.vocab_size;
  auto at = [](const TensorView& t, int64_t i) { return double(static_cast<const float*>(t.data)[i]); };
  auto matvec = [&](const TensorView& W, const std::vector<double>& x, int64_t rows, int64_t cols) {
    std::vector<double> y(static_cast<size_t>(rows), 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < cols; ++k) y[size_t(r)] += at(W, r * cols + k) * x[size_t(k)];
    return y;
  };
  auto rmsnorm = [&](const std::vector<double>& x, const TensorView& g, int64_t off, int64_t n) {
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += x[size_t(off + i)] * x[size_t(off + i)];
    const double inv = 1.0 / std::sqrt(ss / double(n) + double(c.norm_eps));
    std::vector<double> y(x);
    for (int64_t i = 0; i < n; ++i) y[size_t(off + i)] = x[size_t(off + i)] * inv * at(g, i);
    return y;
  };
  auto rope = [&](std::vector<double>& v, int64_t heads, int64_t pos) {
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t i = 0; i < hd / 2; ++i) {
        const double ang = double(pos) * std::pow(c.rope_theta, -double(2 * i) / double(hd));
        const int64_t a = c.rope_style == RopeStyle::kInterleaved ? h * hd + 2 * i : h * hd + i;
        const int64_t b = c.rope_style == RopeStyle::kInterleaved ? a + 1 : a + hd / 2;
        const double x0 = v[size_t(a)], x1 = v[size_t(b)];
        v[size_t(a)] = x0 * std::cos(ang) - x1 * std::sin(ang);
        v[size_t(b)] = x0 * std::sin(ang) + x1 * std::cos(ang);
      }
    }
  };
  std::vector<std::vector<double>> x(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    x[size_t(t)].resize(size_t(D));
    for (int64_t i = 0; i < D; ++i) x[size_t(t)][size_t(i)] = at(w.token_embedding, tokens[size_t(t)] * D + i);
  }
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = w.layers[size_t(l)];
    std::vector<std::vector<double>> q(static_cast<size_t>(T)), k(static_cast<size_t>(T)),
        v(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) {
      const auto h = rmsnorm(x[size_t(t)], L.attn_norm, 0, D);
      q[size_t(t)] = matvec(L.wq, h, hq * hd, D);
      k[size_t(t)] = matvec(L.wk, h, hkv * hd, D);
      v[size_t(t)] = matvec(L.wv, h, hkv * hd, D);
      if (c.qkv_bias) {
        for (int64_t i = 0; i < hq * hd; ++i) q[size_t(t)][size_t(i)] += at(L.bq, i);
        for (int64_t i = 0; i < hkv * hd; ++i) {
          k[size_t(t)][size_t(i)] += at(L.bk, i);
          v[size_t(t)][size_t(i)] += at(L.bv, i);
        }
      }
      if (c.qk_norm) {
        for (int64_t h2 = 0; h2 < hq; ++h2) q[size_t(t)] = rmsnorm(q[size_t(t)], L.q_norm, h2 * hd, hd);
        for (int64_t h2 = 0; h2 < hkv; ++h2) k[size_t(t)] = rmsnorm(k[size_t(t)], L.k_norm, h2 * hd, hd);
      }
      rope(q[size_t(t)], hq, t);
      rope(k[size_t(t)], hkv, t);
    }
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> att(static_cast<size_t>(hq * hd), 0.0);
      for (int64_t h2 = 0; h2 < hq; ++h2) {
        const int64_t g = h2 / (hq / hkv);
        std::vector<double> s(static_cast<size_t>(t + 1));
        double mx = -INFINITY;
        for (int64_t j = 0; j <= t; ++j) {
          double d = 0;
          for (int64_t i = 0; i < hd; ++i) d += q[size_t(t)][size_t(h2 * hd + i)] * k[size_t(j)][size_t(g * hd + i)];
          s[size_t(j)] = d / std::sqrt(double(hd));
          mx = std::max(mx, s[size_t(j)]);
        }
        double sum = 0;
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (int64_t j = 0; j <= t; ++j)
          for (int64_t i = 0; i < hd; ++i)
            att[size_t(h2 * hd + i)] += s[size_t(j)] / sum * v[size_t(j)][size_t(g * hd + i)];
      }
      const auto o = matvec(L.wo, att, D, hq * hd);
      for (int64_t i = 0; i < D; ++i) x[size_t(t)][size_t(i)] += o[size_t(i)];
      const auto h = rmsnorm(x[size_t(t)], L.ffn_norm, 0, D);
      const auto gt = matvec(L.w_gate, h, F, D), up = matvec(L.w_up, h, F, D);
      std::vector<double> a(static_cast<size_t>(F));
      for (int64_t i = 0; i < F; ++i) a[size_t(i)] = gt[size_t(i)] / (1 + std::exp(-gt[size_t(i)])) * up[size_t(i)];
      const auto dn = matvec(L.w_down, a, D, F);
      for (int64_t i = 0; i < D; ++i) x[size_t(t)][size_t(i)] += dn[size_t(i)];
    }
  }
  std::vector<double> logits(static_cast<size_t>(T * V));
  for (int64_t t = 0; t < T; ++t) {
    const auto h = rmsnorm(x[size_t(t)], w.final_norm, 0, D);
    const auto y = matvec(w.lm_head, h, V, D);
    std::copy(y.begin(), y.end(), logits.begin() + t * V);
  }
  return logits;
}

}  // namespace detinfer::testing

#endif  // DETINFER_TESTS_MODEL_RANDOM_MODEL_H_
