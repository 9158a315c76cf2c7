// Attention over a packed variable-length batch: validation of the sequences and of contiguous
// or paged K/V storage, and the row lookup for each layout. The arithmetic is
// attention_driver.h + the ISA block kernels, shared with AttentionWithCache.
#include "kernels/attention.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/attention_checks.h"
#include "kernels/attention_driver.h"
#include "kernels/math.h"

namespace detinfer {

namespace kernels {

float SoftCapScore(float cap, float score, float* tanh_out) {
  const float t = TanhF(score / cap);
  *tanh_out = t;
  return cap * t;
}

void SoftCapScores(float cap, float* scores, int32_t count) {
  if (cap == 0.0f) return;
  float t;
  for (int32_t u = 0; u < count; ++u) scores[u] = SoftCapScore(cap, scores[u], &t);
}

}  // namespace kernels

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

// v [Hkv, num_blocks, block_size, D]; k [Hkv, num_blocks * block_size / 16, D, 16]: position t
// is slot t % bs of block blocks[t / bs]; its key is lane t % 16 of chunk
// block * (bs / 16) + slot / 16.
struct TiledLocator {
  const char *k, *v;
  int64_t bs, elem, dim;
  int64_t ks0, ks1, vs0, vs1, vs2;  // byte strides
  std::span<const AttentionSeq> seqs;
  int64_t Block(int64_t s, int64_t pos) const {
    return seqs[static_cast<size_t>(s)].blocks[static_cast<size_t>(pos / bs)];
  }
  void Row(int64_t s, int64_t pos, int64_t g, const void** kp, const void** vp) const {
    *kp = nullptr;
    *vp = v + g * vs0 + Block(s, pos) * vs1 + (pos % bs) * vs2;
  }
  // V rows of the n consecutive positions from pos (one block-table lookup per block).
  void ValueRows(int64_t s, int64_t pos, int64_t n, int64_t g, const void** vp) const {
    const char* head = v + g * vs0;
    for (int64_t i = 0; i < n;) {
      const int64_t p = pos + i, slot = p % bs, run = std::min(n - i, bs - slot);
      const char* row = head + Block(s, p) * vs1 + slot * vs2;
      for (int64_t j = 0; j < run; ++j) vp[i + j] = row + j * vs2;
      i += run;
    }
  }
  const void* KeyChunk(int64_t s, int64_t pos, int64_t g) const {
    const int64_t chunk = Block(s, pos) * (bs / 16) + pos % bs / 16;
    return k + g * ks0 + chunk * ks1 + (pos % 16) * elem;
  }
  void KeyRow(int64_t s, int64_t pos, int64_t g, void* dst) const {
    const char* src = static_cast<const char*>(KeyChunk(s, pos, g));
    for (int64_t d = 0; d < dim; ++d) {
      std::memcpy(static_cast<char*>(dst) + d * elem, src + d * 16 * elem, static_cast<size_t>(elem));
    }
  }
};

// The key-tiled layout's shapes (KvLayout::kPagedTiled).
Status CheckTiledKv(const TensorView& k, const TensorView& v, int64_t hq, int64_t d) {
  DETINFER_RETURN_IF_ERROR(CheckTensorAnyDType(k, "attention: k", 4));
  DETINFER_RETURN_IF_ERROR(CheckTensorAnyDType(v, "attention: v", 4));
  if (k.dtype != v.dtype) {
    return Status::InvalidArgument("attention: k " + k.ShapeString() + " and v " +
                                   v.ShapeString() + " must have the same dtype");
  }
  if (v.dim(3) != d) {
    return Status::InvalidArgument("attention: v " + v.ShapeString() + " has head dim " +
                                   Str(v.dim(3)) + " but q has D=" + Str(d));
  }
  const int64_t hkv = v.dim(0), bs = v.dim(2);
  if (hkv < 1 || hq % hkv != 0) {
    return Status::InvalidArgument("attention: query heads Hq=" + Str(hq) +
                                   " must be a multiple of the kv heads Hkv=" + Str(hkv) +
                                   " (v " + v.ShapeString() + ")");
  }
  if (bs % kAttentionKeyChunk != 0) {
    return Status::InvalidArgument("attention: key-tiled paged v " + v.ShapeString() +
                                   " has block_size " + Str(bs) + ", not a multiple of " +
                                   Str(kAttentionKeyChunk));
  }
  const int64_t chunks = v.dim(1) * bs / kAttentionKeyChunk;
  if (k.dim(0) != hkv || k.dim(1) != chunks || k.dim(2) != d || k.dim(3) != kAttentionKeyChunk ||
      k.stride[2] != kAttentionKeyChunk) {
    return Status::InvalidArgument(
        "attention: key-tiled k " + k.ShapeString() + " must be [" + Str(hkv) + ", " +
        Str(chunks) + ", " + Str(d) + ", 16] with its last two dims contiguous, for v " +
        v.ShapeString());
  }
  return Status::Ok();
}

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
    if (kv.layout == KvLayout::kContiguous) {
      const int64_t tkv = kv.k.dim(0);
      if (s.kv_begin < 0 || s.kv_begin > tkv || s.kv_len > tkv - s.kv_begin) {
        return Status::InvalidArgument(who + "kv rows [" + Str(s.kv_begin) + ", +" +
                                       Str(s.kv_len) + ") are beyond k/v storage " +
                                       kv.k.ShapeString());
      }
    } else {
      const bool tiled = kv.layout == KvLayout::kPagedTiled;
      const int64_t nb = tiled ? kv.v.dim(1) : kv.k.dim(0), bs = tiled ? kv.v.dim(2) : kv.k.dim(1);
      if (bs < 1 && s.kv_len > 0) {
        return Status::InvalidArgument(who + "paged k/v " + kv.v.ShapeString() +
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
                                    kv.v.ShapeString());
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
  const int rank = kv.layout == KvLayout::kContiguous ? 3 : 4;
  if (kv.layout == KvLayout::kPagedTiled) {
    DETINFER_RETURN_IF_ERROR(CheckTiledKv(kv.k, kv.v, q.dim(1), q.dim(2)));
  } else {
    DETINFER_RETURN_IF_ERROR(ac::CheckKv(op, kv.k, "k", kv.v, "v", rank, q.dim(1), q.dim(2)));
  }
  const TensorView* inputs[] = {&q, &kv.k, &kv.v};
  const char* const names[] = {"q", "k", "v"};
  DETINFER_RETURN_IF_ERROR(ac::CheckNoOverlap(op, out, lse, inputs, names, 3));
  DETINFER_RETURN_IF_ERROR(CheckSeqs(q, kv, seqs, opts.causal));
  const int64_t hkv = kv.layout == KvLayout::kPagedTiled ? kv.v.dim(0) : kv.k.dim(rank - 2);
  DETINFER_ASSIGN_OR_RETURN(const ad::Shape sh, ac::ResolveShape(op, q, hkv, opts));
  const int64_t e = static_cast<int64_t>(DTypeSize(kv.k.dtype));
  if (kv.layout == KvLayout::kContiguous) {
    const ContiguousLocator loc{Base(kv.k), Base(kv.v), kv.k.stride[0] * e, kv.k.stride[1] * e,
                                kv.v.stride[0] * e, kv.v.stride[1] * e, seqs};
    ad::Run(ctx, q, sh, kv.k.dtype, seqs, out, lse, loc);
  } else if (kv.layout == KvLayout::kPagedTiled) {
    const TiledLocator loc{Base(kv.k), Base(kv.v), kv.v.dim(2), e, q.dim(2),
                           kv.k.stride[0] * e, kv.k.stride[1] * e,
                           kv.v.stride[0] * e, kv.v.stride[1] * e, kv.v.stride[2] * e, seqs};
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
