// TEMPORARY scalar implementations of the agreed backward kernels (see backward_ops.h); removed
// when the kernels land on main. Contiguous f32 operands only; orders as agreed.
#include <cmath>
#include <vector>

#include "kernels/math.h"
#include "kernels/softmax.h"
#include "train/backward_ops.h"

namespace detinfer {

Status MatmulBackwardInput(const KernelContext&, const TensorView& dy, const TensorView& w,
                           const TensorView& dx) {
  const int64_t m = dy.shape[0], n = dy.shape[1], k = w.shape[1];
  // Same per-element chain (n ascending from +0), loops ordered for contiguous access.
  for (int64_t i = 0; i < m; ++i) {
    float* out = dx.row<float>(i);
    for (int64_t c = 0; c < k; ++c) out[c] = 0.0f;
    for (int64_t j = 0; j < n; ++j) {
      const float a = dy.row<float>(i)[j];
      const float* wr = w.row<float>(j);
      for (int64_t c = 0; c < k; ++c) out[c] = std::fma(a, wr[c], out[c]);
    }
  }
  return Status::Ok();
}

Status MatmulBackwardWeight(const KernelContext&, const TensorView& dy, const TensorView& x,
                            const TensorView& dw) {
  const int64_t m = dy.shape[0], n = dy.shape[1], k = x.shape[1];
  // Same per-element chain (m ascending from the existing value), contiguous access.
  for (int64_t i = 0; i < m; ++i) {
    const float* xr = x.row<float>(i);
    for (int64_t j = 0; j < n; ++j) {
      const float a = dy.row<float>(i)[j];
      float* out = dw.row<float>(j);
      for (int64_t c = 0; c < k; ++c) out[c] = std::fma(a, xr[c], out[c]);
    }
  }
  return Status::Ok();
}

Status RmsNormBackward(const KernelContext&, const TensorView& x, const TensorView& weight,
                       float eps, const TensorView& dy, const TensorView& dx,
                       const TensorView& dweight) {
  const int64_t m = x.shape[0], d = x.shape[1];
  const float* w = weight.as<float>();
  float* dw = dweight.as<float>();
  for (int64_t i = 0; i < m; ++i) {
    const float* xr = x.row<float>(i);
    const float* g = dy.row<float>(i);
    float ss = 0.0f;
    for (int64_t c = 0; c < d; ++c) ss = std::fma(xr[c], xr[c], ss);
    const float inv = 1.0f / std::sqrt(ss / static_cast<float>(d) + eps);
    float dot = 0.0f;
    for (int64_t c = 0; c < d; ++c) dot = std::fma(g[c] * w[c], xr[c], dot);
    const float coef = dot * inv * inv * inv / static_cast<float>(d);
    for (int64_t c = 0; c < d; ++c) {
      dx.row<float>(i)[c] = g[c] * w[c] * inv - xr[c] * coef;
      dw[c] = std::fma(g[c], xr[c] * inv, dw[c]);
    }
  }
  return Status::Ok();
}

Status RopeBackwardInPlace(const KernelContext&, const RopeTable& table, RopeStyle,
                           const TensorView& dx, const int32_t* positions) {
  const int64_t t = dx.shape[0], h = dx.shape[1], half = table.rotary_dim() / 2;
  for (int64_t i = 0; i < t; ++i) {
    const float* c = table.cos_row(positions[i]);
    const float* s = table.sin_row(positions[i]);
    for (int64_t hh = 0; hh < h; ++hh) {
      float* r = dx.as<float>() + i * dx.stride[0] + hh * dx.stride[1];
      for (int64_t p = 0; p < half; ++p) {
        const float g0 = r[p], g1 = r[p + half];
        r[p] = g0 * c[p] + g1 * s[p];
        r[p + half] = g1 * c[p] - g0 * s[p];
      }
    }
  }
  return Status::Ok();
}

Status SwiGluBackward(const KernelContext&, const TensorView& gate, const TensorView& up,
                      const TensorView& dout, const TensorView& dgate, const TensorView& dup) {
  const int64_t m = gate.shape[0], f = gate.shape[1];
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t c = 0; c < f; ++c) {
      const float a = gate.row<float>(i)[c], u = up.row<float>(i)[c], g = dout.row<float>(i)[c];
      const float sig = 1.0f / (1.0f + std::exp(-a));
      const float silu = a * sig;
      dup.row<float>(i)[c] = g * silu;
      dgate.row<float>(i)[c] = g * u * (sig * (1.0f + a * (1.0f - sig)));
    }
  }
  return Status::Ok();
}

Status EmbeddingBackward(const KernelContext&, std::span<const int32_t> tokens,
                         const TensorView& dy, const TensorView& dtable) {
  const int64_t d = dy.shape[1];
  for (size_t t = 0; t < tokens.size(); ++t) {
    float* row = dtable.row<float>(tokens[t]);
    const float* g = dy.row<float>(static_cast<int64_t>(t));
    for (int64_t c = 0; c < d; ++c) row[c] += g[c];
  }
  return Status::Ok();
}

Status CrossEntropyForwardBackward(const KernelContext& ctx, const TensorView& logits,
                                   std::span<const int32_t> targets, float scale,
                                   const TensorView& loss, const TensorView& dlogits) {
  const int64_t m = logits.shape[0], v = logits.shape[1];
  std::vector<float> lsm(static_cast<size_t>(m * v));
  const TensorView lv = TensorView::Contiguous(lsm.data(), DType::kF32, {m, v});
  DETINFER_RETURN_IF_ERROR(LogSoftmax(ctx, logits, lv));
  DETINFER_RETURN_IF_ERROR(Softmax(ctx, logits, dlogits));
  for (int64_t i = 0; i < m; ++i) {
    float* d = dlogits.row<float>(i);
    const int32_t tg = targets[static_cast<size_t>(i)];
    if (tg < 0) {
      loss.as<float>()[i] = 0.0f;
      for (int64_t c = 0; c < v; ++c) d[c] = 0.0f;
      continue;
    }
    loss.as<float>()[i] = -lsm[static_cast<size_t>(i * v + tg)];
    d[tg] -= 1.0f;
    for (int64_t c = 0; c < v; ++c) d[c] *= scale;
  }
  return Status::Ok();
}

}  // namespace detinfer
