// Attention over a packed variable-length batch: validation of the sequences and of contiguous
// or paged K/V storage, and the row lookup for each layout. The arithmetic is
// attention_driver.h + the ISA block kernels, shared with AttentionWithCache.
#include "kernels/attention.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/attention_checks.h"
#include "kernels/attention_driver.h"

namespace detinfer {

namespace {

namespace ac = kernels::attention_checks;
namespace ad = kernels::attention_driver;

std::string Str(int64_t v) { return std::to_string(v); }

// Byte address of element [i0, i1, i2, 0] (rank 3) or [i0, i1, i2, i3, 0] style rows.
const char* Base(const TensorView& v) { return static_cast<const char*>(v.data); }

// K/V [Tkv, Hkv, D]: position t of a sequence is row kv_begin + t.
struct ContiguousLocator {
  const char *k, *v;
  int64_t ks0, ks1, vs0, vs1;  // byte strides
  std::span<const AttentionSeq> seqs;
  void Row(int64_t s, int64_t pos, int64_t g, const void** kp, const void** vp) const {
    const int64_t row = seqs[static_cast<size_t>(s)].kv_begin + pos;
    *kp = k + row * ks0 + g * ks1;
    *vp = v + row * vs0 + g * vs1;
  }
};

// K/V [num_blocks, block_size, Hkv, D]: position t is slot t % bs of block blocks[t / bs].
struct PagedLocator {
  const char *k, *v;
  int64_t bs;
  int64_t ks0, ks1, ks2, vs0, vs1, vs2;  // byte strides
  std::span<const AttentionSeq> seqs;
  void Row(int64_t s, int64_t pos, int64_t g, const void** kp, const void** vp) const {
    const int64_t blk = seqs[static_cast<size_t>(s)].blocks[static_cast<size_t>(pos / bs)];
    const int64_t slot = pos % bs;
    *kp = k + blk * ks0 + slot * ks1 + g * ks2;
    *vp = v + blk * vs0 + slot * vs1 + g * vs2;
  }
};

Status CheckSeqs(const TensorView& q, const KvView& kv, std::span<const AttentionSeq> seqs,
                 bool causal) {
  const int64_t tq = q.dim(0);
  std::vector<std::pair<int64_t, int64_t>> ranges;  // (q_begin, seq index) of non-empty ranges
  for (size_t i = 0; i < seqs.size(); ++i) {
    const AttentionSeq& s = seqs[i];
    const std::string who = "attention: sequence " + Str(static_cast<int64_t>(i)) + ": ";
    if (s.q_begin < 0 || s.q_len < 0 || s.q_begin > tq || s.q_len > tq - s.q_begin) {
      return Status::InvalidArgument(who + "query rows [" + Str(s.q_begin) + ", +" +
                                     Str(s.q_len) + ") are outside q " + q.ShapeString());
    }
    if (s.q_pos < 0 || s.kv_len < 0 || s.q_pos > (int64_t{1} << 50)) {
      return Status::InvalidArgument(who + "q_pos=" + Str(s.q_pos) + " and kv_len=" +
                                     Str(s.kv_len) + " must be non-negative (and q_pos < 2^50)");
    }
    if (causal && s.q_len > 0 && s.q_pos + s.q_len > s.kv_len) {
      return Status::InvalidArgument(
          who + "causal queries at positions [" + Str(s.q_pos) + ", " + Str(s.q_pos + s.q_len) +
          ") need their own keys stored, but kv_len=" + Str(s.kv_len));
    }
    if (!s.key_mask.empty() && static_cast<int64_t>(s.key_mask.size()) != s.kv_len) {
      return Status::InvalidArgument(who + "key_mask has " +
                                     Str(static_cast<int64_t>(s.key_mask.size())) +
                                     " entries but kv_len=" + Str(s.kv_len));
    }
    if (!kv.paged) {
      const int64_t tkv = kv.k.dim(0);
      if (s.kv_begin < 0 || s.kv_begin > tkv || s.kv_len > tkv - s.kv_begin) {
        return Status::InvalidArgument(who + "kv rows [" + Str(s.kv_begin) + ", +" +
                                       Str(s.kv_len) + ") are beyond k/v storage " +
                                       kv.k.ShapeString());
      }
    } else {
      const int64_t nb = kv.k.dim(0), bs = kv.k.dim(1);
      if (bs < 1 && s.kv_len > 0) {
        return Status::InvalidArgument(who + "paged k/v " + kv.k.ShapeString() +
                                       " has block_size 0");
      }
      const int64_t needed = s.kv_len == 0 ? 0 : (s.kv_len + bs - 1) / bs;
      if (static_cast<int64_t>(s.blocks.size()) < needed) {
        return Status::InvalidArgument(who + "kv_len=" + Str(s.kv_len) + " needs " +
                                       Str(needed) + " blocks of " + Str(bs) + " but only " +
                                       Str(static_cast<int64_t>(s.blocks.size())) +
                                       " are listed (beyond storage)");
      }
      for (int64_t b = 0; b < needed; ++b) {
        const int32_t id = s.blocks[static_cast<size_t>(b)];
        if (id < 0 || id >= nb) {
          return Status::OutOfRange(who + "block id " + Str(id) + " at blocks[" + Str(b) +
                                    "] is out of range [0, " + Str(nb) + ") of k/v " +
                                    kv.k.ShapeString());
        }
      }
    }
    if (s.q_len > 0) ranges.emplace_back(s.q_begin, static_cast<int64_t>(i));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t j = 1; j < ranges.size(); ++j) {
    const AttentionSeq& a = seqs[static_cast<size_t>(ranges[j - 1].second)];
    if (a.q_begin + a.q_len > ranges[j].first) {
      return Status::InvalidArgument(
          "attention: sequences " + Str(ranges[j - 1].second) + " and " + Str(ranges[j].second) +
          " share query rows (starting at " + Str(a.q_begin) + " and " + Str(ranges[j].first) +
          ")");
    }
  }
  return Status::Ok();
}

}  // namespace

Status Attention(const KernelContext& ctx, const TensorView& q, const KvView& kv,
                 std::span<const AttentionSeq> seqs, const AttentionOptions& opts,
                 const TensorView& out, const TensorView& lse) {
  const std::string op = "attention";
  DETINFER_RETURN_IF_ERROR(ac::CheckQueries(op, q, out, lse));
  const int rank = kv.paged ? 4 : 3;
  DETINFER_RETURN_IF_ERROR(ac::CheckKv(op, kv.k, "k", kv.v, "v", rank, q.dim(1), q.dim(2)));
  const TensorView* inputs[] = {&q, &kv.k, &kv.v};
  const char* const names[] = {"q", "k", "v"};
  DETINFER_RETURN_IF_ERROR(ac::CheckNoOverlap(op, out, lse, inputs, names, 3));
  DETINFER_RETURN_IF_ERROR(CheckSeqs(q, kv, seqs, opts.causal));
  DETINFER_ASSIGN_OR_RETURN(const ad::Shape sh, ac::ResolveShape(op, q, kv.k.dim(rank - 2), opts));
  const int64_t e = static_cast<int64_t>(DTypeSize(kv.k.dtype));
  if (!kv.paged) {
    const ContiguousLocator loc{Base(kv.k), Base(kv.v), kv.k.stride[0] * e, kv.k.stride[1] * e,
                                kv.v.stride[0] * e, kv.v.stride[1] * e, seqs};
    ad::Run(ctx, q, sh, kv.k.dtype, seqs, out, lse, loc);
  } else {
    const PagedLocator loc{Base(kv.k), Base(kv.v), kv.k.dim(1),
                           kv.k.stride[0] * e, kv.k.stride[1] * e, kv.k.stride[2] * e,
                           kv.v.stride[0] * e, kv.v.stride[1] * e, kv.v.stride[2] * e, seqs};
    ad::Run(ctx, q, sh, kv.k.dtype, seqs, out, lse, loc);
  }
  return Status::Ok();
}

}  // namespace detinfer
