// Attention over a packed variable-length batch (SPEC §K3).
//
// Reduction order (the contract; the kernels implement exactly this):
//   For one query row (sequence s, query index i, head h) at absolute position p = q_pos + i,
//   with kv head g = h / (Hq / Hkv):
//     keys are visited in blocks of kAttentionKeyBlock positions aligned to absolute position 0,
//     [j*B, (j+1)*B), j = 0, 1, ... in increasing order, up to kv_len (and up to p when causal);
//     a key is *visible* iff its position < kv_len, (not causal or position <= p) and
//     key_mask (if given) keeps it. Invisible keys are skipped: they contribute exactly nothing.
//     score = dot(q, k) * scale, the dot product over D in a fixed order that depends only on D
//     (documented in attention.cc), fp32;
//     online softmax in fp32: per block, running max m, running sum l, running output acc[D];
//     after the last block: out = acc / l, lse = m + log(l) (natural log, the engine's LogF).
//   A query with no visible key yields out = 0 and lse = -Inf, never NaN.
// Nothing depends on which other queries or sequences are in the call, on Tq, on the thread
// count or on the ISA path: work is parallelised over (sequence, head, query block) only, and
// one query's KV range is never split at shape-dependent points.
#ifndef DETINFER_KERNELS_ATTENTION_H_
#define DETINFER_KERNELS_ATTENTION_H_

#include <cstdint>
#include <span>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/context.h"

namespace detinfer {

// B in the order above. A compile-time constant: changing it changes bits.
inline constexpr int64_t kAttentionKeyBlock = 64;

// One sequence of a packed batch.
struct AttentionSeq {
  int64_t q_begin = 0;  // first row of this sequence in q, out and lse
  int64_t q_len = 0;    // number of query rows
  int64_t q_pos = 0;    // absolute position of the first query; row q_begin + i is at q_pos + i
  int64_t kv_len = 0;   // keys at absolute positions [0, kv_len) are stored for this sequence
  int64_t kv_begin = 0;  // contiguous storage: the row of k/v holding position 0
  // Paged storage: position t lives in block blocks[t / block_size], slot t % block_size.
  std::span<const int32_t> blocks;
  // Optional key padding mask, kv_len entries, nonzero = keep. Empty = keep all.
  std::span<const uint8_t> key_mask;
};

// Where K and V live. Contiguous: k, v are [Tkv, Hkv, D]. Paged: k, v are
// [num_blocks, block_size, Hkv, D] and each sequence names its blocks. Storage dtype f32,
// bf16 or f16 (k and v alike); values are read as stored and widened exactly (SPEC §K5).
struct KvView {
  TensorView k, v;
  bool paged = false;
};

struct AttentionOptions {
  bool causal = true;
  float scale = 0.0f;  // 0 means 1/sqrt(D)
};

// q: [Tq, Hq, D] f32; out: [Tq, Hq, D] f32; lse: [Tq, Hq] f32. Hq % Hkv == 0; D a multiple of 8,
// at most 256. Errors name the operand, the sequence index and the sizes at fault.
Status Attention(const KernelContext& ctx, const TensorView& q, const KvView& kv,
                 std::span<const AttentionSeq> seqs, const AttentionOptions& opts,
                 const TensorView& out, const TensorView& lse);

}  // namespace detinfer

#endif  // DETINFER_KERNELS_ATTENTION_H_
