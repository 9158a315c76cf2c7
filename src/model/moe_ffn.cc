#include "model/moe_ffn.h"

#include <algorithm>

#include "kernels/activation.h"
#include "kernels/matmul.h"
#include "kernels/softmax.h"

namespace detinfer {

namespace {

TensorView MoeRows(std::vector<float>& buf, int64_t rows, int64_t cols) {
  return TensorView::Contiguous(buf.data(), DType::kF32, {rows, cols});
}
TensorView MoeRows(const float* buf, int64_t rows, int64_t cols) {
  return TensorView::Contiguous(static_cast<const void*>(buf), DType::kF32, {rows, cols});
}

TensorView MoeColumns(std::vector<float>& buf, int64_t rows, int64_t width, int64_t col0,
                      int64_t cols) {
  TensorView v = TensorView::Contiguous(buf.data() + col0, DType::kF32, {rows, cols});
  v.stride[0] = width;
  return v;
}

}  // namespace

void ChooseExperts(const float* p, int64_t n, int64_t k, int32_t* chosen) {
  for (int64_t j = 0; j < k; ++j) {
    int64_t best = -1;
    for (int64_t e = 0; e < n; ++e) {
      bool taken = false;
      for (int64_t i = 0; i < j; ++i) taken = taken || chosen[i] == e;
      if (!taken && (best < 0 || p[e] > p[best])) best = e;
    }
    chosen[j] = static_cast<int32_t>(best);
  }
  std::sort(chosen, chosen + k);
}

Status MoeFfn(const KernelContext& ctx, const ModelConfig& c, const LayerParams& p,
              const float* h, int64_t t_total, float* out, LayerRecord* record) {
  const int64_t dim = c.dim, n_exp = c.n_experts, top_k = c.n_experts_used,
                e_ffn = c.expert_ffn_dim;
  std::vector<float> logits(static_cast<size_t>(t_total * n_exp)), probs(logits.size());
  DETINFER_RETURN_IF_ERROR(
      Matmul(ctx, MoeRows(h, t_total, dim), p.router, nullptr, MoeRows(logits, t_total, n_exp)));
  DETINFER_RETURN_IF_ERROR(
      Softmax(ctx, MoeRows(logits, t_total, n_exp), MoeRows(probs, t_total, n_exp)));
  std::vector<int32_t> chosen(static_cast<size_t>(t_total * top_k), 0);
  std::vector<float> weights(chosen.size(), 0.0f);
  for (int64_t t = 0; t < t_total; ++t) {
    const float* pr = probs.data() + t * n_exp;
    int32_t* ch = chosen.data() + t * top_k;
    float* wt = weights.data() + t * top_k;
    ChooseExperts(pr, n_exp, top_k, ch);
    float sum = 0.0f;
    for (int64_t j = 0; j < top_k; ++j) sum = sum + pr[ch[j]];
    for (int64_t j = 0; j < top_k; ++j) wt[j] = c.moe_renormalize ? pr[ch[j]] / sum : pr[ch[j]];
  }
  // Each (token, slot)'s expert output, then the combine. Which thread computes an expert's
  // rows never changes them (SPEC §A6), so the schedule is chosen for speed only: experts
  // with many rows (prefill) run one after another, each matmul across the pool; when every
  // expert has few rows (decode: one each) the experts run side by side, one per thread,
  // which saves a pool round trip per matmul.
  const int64_t n_slots = t_total * top_k;
  std::vector<float> slots(static_cast<size_t>(n_slots * dim), 0.0f);
  if (record != nullptr) {
    record->slot_gate.assign(static_cast<size_t>(n_slots * e_ffn), 0.0f);
    record->slot_up.assign(record->slot_gate.size(), 0.0f);
    record->slot_act.assign(record->slot_gate.size(), 0.0f);
  }
  std::vector<std::vector<int64_t>> slot_of(static_cast<size_t>(n_exp));  // flat t * top_k + j
  std::vector<int64_t> active;
  int64_t most_rows = 0;
  for (int64_t s = 0; s < n_slots; ++s) slot_of[static_cast<size_t>(chosen[static_cast<size_t>(s)])].push_back(s);
  for (int64_t e = 0; e < n_exp; ++e) {
    const int64_t n_e = static_cast<int64_t>(slot_of[static_cast<size_t>(e)].size());
    if (n_e > 0) active.push_back(e);
    most_rows = std::max(most_rows, n_e);
  }
  constexpr int64_t kSideBySideRows = 4;
  const bool side_by_side = ctx.num_threads() > 1 && most_rows <= kSideBySideRows;
  const KernelContext serial{ctx.isa, nullptr};
  const KernelContext& expert_ctx = side_by_side ? serial : ctx;
  std::vector<Status> expert_status(active.size());
  const auto run_expert = [&](int64_t i) {
    const int64_t e = active[static_cast<size_t>(i)];
    const std::vector<int64_t>& ss = slot_of[static_cast<size_t>(e)];
    const int64_t n_e = static_cast<int64_t>(ss.size());
    std::vector<float> rows(static_cast<size_t>(n_e * dim)), gu(static_cast<size_t>(n_e * 2 * e_ffn)),
        a(static_cast<size_t>(n_e * e_ffn)), o(static_cast<size_t>(n_e * dim));
    for (int64_t r = 0; r < n_e; ++r) {
      std::copy_n(h + ss[static_cast<size_t>(r)] / top_k * dim, dim, rows.data() + r * dim);
    }
    Status st = Matmul(expert_ctx, MoeRows(rows, n_e, dim), p.expert_gate_up[static_cast<size_t>(e)],
                       nullptr, MoeRows(gu, n_e, 2 * e_ffn));
    if (st.ok()) {
      st = SwiGlu(expert_ctx, MoeColumns(gu, n_e, 2 * e_ffn, 0, e_ffn),
                  MoeColumns(gu, n_e, 2 * e_ffn, e_ffn, e_ffn), MoeRows(a, n_e, e_ffn));
    }
    if (st.ok()) {
      st = Matmul(expert_ctx, MoeRows(a, n_e, e_ffn), p.expert_down[static_cast<size_t>(e)], nullptr,
                  MoeRows(o, n_e, dim));
    }
    for (int64_t r = 0; st.ok() && r < n_e; ++r) {
      const int64_t slot = ss[static_cast<size_t>(r)];
      std::copy_n(o.data() + r * dim, dim, slots.data() + slot * dim);
      if (record != nullptr) {  // each slot's own rows: the experts' slots never overlap
        std::copy_n(gu.data() + r * 2 * e_ffn, e_ffn, record->slot_gate.data() + slot * e_ffn);
        std::copy_n(gu.data() + r * 2 * e_ffn + e_ffn, e_ffn, record->slot_up.data() + slot * e_ffn);
        std::copy_n(a.data() + r * e_ffn, e_ffn, record->slot_act.data() + slot * e_ffn);
      }
    }
    expert_status[static_cast<size_t>(i)] = st;
  };
  if (side_by_side) {
    ctx.ParallelFor(static_cast<int64_t>(active.size()), run_expert);
  } else {
    for (int64_t i = 0; i < static_cast<int64_t>(active.size()); ++i) run_expert(i);
  }
  for (const Status& st : expert_status) DETINFER_RETURN_IF_ERROR(st);
  for (int64_t t = 0; t < t_total; ++t) {
    float* y = out + t * dim;
    std::fill_n(y, dim, 0.0f);
    for (int64_t j = 0; j < top_k; ++j) {
      const float wj = weights[static_cast<size_t>(t * top_k + j)];
      const float* o = slots.data() + (t * top_k + j) * dim;
      for (int64_t d = 0; d < dim; ++d) {
        const float prod = wj * o[d];
        y[d] = y[d] + prod;
      }
    }
  }
  if (record != nullptr) {
    record->router_probs = std::move(probs);
    record->chosen = std::move(chosen);
    record->expert_weights = std::move(weights);
    record->slot_out = std::move(slots);
  }
  return Status::Ok();
}

}  // namespace detinfer
