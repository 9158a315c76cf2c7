// Attention over a packed variable-length batch (SPEC §K3), a KV-cache form and a padded form.
//
// Reduction order (the contract; the scalar, AVX2 and AVX-512 kernels implement exactly this,
// and every step below is one IEEE fp32 operation, FMAs explicit):
//   For one query row (sequence s, query index i, head h) at absolute position p = q_pos + i,
//   with kv head g = h / (Hq / Hkv):
//   * A key is *visible* iff its position t < kv_len, (not causal or t <= p), (window W = 0
//     or t > p - W: the sliding window, the W positions (p - W, p]) and key_mask (if given)
//     keeps it. Invisible keys are skipped: they never enter any arithmetic (no zero
//     probability is ever multiplied in, so 0*Inf = NaN or a -0 cannot leak). The window
//     only removes keys: the blocks, partitions and order of the keys that remain are those
//     below, so a query's bits depend on nothing but the keys in its window.
//   * Keys are visited in blocks of B = kAttentionKeyBlock positions aligned to absolute
//     position 0, [j*B, (j+1)*B), j = 0, 1, ... in increasing order. A block with no visible key
//     is skipped entirely. Within block j the visible keys, in increasing position, are
//     numbered u = 0, 1, ..., c-1 (c = their count); u depends only on the positions and the
//     mask, never on kv_len beyond p, on other queries or on the batch.
//   * score(u) = dot * scale, where dot = +0; dot = fma(q[d], k_u[d], dot) for d = 0 .. D-1
//     (one sequential FMA chain over D; k widened exactly from its storage dtype). With a
//     soft cap c > 0 (Gemma 2): score(u) = c * TanhF(score(u) / c) (one correctly rounded
//     division, kernels/math.h's TanhF, one multiply; the x86 paths run them 8 / 16 lanes at a time).
//   * Block max: 16 lanes start at -Inf; lane u % 16 = MaxCombine(lane, score(u)) for u
//     ascending; m_b = TreeMax16(lanes) (reduction_order.h; MaxCombine(a, b) = a > b ? a : b).
//   * m_new = MaxCombine(m, m_b), with the running max m starting at -Inf.
//     Shift(x, y) := (x == y) ? +0 : x - y   (so -Inf - -Inf and Inf - Inf never occur)
//     alpha = ExpF(Shift(m, m_new))          (first block: ExpF(-Inf) = +0; exactly 1 if m = m_new)
//     prob(u) = ExpF(Shift(score(u), m_new))
//   * Running sum, 16 lanes starting at +0: every lane L[j] = L[j] * alpha; then
//     L[u % 16] = L[u % 16] + prob(u) for u ascending.
//   * Running output acc[D] starting at +0: acc[d] = acc[d] * alpha for every d; then
//     acc[d] = fma(prob(u), v_u[d], acc[d]) for u ascending (ascending key position).
//   * m = m_new.
//   * Partitions: the blocks are grouped in partitions of P = kAttentionPartition positions
//     aligned to absolute position 0, [k*P, (k+1)*P). The steps above run over each partition
//     separately, each from a fresh state (m = -Inf, L = +0, acc = +0); a partition with no
//     visible key is skipped. The partition states are folded in increasing k: the first is
//     taken as it is; each later one (m_p, L_p, acc_p) is merged as
//       m' = MaxCombine(m, m_p); a = ExpF(Shift(m, m')); b = ExpF(Shift(m_p, m'))
//       L[j] = L[j] * a + L_p[j] * b;  acc[d] = acc[d] * a + acc_p[d] * b;  m = m'
//     (two rounded products, then a rounded sum; attention_partition.h).
//   After the fold: l = TreeSum16(L); out[d] = acc[d] / l (one correctly rounded
//   division); lse = m + LogF(l) (natural log). l >= 1 whenever a key was visible (the key
//   holding the maximum contributes exp(+0) = 1), so no division by zero can occur.
//   A query with no visible key yields out = +0 and lse = -Inf, never NaN.
// Nothing depends on which other queries or sequences are in the call, on Tq, on kv_len
// (beyond the keys a query sees), on where K/V are stored (contiguous, paged, cache + new
// rows), on the thread count or on the ISA path: work is parallelised over (sequence, kv head,
// block of query rows) and, for decode-like calls, over partitions (whose boundaries and fold
// order are fixed above, SPEC §K3), and the SIMD paths put *different keys* (scores) or
// *different d* (acc) in their lanes, never parts of one sum.
// Non-finite inputs (Inf/NaN in q, k or v) propagate but their bits are not part of the
// contract.
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
// P in the order above (a multiple of B). A compile-time constant: changing it changes bits.
inline constexpr int64_t kAttentionPartition = 512;
// The largest head dimension the kernels accept (D must also be a multiple of 8).
inline constexpr int64_t kAttentionMaxHeadDim = 256;

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

