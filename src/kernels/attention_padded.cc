// AttentionPadded (SPEC §A8): a padded batch is turned into the packed variable-length call by
// gathering each row's real positions (in order) into packed buffers, running Attention, and
// scattering the results back. Gathering copies stored bits unchanged (K/V keep their storage
// dtype), so a real position's output is, by construction, the packed call's output: the
// padding's place (left, right, in between) and the other rows cannot reach it.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "kernels/attention.h"
#include "kernels/attention_checks.h"
#include "kernels/operand_checks.h"

namespace detinfer {

namespace {

std::string Str(int64_t v) { return std::to_string(v); }

// Address of row [b, s, h, :] of a rank-4 view.
inline const char* Row4(const TensorView& v, int64_t b, int64_t s, int64_t h) {
  const int64_t off = b * v.stride[0] + s * v.stride[1] + h * v.stride[2];
  return static_cast<const char*>(v.data) + off * static_cast<int64_t>(DTypeSize(v.dtype));
}

Status CheckPadded(const std::string& op, const TensorView& q, const TensorView& k,
                   const TensorView& v, std::span<const uint8_t> mask, const TensorView& out,
                   const TensorView& lse) {
  namespace ac = kernels::attention_checks;
  namespace vc = kernels;
  DETINFER_RETURN_IF_ERROR(CheckTensor(q, op + ": q", 4, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(out, op + ": out", 4, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(lse, op + ": lse", 3, DType::kF32));
  const int64_t b = q.dim(0), s = q.dim(1), hq = q.dim(2), d = q.dim(3);
  if (d % 8 != 0 || d < 8 || d > kAttentionMaxHeadDim) {
    return Status::InvalidArgument(op + ": head dim D=" + Str(d) + " (q " + q.ShapeString() +
                                   ") must be a multiple of 8 in [8, " +
                                   Str(kAttentionMaxHeadDim) + "]");
  }
  DETINFER_RETURN_IF_ERROR(ac::CheckKv(op, k, "k", v, "v", 4, hq, d));
  if (k.dim(0) != b || k.dim(1) != s) {
    return Status::InvalidArgument(op + ": k is " + k.ShapeString() + " but q is " +
                                   q.ShapeString() + " (want the same B and S)");
  }
  if (!vc::SameShape(out, q) || out.dtype != q.dtype) {
    return Status::InvalidArgument(op + ": out is " + out.ShapeString() + " but q is " +
                                   q.ShapeString());
  }
  if (lse.dim(0) != b || lse.dim(1) != s || lse.dim(2) != hq) {
    return Status::InvalidArgument(op + ": lse is " + lse.ShapeString() + " but q is " +
                                   q.ShapeString() + " (want [B, S, Hq] f32)");
  }
  if (!mask.empty() && static_cast<int64_t>(mask.size()) != b * s) {
    return Status::InvalidArgument(op + ": key_padding_mask has " +
                                   Str(static_cast<int64_t>(mask.size())) +
                                   " entries but q is " + q.ShapeString() + " (want B*S = " +
                                   Str(b * s) + ")");
  }
  const TensorView* inputs[] = {&q, &k, &v};
  const char* const names[] = {"q", "k", "v"};
  return ac::CheckNoOverlap(op, out, lse, inputs, names, 3);
}

}  // namespace

Status AttentionPadded(const KernelContext& ctx, const TensorView& q, const TensorView& k,
                       const TensorView& v, std::span<const uint8_t> key_padding_mask,
                       const AttentionOptions& opts, const TensorView& out,
                       const TensorView& lse) {
  const std::string op = "attention_padded";
  DETINFER_RETURN_IF_ERROR(CheckPadded(op, q, k, v, key_padding_mask, out, lse));
  const int64_t nb = q.dim(0), ns = q.dim(1), hq = q.dim(2), d = q.dim(3), hkv = k.dim(2);
  auto real = [&](int64_t b, int64_t s) {
    return key_padding_mask.empty() || key_padding_mask[static_cast<size_t>(b * ns + s)] != 0;
  };
  std::vector<AttentionSeq> seqs;
  int64_t total = 0;
  for (int64_t b = 0; b < nb; ++b) {
    int64_t n = 0;
    for (int64_t s = 0; s < ns; ++s) n += real(b, s) ? 1 : 0;
    AttentionSeq sq;
    sq.q_begin = sq.kv_begin = total;
    sq.q_len = sq.kv_len = n;
    seqs.push_back(sq);
    total += n;
  }
  const size_t kv_elem = DTypeSize(k.dtype);
  const size_t q_row = static_cast<size_t>(d) * sizeof(float), kv_row = static_cast<size_t>(d) * kv_elem;
  const size_t tq = static_cast<size_t>(total);
  DETINFER_ASSIGN_OR_RETURN(AlignedBuffer qp, AlignedBuffer::Allocate(tq * static_cast<size_t>(hq) * q_row));
  DETINFER_ASSIGN_OR_RETURN(AlignedBuffer op_buf, AlignedBuffer::Allocate(tq * static_cast<size_t>(hq) * q_row));
  DETINFER_ASSIGN_OR_RETURN(AlignedBuffer lp, AlignedBuffer::Allocate(tq * static_cast<size_t>(hq) * sizeof(float)));
  DETINFER_ASSIGN_OR_RETURN(AlignedBuffer kp, AlignedBuffer::Allocate(tq * static_cast<size_t>(hkv) * kv_row));
  DETINFER_ASSIGN_OR_RETURN(AlignedBuffer vp, AlignedBuffer::Allocate(tq * static_cast<size_t>(hkv) * kv_row));
  // Gather: packed row t of sequence b is its t-th real position.
  int64_t t = 0;
  for (int64_t b = 0; b < nb; ++b) {
    for (int64_t s = 0; s < ns; ++s) {
      if (!real(b, s)) continue;
      for (int64_t h = 0; h < hq; ++h) {
        std::memcpy(qp.as<char>() + static_cast<size_t>(t * hq + h) * q_row, Row4(q, b, s, h), q_row);
      }
      for (int64_t h = 0; h < hkv; ++h) {
        std::memcpy(kp.as<char>() + static_cast<size_t>(t * hkv + h) * kv_row, Row4(k, b, s, h), kv_row);
        std::memcpy(vp.as<char>() + static_cast<size_t>(t * hkv + h) * kv_row, Row4(v, b, s, h), kv_row);
      }
      ++t;
    }
  }
  const TensorView qv = TensorView::Contiguous(qp.data(), DType::kF32, {total, hq, d});
  const TensorView ov = TensorView::Contiguous(op_buf.data(), DType::kF32, {total, hq, d});
  const TensorView lv = TensorView::Contiguous(lp.data(), DType::kF32, {total, hq});
  KvView kv;
  kv.k = TensorView::Contiguous(kp.data(), k.dtype, {total, hkv, d});
  kv.v = TensorView::Contiguous(vp.data(), k.dtype, {total, hkv, d});
  DETINFER_RETURN_IF_ERROR(Attention(ctx, qv, kv, seqs, opts, ov, lv));
  // Scatter back; padded positions get out = 0, lse = -Inf.
  t = 0;
  for (int64_t b = 0; b < nb; ++b) {
    for (int64_t s = 0; s < ns; ++s) {
      const bool r = real(b, s);
      for (int64_t h = 0; h < hq; ++h) {
        float* o = const_cast<float*>(reinterpret_cast<const float*>(Row4(out, b, s, h)));
        float* l = lse.as<float>() + b * lse.stride[0] + s * lse.stride[1] + h * lse.stride[2];
        if (r) {
          std::memcpy(o, op_buf.as<char>() + static_cast<size_t>(t * hq + h) * q_row, q_row);
          *l = lv.as<float>()[t * hq + h];
        } else {
          std::memset(o, 0, q_row);
          *l = -INFINITY;
        }
      }
      if (r) ++t;
    }
  }
  return Status::Ok();
}

}  // namespace detinfer
