// AttentionBackward: operand validation, the split into tasks, and the loops that fix every
// reduction order (attention_backward.h). All arithmetic over D goes through the per-ISA
// primitives of attention_backward_isa.h, which agree bit for bit; the per-element scalar steps
// here (score scaling, the soft cap, exp, dS) are shared by every path, so they cannot make
// paths differ.
#include "kernels/attention_backward.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/attention_backward_check.h"
#include "kernels/attention_backward_isa.h"
#include "kernels/attention_isa.h"
#include "kernels/math.h"

namespace detinfer {

namespace {

namespace abk = kernels::attention_backward;

struct Prims {
  float (*dot)(const float*, const float*, int64_t);
  void (*axpy)(float, const float*, float*, int64_t);
  void (*scale)(float, float*, int64_t);
};

Prims Select(Isa isa) {
  switch (isa) {
#if defined(DETINFER_ARCH_X86_64)
    case Isa::kAvx512:
    case Isa::kAvx512Bf16: return {abk::avx512::Dot, abk::avx512::Axpy, abk::avx512::Scale};
    case Isa::kAvx2: return {abk::avx2::Dot, abk::avx2::Axpy, abk::avx2::Scale};
#endif
    default: break;  // scalar, and the neon path (which runs the scalar loop for this op)
  }
  return {abk::scalar::Dot, abk::scalar::Axpy, abk::scalar::Scale};
}

// A [T, H, D] (or [T, H]) f32 operand as a base pointer and row/head strides.
struct Rows {
  float* base;
  int64_t row_stride, head_stride;
  float* at(int64_t row, int64_t head) const { return base + row * row_stride + head * head_stride; }
};
Rows RowsOf(const TensorView& t) { return {t.as<float>(), t.stride[0], t.stride[1]}; }

// Work items. Block sizes only decide who computes which rows, never an order (see header).
constexpr int64_t kQueriesPerTask = 64;
constexpr int64_t kKeysPerTask = 64;
struct Task {
  bool kv;          // false: dq of queries [begin, end); true: dk/dv of keys [begin, end)
  int64_t seq, head, begin, end;
};

class Backward {
 public:
  Backward(const KernelContext& ctx, const TensorView& q, const TensorView& k, const TensorView& v,
           std::span<const AttentionSeq> seqs, const AttentionOptions& opts,
           const TensorView& out, const TensorView& dout, const TensorView& lse,
           const TensorView& dq, const TensorView& dk, const TensorView& dv)
      : pr_(Select(ctx.isa)), seqs_(seqs), causal_(opts.causal), window_(opts.window),
        softcap_(opts.softcap),
        scale_(kernels::attention_backward_check::EffectiveScale(opts, q.dim(2))),
        group_(q.dim(1) / k.dim(1)), d_(q.dim(2)),
        q_(RowsOf(q)), k_(RowsOf(k)), v_(RowsOf(v)), out_(RowsOf(out)), dout_(RowsOf(dout)),
        lse_(RowsOf(lse)), dq_(RowsOf(dq)), dk_(RowsOf(dk)), dv_(RowsOf(dv)) {}

  void QueryTask(const Task& t) const {
    const AttentionSeq& s = seqs_[static_cast<size_t>(t.seq)];
    const int64_t h = t.head, g = h / group_;
    for (int64_t i = t.begin; i < t.end; ++i) {
      const int64_t row = s.q_begin + i, pos = s.q_pos + i;
      float* acc = dq_.at(row, h);
      std::fill(acc, acc + d_, 0.0f);
      const float lse = *lse_.at(row, h);
      if (lse == -INFINITY) continue;  // no visible key in the forward: contributes nothing
      const float* qi = q_.at(row, h);
      const float* doi = dout_.at(row, h);
      const float delta = pr_.dot(doi, out_.at(row, h), d_);
      // Keys strictly ascending: the one order of dq (header).
      for (int64_t j = KeyBegin(pos), jend = KeyEnd(pos, s.kv_len); j < jend; ++j) {
        if (Masked(s, j)) continue;
        const float* kj = k_.at(s.kv_begin + j, g);
        const float ds = Ds(qi, doi, lse, delta, kj, v_.at(s.kv_begin + j, g), nullptr);
        pr_.axpy(ds, kj, acc, d_);
      }
      pr_.scale(scale_, acc, d_);
    }
  }

  void KeyTask(const Task& t) const {
    const AttentionSeq& s = seqs_[static_cast<size_t>(t.seq)];
    const int64_t g = t.head;
    for (int64_t j = t.begin; j < t.end; ++j) {
      std::fill(dk_.at(s.kv_begin + j, g), dk_.at(s.kv_begin + j, g) + d_, 0.0f);
      std::fill(dv_.at(s.kv_begin + j, g), dv_.at(s.kv_begin + j, g) + d_, 0.0f);
    }
    // Causal: a query at position p < t.begin sees no key of this block. t.begin - q_pos can't
    // overflow (both are validated non-negative).
    const int64_t i0 = causal_ ? std::max<int64_t>(0, t.begin - s.q_pos) : 0;
    // Query positions ascending, then the group's query heads ascending: the one order of
    // dk/dv (header). The key loop is innermost only because keys are independent outputs.
    for (int64_t i = i0; i < s.q_len; ++i) {
      const int64_t row = s.q_begin + i, jend = KeyEnd(s.q_pos + i, t.end);
      for (int64_t h = g * group_; h < (g + 1) * group_; ++h) {
        const float lse = *lse_.at(row, h);
        if (lse == -INFINITY) continue;
        const float* qi = q_.at(row, h);
        const float* doi = dout_.at(row, h);
        const float delta = pr_.dot(doi, out_.at(row, h), d_);
        for (int64_t j = std::max(t.begin, KeyBegin(s.q_pos + i)); j < jend; ++j) {
          if (Masked(s, j)) continue;
          const int64_t kr = s.kv_begin + j;
          float p;
          const float ds = Ds(qi, doi, lse, delta, k_.at(kr, g), v_.at(kr, g), &p);
          pr_.axpy(p, doi, dv_.at(kr, g), d_);
          pr_.axpy(ds, qi, dk_.at(kr, g), d_);
        }
      }
    }
    for (int64_t j = t.begin; j < t.end; ++j) pr_.scale(scale_, dk_.at(s.kv_begin + j, g), d_);
  }

