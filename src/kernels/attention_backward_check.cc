#include "kernels/attention_backward_check.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "kernels/operand_checks.h"

namespace detinfer::kernels::attention_backward_check {

namespace {

namespace vc = ::detinfer::kernels;
constexpr const char* kOp = "attention_backward";
constexpr int64_t kMaxHeadDim = 256;

std::string S(int64_t x) { return std::to_string(x); }

Status Err(const std::string& m) { return Status::InvalidArgument(std::string(kOp) + ": " + m); }

// `view` must be exactly [d0, d1, d2] (rank 3) or [d0, d1] (rank 2).
Status CheckShape(const TensorView& view, const char* name, int64_t d0, int64_t d1, int64_t d2,
                  int rank, const char* why) {
  const bool ok = view.shape[0] == d0 && view.shape[1] == d1 && (rank == 2 || view.shape[2] == d2);
  if (ok) return Status::Ok();
  return Err(std::string(name) + " is " + view.ShapeString() + " but must be [" + S(d0) + ", " +
             S(d1) + (rank == 3 ? ", " + S(d2) : std::string()) + "] f32 (" + why + ")");
}

// Marks rows [begin, begin + len) as owned by sequence `si`; two sequences may not share a row.
Status Claim(std::vector<int64_t>* owner, int64_t begin, int64_t len, size_t si,
             const char* what) {
  for (int64_t r = begin; r < begin + len; ++r) {
    int64_t& o = (*owner)[static_cast<size_t>(r)];
    if (o >= 0) {
      return Err("seqs[" + std::to_string(si) + "] and seqs[" + S(o) + "] both use " + what +
                 " row " + S(r) + " (each sequence needs its own rows: a shared row's gradient "
                 "would depend on the batch)");
    }
    o = static_cast<int64_t>(si);
  }
  return Status::Ok();
}

std::vector<uint8_t> Covered(const std::vector<int64_t>& owner) {
  std::vector<uint8_t> c(owner.size());
  for (size_t i = 0; i < owner.size(); ++i) c[i] = owner[i] >= 0 ? 1 : 0;
  return c;
}

}  // namespace

float EffectiveScale(const AttentionOptions& opts, int64_t d) {
  return opts.scale != 0.0f ? opts.scale : 1.0f / std::sqrt(static_cast<float>(d));
}

Status CheckOperands(const TensorView& q, const TensorView& k, const TensorView& v,
                     const TensorView& out, const TensorView& dout, const TensorView& lse,
                     const TensorView& dq, const TensorView& dk, const TensorView& dv,
                     const AttentionOptions& opts) {
  const std::string p = std::string(kOp) + ": ";
  const TensorView* t3[] = {&q, &k, &v, &out, &dout, &dq, &dk, &dv};
  const char* n3[] = {"q", "k", "v", "out", "dout", "dq", "dk", "dv"};
  for (int i = 0; i < 8; ++i) DETINFER_RETURN_IF_ERROR(CheckTensor(*t3[i], p + n3[i], 3, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(lse, p + "lse", 2, DType::kF32));
  const int64_t tq = q.dim(0), hq = q.dim(1), d = q.dim(2), tkv = k.dim(0), hkv = k.dim(1);
  if (d % 8 != 0 || d < 8 || d > kMaxHeadDim) {
    return Err("q is " + q.ShapeString() + ": head dim D=" + S(d) +
               " must be a multiple of 8 in [8, " + S(kMaxHeadDim) + "]");
  }
  if (hq < 1 || hkv < 1 || hq % hkv != 0) {
    return Err("q has Hq=" + S(hq) + " heads and k has Hkv=" + S(hkv) +
               ": need Hq, Hkv >= 1 and Hq % Hkv == 0 (q " + q.ShapeString() + ", k " +
               k.ShapeString() + ")");
  }
  DETINFER_RETURN_IF_ERROR(CheckShape(k, "k", tkv, hkv, d, 3, "D of q"));
  const char* why_q = "the shape of q";
  DETINFER_RETURN_IF_ERROR(CheckShape(out, "out", tq, hq, d, 3, why_q));
  DETINFER_RETURN_IF_ERROR(CheckShape(dout, "dout", tq, hq, d, 3, why_q));
  DETINFER_RETURN_IF_ERROR(CheckShape(dq, "dq", tq, hq, d, 3, why_q));
  DETINFER_RETURN_IF_ERROR(CheckShape(lse, "lse", tq, hq, 0, 2, "[Tq, Hq] of q"));
  const char* why_k = "the shape of k";
  DETINFER_RETURN_IF_ERROR(CheckShape(v, "v", tkv, hkv, d, 3, why_k));
  DETINFER_RETURN_IF_ERROR(CheckShape(dk, "dk", tkv, hkv, d, 3, why_k));
  DETINFER_RETURN_IF_ERROR(CheckShape(dv, "dv", tkv, hkv, d, 3, why_k));
  if (!std::isfinite(opts.scale)) {
    return Err("scale must be finite, got " + std::to_string(opts.scale));
  }
  if (!(opts.softcap >= 0.0f) || !std::isfinite(opts.softcap)) {
    return Err("softcap must be finite and >= 0 (0 = none), got " + std::to_string(opts.softcap));
  }
  if (opts.window < 0) {
    return Err("window must be >= 0 (0 = no sliding window), got " + std::to_string(opts.window));
  }
  // Outputs may alias nothing: each is read-modify-written by tasks that also read the inputs.
  const TensorView* outs[] = {&dq, &dk, &dv};
  const char* out_names[] = {"dq", "dk", "dv"};
  const TensorView* all[] = {&q, &k, &v, &out, &dout, &lse, &dq, &dk, &dv};
  const char* all_names[] = {"q", "k", "v", "out", "dout", "lse", "dq", "dk", "dv"};
  for (int o = 0; o < 3; ++o) {
    for (int a = 0; a < 9; ++a) {
      if (all[a] == outs[o] || (a >= 6 && a - 6 <= o)) continue;  // itself, or pair seen
      if (vc::Overlaps(*outs[o], *all[a])) {
        return Err(std::string(out_names[o]) + " " + outs[o]->ShapeString() + " overlaps " +
                   all_names[a] + " " + all[a]->ShapeString());
      }
    }
  }
  return Status::Ok();
}

Status CheckSequences(std::span<const AttentionSeq> seqs, int64_t tq, int64_t tkv,
                      std::vector<uint8_t>* q_covered, std::vector<uint8_t>* kv_covered) {
  std::vector<int64_t> q_owner(static_cast<size_t>(tq), -1), kv_owner(static_cast<size_t>(tkv), -1);
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  for (size_t si = 0; si < seqs.size(); ++si) {
    const AttentionSeq& s = seqs[si];
    const std::string at = "seqs[" + std::to_string(si) + "]: ";
    if (s.q_begin < 0 || s.q_len < 0 || s.q_begin > tq || s.q_len > tq - s.q_begin) {
      return Err(at + "query rows [q_begin=" + S(s.q_begin) + ", +q_len=" + S(s.q_len) +
                 ") are outside q's Tq=" + S(tq) + " rows");
    }
    // q_pos + q_len must stay representable so that "position + 1" never overflows.
    if (s.q_pos < 0 || s.q_pos > kMax - 1 - s.q_len) {
      return Err(at + "q_pos=" + S(s.q_pos) + " must be in [0, 2^63 - 1 - q_len)");
    }
    if (s.kv_begin < 0 || s.kv_len < 0 || s.kv_begin > tkv || s.kv_len > tkv - s.kv_begin) {
      return Err(at + "K/V rows [kv_begin=" + S(s.kv_begin) + ", +kv_len=" + S(s.kv_len) +
                 ") are outside k's Tkv=" + S(tkv) + " rows");
    }
    if (!s.blocks.empty()) {
      return Err(at + "has " + std::to_string(s.blocks.size()) +
                 " paged blocks, but the backward pass supports contiguous K/V only");
    }
    if (!s.key_mask.empty() && static_cast<int64_t>(s.key_mask.size()) != s.kv_len) {
      return Err(at + "key_mask has " + std::to_string(s.key_mask.size()) +
                 " entries but kv_len=" + S(s.kv_len));
    }
    DETINFER_RETURN_IF_ERROR(Claim(&q_owner, s.q_begin, s.q_len, si, "query"));
    DETINFER_RETURN_IF_ERROR(Claim(&kv_owner, s.kv_begin, s.kv_len, si, "K/V"));
  }
  *q_covered = Covered(q_owner);
  *kv_covered = Covered(kv_owner);
  return Status::Ok();
}

}  // namespace detinfer::kernels::attention_backward_check