// How K and V are laid out in a KvView.
enum class KvLayout {
  // k, v: [Tkv, Hkv, D]; position t of a sequence is row kv_begin + t.
  kContiguous,
  // k, v: [num_blocks, block_size, Hkv, D]; each sequence names its blocks.
  kPaged,
  // Paged, head-major, K stored transposed in chunks of kAttentionKeyChunk keys:
  //   v: [Hkv, num_blocks, block_size, D]
  //   k: [Hkv, num_blocks * block_size / 16, D, 16]  (chunk block * block_size/16 + slot/16,
  //      element [d][slot % 16]; block_size a multiple of 16, the last two dims contiguous)
  // Every kv head's keys and values are then contiguous runs within a block (and across the
  // blocks of a sequence whose blocks are consecutive), and 16 keys' element d are adjacent:
  // the SIMD score loop (16 keys in the lanes, attention.h's order) reads K as stored instead
  // of transposing it per block. The bits are the other layouts' bits.
  kPagedTiled,
};
inline constexpr int64_t kAttentionKeyChunk = 16;

// Where K and V live (see KvLayout). Storage dtype f32, bf16 or f16 (k and v alike); values
// are read as stored and widened exactly (SPEC §K5).
struct KvView {
  TensorView k, v;
  KvLayout layout = KvLayout::kContiguous;
};

struct AttentionOptions {
  bool causal = true;
  float scale = 0.0f;  // 0 means 1/sqrt(D); otherwise any finite value
  // Sliding window W (Mistral, Gemma's local layers): a query at position p sees only the keys
  // at positions (p - W, p]. 0 = no window; negative is an error.
  int64_t window = 0;
  // Attention-logit soft cap c (Gemma 2's attn_logit_softcapping): scores become
  // c * tanh(score / c). 0 = none; otherwise finite and > 0.
  float softcap = 0.0f;
};

// q: [Tq, Hq, D] f32; out: [Tq, Hq, D] f32; lse: [Tq, Hq] f32. Hq % Hkv == 0; D a multiple of 8,
// at most 256. Sequences' query rows must not overlap. With causal, every query position must
// be stored (q_pos + q_len <= kv_len). Rows of q/out/lse that no sequence names are left
// untouched. out and lse must not overlap q, k, v or each other.
// Errors name the operand, the sequence index and the sizes at fault.
Status Attention(const KernelContext& ctx, const TensorView& q, const KvView& kv,
                 std::span<const AttentionSeq> seqs, const AttentionOptions& opts,
                 const TensorView& out, const TensorView& lse);

// KV-cache attention for one sequence: the T new queries q_new [T, Hq, D] f32 sit at absolute
// positions S_cache .. S_cache+T-1 and attend to the cached keys k_cache/v_cache
// [S_cache, Hkv, D] followed by the new rows k_new/v_new [T, Hkv, D] (the same storage dtype as
// the cache: the new rows are already rounded to it, SPEC §K5). Bit for bit the same as
// Attention over the concatenation [cache; new] (the same key-visiting code runs, only the row
// lookup differs), so prefill, chunked prefill and token-by-token decode agree (SPEC §A3).
// S_cache may be 0. Inputs are never modified. out: [T, Hq, D] f32; lse: [T, Hq] f32.
Status AttentionWithCache(const KernelContext& ctx, const TensorView& q_new,
                          const TensorView& k_cache, const TensorView& v_cache,
                          const TensorView& k_new, const TensorView& v_new,
                          const AttentionOptions& opts, const TensorView& out,
                          const TensorView& lse);

// Padded batch (SPEC §A8): q [B, S, Hq, D] f32, k/v [B, S, Hkv, D] (f32/bf16/f16), and
// key_padding_mask [B, S] row-major (nonzero = a real token; empty = all real). Row b is the
// sequence made of its real positions in order (wherever the padding sits: left, right or
// between), at positions 0, 1, ...: every real position gets exactly the bits the packed
// variable-length call gives for that sequence. Padded positions get out = 0, lse = -Inf.
// out: [B, S, Hq, D] f32; lse: [B, S, Hq] f32.
Status AttentionPadded(const KernelContext& ctx, const TensorView& q, const TensorView& k,
                       const TensorView& v, std::span<const uint8_t> key_padding_mask,
                       const AttentionOptions& opts, const TensorView& out,
                       const TensorView& lse);

}  // namespace detinfer

#endif  // DETINFER_KERNELS_ATTENTION_H_
