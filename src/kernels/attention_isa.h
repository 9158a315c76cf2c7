// Per-ISA attention block kernels (declarations only: included by the per-ISA translation units,
// see cmake/Flags.cmake). attention_driver.h validates nothing here: it has already checked the
// operands, chosen the visible keys of one key block and resolved their storage rows; the kernel
// applies one block of the online softmax (attention.h gives the exact order) to every query of
// a task. Every path returns identical bits.
#ifndef DETINFER_KERNELS_ATTENTION_ISA_H_
#define DETINFER_KERNELS_ATTENTION_ISA_H_

#include <cstdint>

#include "core/dtype_id.h"

namespace detinfer::kernels {

// Must equal kAttentionKeyBlock (checked in attention_driver.h) and be a multiple of 16.
inline constexpr int kAttnBlock = 64;
inline constexpr int kAttnLanes = 16;


// The running state of one query (owned by the driver, updated block after block).
struct AttnQuery {
  const float* q;   // [D]
  float* acc;       // [D] running output
  float* lanes;     // [16] running-sum lanes L
  float* scores;    // [kAttnBlock] scratch: this block's scores, then probabilities
  float m;          // running max
  int32_t count;    // visible keys of this block for this query: entries [0, count) of the list
};

struct AttnBlockArgs {
  int64_t d;                  // head dim, a multiple of 8, <= 256
  float scale;
  int32_t nvis;               // keys in the block's visible list (>= every query's count)
  const void* const* k_rows;  // nvis storage rows of K (D elements each), ascending position
  const void* const* v_rows;  // the matching V rows
  // Key-tiled K (KvLayout::kPagedTiled): when not null, K comes from here instead of k_rows.
  // Key u of the visible list is element u % 16 of chunk u / 16, and element d of that key
  // is at k_chunks[u / 16] + d * kAttnLanes + u % 16 (storage elements): a chunk is 16 keys
  // stored already transposed. Lanes at or past nvis in the last chunk hold other (stored)
  // keys or unwritten slots: a kernel may load them but never uses their scores.
  const void* const* k_chunks;
  DType dtype;
  float softcap;  // 0 = none; else scores become softcap * TanhF(score / softcap)
  // Scratch, 64-byte aligned: kt [d][kAttnBlock] f32 (K transposed), vc [kAttnBlock][d] f32
  // (V widened), v_f32 [kAttnBlock] row pointers. Contents on entry are irrelevant.
  float* kt;
  float* vc;
  const float** v_f32;
  // The same kv head's next key block, for prefetching while this one is computed (a hint
  // only, never read as data; next_n == 0: none): its first next_n positions' V rows and the
  // K chunks holding them (key-tiled K only).
  const void* const* next_k_chunks;
  const void* const* next_v_rows;
  int32_t next_n;
  AttnQuery* queries;  // nq queries; those with count == 0 are left untouched
  int32_t nq;
  int64_t row_bytes;  // bytes of one K/V row (D * element size)
  // Bytes from each k_rows[u] / v_rows[u] that the kernel first demand-loads, one word per
  // cache line (0: none; row_bytes: this head; more: the task's following heads too, when they
  // are adjacent in memory). Always 0 with k_chunks (those blocks prefetch the next one
  // instead). Only a performance hint, always within the K/V tensors.
  int64_t touch_bytes;
};

// attention.h's soft cap on scores[0, count): scores[u] = cap * TanhF(scores[u] / cap); nothing
// when cap == 0. Every path calls this one scalar function (defined in attention.cc, outside
// the per-ISA objects) between its scores and its softmax.
void SoftCapScores(float cap, float* scores, int32_t count);

// The same cap on one score, cap > 0: returns cap * TanhF(score / cap) and stores the TanhF
// value in *tanh_out. SoftCapScores calls this, and so does AttentionBackward (which needs t
// for the derivative 1 - t^2), so the forward and backward capped scores are one function.
float SoftCapScore(float cap, float score, float* tanh_out);

#define DETINFER_DECLARE_ATTENTION(ns) \
  namespace ns { void AttendBlock(const AttnBlockArgs& a); }
DETINFER_DECLARE_ATTENTION(scalar)
DETINFER_DECLARE_ATTENTION(avx2)
DETINFER_DECLARE_ATTENTION(avx512)
DETINFER_DECLARE_ATTENTION(neon)
#undef DETINFER_DECLARE_ATTENTION

}  // namespace detinfer::kernels

#endif  // DETINFER_KERNELS_ATTENTION_ISA_H_
