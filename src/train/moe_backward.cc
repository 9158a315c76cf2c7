#include "train/moe_backward.h"

#include <algorithm>
#include <cmath>

#include "kernels/activation_backward.h"
#include "kernels/matmul_backward.h"
#include "kernels/softmax_backward.h"

namespace detinfer {

namespace {

TensorView MoeGradRows(std::vector<float>& b, int64_t rows, int64_t cols) {
  return TensorView::Contiguous(b.data(), DType::kF32, {rows, cols});
}

}  // namespace

Status MoeFfnBackward(const KernelContext& ctx, const ParamLayout& layout, const float* params,
                      float* grad, int64_t layer, LayerRecord& rec, std::vector<float>& h,
                      std::vector<float>& dy, std::vector<float>* dh) {
  const ModelConfig& c = layout.config();
  const int64_t dim = c.dim, n_exp = c.n_experts, k = c.n_experts_used, e_ffn = c.expert_ffn_dim;
  const int64_t t = static_cast<int64_t>(h.size()) / dim, n_slots = t * k;
  // Each slot's output gradient and the chosen probabilities' gradient.
  std::vector<float> dslot(static_cast<size_t>(n_slots * dim)), dp(static_cast<size_t>(t * n_exp), 0.0f);
  for (int64_t r = 0; r < t; ++r) {
    const float* dyr = dy.data() + r * dim;
    const float* w = rec.expert_weights.data() + r * k;
    const int32_t* ch = rec.chosen.data() + r * k;
    const float* p = rec.router_probs.data() + r * n_exp;
    std::vector<float> dw(static_cast<size_t>(k));
    for (int64_t j = 0; j < k; ++j) {
      const float* o = rec.slot_out.data() + (r * k + j) * dim;
      float* d = dslot.data() + (r * k + j) * dim;
      float acc = 0.0f;
      for (int64_t i = 0; i < dim; ++i) {
        d[i] = w[j] * dyr[i];
        acc = std::fma(dyr[i], o[i], acc);
      }
      dw[static_cast<size_t>(j)] = acc;
    }
    float* dpr = dp.data() + r * n_exp;
    if (c.moe_renormalize) {
      float sum = 0.0f, s = 0.0f;
      for (int64_t j = 0; j < k; ++j) sum = sum + p[ch[j]];  // the forward's S
      for (int64_t j = 0; j < k; ++j) s = s + dw[static_cast<size_t>(j)] * w[j];
      for (int64_t j = 0; j < k; ++j) dpr[ch[j]] = (dw[static_cast<size_t>(j)] - s) / sum;
    } else {
      for (int64_t j = 0; j < k; ++j) dpr[ch[j]] = dw[static_cast<size_t>(j)];
    }
  }
  // The router.
  std::vector<float> dr(dp.size());
  DETINFER_RETURN_IF_ERROR(SoftmaxBackward(ctx, MoeGradRows(rec.router_probs, t, n_exp),
                                           MoeGradRows(dp, t, n_exp), MoeGradRows(dr, t, n_exp)));
  dh->assign(static_cast<size_t>(t * dim), 0.0f);
  DETINFER_RETURN_IF_ERROR(MatmulBackwardInput(ctx, MoeGradRows(dr, t, n_exp),
                                               layout.View(params, TensorRole::kRouter, layer),
                                               MoeGradRows(*dh, t, dim)));
  DETINFER_RETURN_IF_ERROR(MatmulBackwardWeight(ctx, MoeGradRows(dr, t, n_exp),
                                                MoeGradRows(h, t, dim),
                                                layout.View(grad, TensorRole::kRouter, layer)));
  // The experts, in ascending id, each over its slots in token order.
  std::vector<std::vector<int64_t>> slots_of(static_cast<size_t>(n_exp));
  for (int64_t s = 0; s < n_slots; ++s) {
    slots_of[static_cast<size_t>(rec.chosen[static_cast<size_t>(s)])].push_back(s);
  }
  for (int64_t e = 0; e < n_exp; ++e) {
    const std::vector<int64_t>& ss = slots_of[static_cast<size_t>(e)];
    const int64_t n = static_cast<int64_t>(ss.size());
    if (n == 0) continue;
    std::vector<float> rows(static_cast<size_t>(n * dim)), dout(rows.size()),
        gate(static_cast<size_t>(n * e_ffn)), up(gate.size()), act(gate.size()), dact(gate.size()),
        dgate(gate.size()), dup(gate.size()), dx(rows.size()), tmp(rows.size());
    for (int64_t i = 0; i < n; ++i) {
      const int64_t s = ss[static_cast<size_t>(i)];
      std::copy_n(h.data() + (s / k) * dim, dim, rows.data() + i * dim);
      std::copy_n(dslot.data() + s * dim, dim, dout.data() + i * dim);
      std::copy_n(rec.slot_gate.data() + s * e_ffn, e_ffn, gate.data() + i * e_ffn);
      std::copy_n(rec.slot_up.data() + s * e_ffn, e_ffn, up.data() + i * e_ffn);
      std::copy_n(rec.slot_act.data() + s * e_ffn, e_ffn, act.data() + i * e_ffn);
    }
    const auto w = [&](TensorRole role) { return layout.Expert(params, role, layer, e); };
    const auto g = [&](TensorRole role) { return layout.Expert(grad, role, layer, e); };
    DETINFER_RETURN_IF_ERROR(MatmulBackwardInput(ctx, MoeGradRows(dout, n, dim),
                                                 w(TensorRole::kExpertsDown),
                                                 MoeGradRows(dact, n, e_ffn)));
    DETINFER_RETURN_IF_ERROR(MatmulBackwardWeight(ctx, MoeGradRows(dout, n, dim),
                                                  MoeGradRows(act, n, e_ffn),
                                                  g(TensorRole::kExpertsDown)));
    DETINFER_RETURN_IF_ERROR(SwiGluBackward(ctx, MoeGradRows(gate, n, e_ffn),
                                            MoeGradRows(up, n, e_ffn), MoeGradRows(dact, n, e_ffn),
                                            MoeGradRows(dgate, n, e_ffn), MoeGradRows(dup, n, e_ffn)));
    DETINFER_RETURN_IF_ERROR(MatmulBackwardWeight(ctx, MoeGradRows(dgate, n, e_ffn),
                                                  MoeGradRows(rows, n, dim),
                                                  g(TensorRole::kExpertsGate)));
    DETINFER_RETURN_IF_ERROR(MatmulBackwardWeight(ctx, MoeGradRows(dup, n, e_ffn),
                                                  MoeGradRows(rows, n, dim),
                                                  g(TensorRole::kExpertsUp)));
    DETINFER_RETURN_IF_ERROR(MatmulBackwardInput(ctx, MoeGradRows(dgate, n, e_ffn),
                                                 w(TensorRole::kExpertsGate), MoeGradRows(dx, n, dim)));
    DETINFER_RETURN_IF_ERROR(MatmulBackwardInput(ctx, MoeGradRows(dup, n, e_ffn),
                                                 w(TensorRole::kExpertsUp), MoeGradRows(tmp, n, dim)));
    for (int64_t i = 0; i < n; ++i) {
      float* d = dh->data() + (ss[static_cast<size_t>(i)] / k) * dim;
      for (int64_t j = 0; j < dim; ++j) {
        const float sum = dx[static_cast<size_t>(i * dim + j)] + tmp[static_cast<size_t>(i * dim + j)];
        d[j] = d[j] + sum;
      }
    }
  }
  return Status::Ok();
}

}  // namespace detinfer