 private:
  // One past the last key position visible to a query at `pos`, capped at `cap` (<= kv_len).
  int64_t KeyEnd(int64_t pos, int64_t cap) const {
    return causal_ ? std::min(cap, pos + 1) : cap;  // pos + 1 can't overflow (validated)
  }
  // The first key position visible to a query at `pos`: 0, or pos - window + 1 under a
  // sliding window (attention.h).
  int64_t KeyBegin(int64_t pos) const {
    return window_ > 0 ? std::max<int64_t>(0, pos - window_ + 1) : 0;
  }
  static bool Masked(const AttentionSeq& s, int64_t j) {
    return !s.key_mask.empty() && s.key_mask[static_cast<size_t>(j)] == 0;
  }
  // dS for one (query, head, key), in the header's operation order; P is returned through p.
  // With a soft cap, the score is capped by the forward's own function before P, and the
  // result is the gradient w.r.t. the raw (uncapped) score: dS * (1 - t^2).
  float Ds(const float* qi, const float* doi, float lse, float delta, const float* kj,
           const float* vj, float* p_out) const {
    float sc = pr_.dot(qi, kj, d_) * scale_;
    float t = 0.0f;
    if (softcap_ != 0.0f) sc = kernels::SoftCapScore(softcap_, sc, &t);
    const float p = ExpF(sc - lse);
    const float dp = pr_.dot(doi, vj, d_);
    if (p_out != nullptr) *p_out = p;
    const float ds = p * (dp - delta);
    return softcap_ != 0.0f ? ds * std::fma(-t, t, 1.0f) : ds;
  }

  Prims pr_;
  std::span<const AttentionSeq> seqs_;
  bool causal_;
  int64_t window_;
  float softcap_;  // 0 = none
  float scale_;
  int64_t group_, d_;
  Rows q_, k_, v_, out_, dout_, lse_, dq_, dk_, dv_;
};

std::vector<Task> MakeTasks(std::span<const AttentionSeq> seqs, int64_t hq, int64_t hkv) {
  std::vector<Task> tasks;
  for (size_t si = 0; si < seqs.size(); ++si) {
    const AttentionSeq& s = seqs[si];
    const auto sid = static_cast<int64_t>(si);
    for (int64_t h = 0; h < hq; ++h) {
      for (int64_t i = 0; i < s.q_len; i += kQueriesPerTask) {
        tasks.push_back({false, sid, h, i, std::min(s.q_len, i + kQueriesPerTask)});
      }
    }
    for (int64_t g = 0; g < hkv; ++g) {
      for (int64_t j = 0; j < s.kv_len; j += kKeysPerTask) {
        tasks.push_back({true, sid, g, j, std::min(s.kv_len, j + kKeysPerTask)});
      }
    }
  }
  return tasks;
}

// Writes +0 to rows [0, n) of a [n, H, D] operand that `covered` does not mark.
void ZeroUncovered(const TensorView& t, const std::vector<uint8_t>& covered) {
  const Rows r = RowsOf(t);
  for (int64_t row = 0; row < t.dim(0); ++row) {
    if (covered[static_cast<size_t>(row)]) continue;
    for (int64_t h = 0; h < t.dim(1); ++h) std::fill(r.at(row, h), r.at(row, h) + t.dim(2), 0.0f);
  }
}

}  // namespace

Status AttentionBackward(const KernelContext& ctx, const TensorView& q, const TensorView& k,
                         const TensorView& v, std::span<const AttentionSeq> seqs,
                         const AttentionOptions& opts, const TensorView& out,
                         const TensorView& dout, const TensorView& lse, const TensorView& dq,
                         const TensorView& dk, const TensorView& dv) {
  namespace chk = kernels::attention_backward_check;
  DETINFER_RETURN_IF_ERROR(chk::CheckOperands(q, k, v, out, dout, lse, dq, dk, dv, opts));
  std::vector<uint8_t> q_covered, kv_covered;
  DETINFER_RETURN_IF_ERROR(chk::CheckSequences(seqs, q.dim(0), k.dim(0), &q_covered,
                                               &kv_covered));
  ZeroUncovered(dq, q_covered);
  ZeroUncovered(dk, kv_covered);
  ZeroUncovered(dv, kv_covered);
  const Backward bw(ctx, q, k, v, seqs, opts, out, dout, lse, dq, dk, dv);
  const std::vector<Task> tasks = MakeTasks(seqs, q.dim(1), k.dim(1));
  ctx.ParallelFor(static_cast<int64_t>(tasks.size()), [&](int64_t t) {
    const Task& task = tasks[static_cast<size_t>(t)];
    if (task.kv) {
      bw.KeyTask(task);
    } else {
      bw.QueryTask(task);
    }
  });
  return Status::Ok();
}

}  // namespace detinfer
