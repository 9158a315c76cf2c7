// AttentionBackward: gradients of Attention (attention.h) with respect to q, k and v, for a
// packed variable-length batch with contiguous K/V storage. Probabilities are recomputed from
// the forward's saved LSE (no stored P), FlashAttention-style.
//
// Math. For sequence s, query row i (absolute position p = q_pos + i), query head h, kv head
// g = h / G with G = Hq / Hkv, and every key position j *visible* to that query under the
// forward's rule (j < kv_len, not causal or j <= p, no window or j > p - window, key_mask
// keeps j):
//   Delta_ih = dot(dout_ih, out_ih)
//   r_ihj    = dot(q_ih, k_jg) * scale             (the raw score)
//   s_ihj    = r_ihj, or with a soft cap c > 0 (Gemma 2, opts.softcap):
//              s_ihj = c * tanh(r_ihj / c), t_ihj = tanh(r_ihj / c)
//   P_ihj    = exp(s_ihj - lse_ih)
//   dP_ihj   = dot(dout_ih, v_jg)                  dS_ihj = P_ihj * (dP_ihj - Delta_ih)
//   with a soft cap: dS_ihj = dS_ihj * (1 - t_ihj^2)   (the gradient w.r.t. the raw score)
//   dq_ih = scale * sum_j dS_ihj k_jg
//   dk_jg = scale * sum_{i, h in group g} dS_ihj q_ih
//   dv_jg =         sum_{i, h in group g} P_ihj dout_ih
// A query row whose lse is -Inf (the forward's "no visible key") is skipped entirely: it
// contributes nothing anywhere and its dq row is +0, never NaN.
//
// Reduction orders (the contract; every ISA path implements exactly this, fp32 throughout):
//   dot(a, b) over D: the canonical 16-lane order of reduction_order.h, lane acc = fma(a_d, b_d,
//     acc) starting from +0, lanes combined by reduce_tree::TreeSum16. Depends only on D.
//   Per (query row, head, key): s = dot(q, k) * scale;
//     soft cap c != 0 only: s = SoftCapScore(c, s, &t) (attention_isa.h: t = TanhF(s / c),
//       s = c * t; the very function the forward's SoftCapScores applies to its scores);
//     e = s - lse; P = ExpF(e); dP = dot(dout, v); dS = P * (dP - Delta);
//     soft cap c != 0 only: dS = dS * fma(-t, t, 1).
//     Each operation rounds once, in this order. Delta = dot(dout, out) once per (query row,
//     head). dv uses P, dq and dk use the final dS. With c == 0 no cap step runs at all.
//     The raw score's dot is the canonical 16-lane order above, not the forward's sequential
//     chain, so s (and P) may differ from the forward's by a rounding: an accuracy matter
//     (documented tolerances), never a reproducibility one.
//   dq_ih[d]: acc = +0; for j over the visible keys in ASCENDING position:
//     acc = fma(dS_ihj, k_jg[d], acc); finally dq_ih[d] = acc * scale.
//   dk_jg[d], dv_jg[d]: acc = +0; for i in ASCENDING query position (q_pos + i), and for each i
//     for h = g*G, g*G + 1, ..., g*G + G - 1 (the group's query heads ascending), when j is
//     visible to (i, h) and lse_ih != -Inf:
//       dv_acc = fma(P_ihj, dout_ih[d], dv_acc);  dk_acc = fma(dS_ihj, q_ih[d], dk_acc);
//     finally dv_jg[d] = dv_acc and dk_jg[d] = dk_acc * scale.
//   scale = opts.scale, or 1.0f / sqrtf(D) (both correctly rounded) when opts.scale == 0.
// Every element is ONE sequential chain fixed by the sequence's own data, so nothing depends
// on the other sequences in the call, on where the sequence sits in the packed tensors, on the
// thread count or on the ISA path. Work is split into tasks of (sequence, query head, block of
// query rows) for dq and (sequence, kv head, block of key positions) for dk/dv; a task owns
// the rows it writes, and no reduction is ever split across tasks.
//
// Rows no sequence covers: dq rows outside every [q_begin, q_begin + q_len) and dk/dv rows
// outside every [kv_begin, kv_begin + kv_len) are written as +0 (the gradient of an unused
// input is zero); keys of a sequence that no query sees get +0 too. So every element of dq, dk
// and dv is written, and stale output memory can never leak through.
//
// Restrictions (all checked; violations are errors naming the operand, sequence and sizes):
//   - f32 everywhere; contiguous K/V ([Tkv, Hkv, D], AttentionSeq::blocks must be empty);
//     D a multiple of 8 in [8, 256]; Hq % Hkv == 0 (both >= 1); scale finite; softcap finite
//     and >= 0 (0 = none), as the forward; window >= 0.
//   - The sequences' query row ranges must be pairwise disjoint, and so must their K/V row
//     ranges [kv_begin, kv_begin + kv_len): a shared K/V row would need its gradient summed
//     across sequences, which would make one sequence's result depend on the batch (SPEC §A1).
//   - dq, dk and dv must not overlap each other or any input.
#ifndef DETINFER_KERNELS_ATTENTION_BACKWARD_H_
#define DETINFER_KERNELS_ATTENTION_BACKWARD_H_

#include <span>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/attention.h"
#include "kernels/context.h"

namespace detinfer {

// q, out, dout, dq: [Tq, Hq, D] f32; k, v, dk, dv: [Tkv, Hkv, D] f32; lse: [Tq, Hq] f32.
// out and lse are the forward's outputs for the same q, k, v, seqs and opts; dout is dL/d(out).
Status AttentionBackward(const KernelContext& ctx, const TensorView& q, const TensorView& k,
                         const TensorView& v, std::span<const AttentionSeq> seqs,
                         const AttentionOptions& opts, const TensorView& out,
                         const TensorView& dout, const TensorView& lse, const TensorView& dq,
                         const TensorView& dk, const TensorView& dv);

}  // namespace detinfer

#endif  // DETINFER_KERNELS_ATTENTION_BACKWARD_H_
