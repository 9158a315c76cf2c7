// The key-visiting code shared by every attention entry point (attention.cc: contiguous and
// paged K/V; attention_cache.cc: cache + new rows). Operands are validated before this runs.
//
// Only *where a key row lives* differs between the entry points, and that is the Locator:
//     void Row(int64_t seq, int64_t pos, int64_t g, const void** k, const void** v) const
// returns the storage rows of K and V for absolute position `pos` of sequence `seq`, kv head g.
// Everything that decides bits — which keys are visible, the blocks, their order, the per-block
// arithmetic (attention_isa.h) and the final division — is this one code path.
//
// Not an ISA file: it may use the standard library freely.
#ifndef DETINFER_KERNELS_ATTENTION_DRIVER_H_
#define DETINFER_KERNELS_ATTENTION_DRIVER_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "kernels/attention.h"
#include "kernels/attention_isa.h"
#include "kernels/attention_partition.h"
#include "kernels/context.h"
#include "kernels/math.h"
#include "kernels/simd/reduce_tree.h"

namespace detinfer::kernels::attention_driver {

static_assert(kAttnBlock == kAttentionKeyBlock, "the ISA kernels' block must be the contract's");
static_assert(kAttnBlock % kAttnLanes == 0, "blocks must hold whole 16-lane chunks");

// Queries per task, about: a task is (sequence, kv head, kRowsPerTask rows) with all the
// Hq/Hkv query heads of that kv head, so each K/V block is read (and widened) once for all
// of them. It decides only who computes what, never how: each query's arithmetic is the same
// whatever its task mates.
inline constexpr int64_t kQueriesPerTask = 64;

using BlockKernel = void (*)(const AttnBlockArgs&);

// A locator whose K is key-tiled (KvLayout::kPagedTiled) also has
//     const void* KeyChunk(int64_t seq, int64_t pos, int64_t g) const
// (the 16 keys from a 16-aligned position, stored transposed: element d of key pos + i at
// + (d * 16 + i) elements),
//     void KeyRow(int64_t seq, int64_t pos, int64_t g, void* dst) const
// (copies one key's D stored elements into a row) and
//     void ValueRows(int64_t seq, int64_t pos, int64_t n, int64_t g, const void** v) const
// (the V rows of n consecutive positions), and its Row returns no K row.
template <typename L>
concept TiledKeys = requires(const L& l, void* dst, const void** rows) {
  l.KeyChunk(int64_t{0}, int64_t{0}, int64_t{0});
  l.KeyRow(int64_t{0}, int64_t{0}, int64_t{0}, dst);
  l.ValueRows(int64_t{0}, int64_t{0}, int64_t{0}, int64_t{0}, rows);
};

inline BlockKernel SelectKernel(Isa isa) {
  switch (isa) {
#if defined(DETINFER_ARCH_X86_64)
    case Isa::kAvx512:
    case Isa::kAvx512Bf16: return &avx512::AttendBlock;
    case Isa::kAvx2: return &avx2::AttendBlock;
#elif defined(DETINFER_ARCH_AARCH64)
    case Isa::kNeon: return &neon::AttendBlock;
#endif
    default: break;  // scalar
  }
  return &scalar::AttendBlock;
}

// Per-thread float scratch, 64-byte aligned (the SIMD kernels' rows of kt are 256 bytes), kept
// across tasks and calls so that a task does not pay for allocating, zeroing and (after the
// heap trims it) page-faulting fresh memory. Nothing is ever read from it before this task
// wrote it: RunTask initialises every query state, and the kernels write kt / vc before use.
inline float* ThreadScratch(size_t floats) {
  thread_local std::vector<float> buf;
  if (buf.size() < floats + 16) buf.resize(floats + 16);
  const auto p = reinterpret_cast<uintptr_t>(buf.data());
  return buf.data() + ((64 - p % 64) % 64) / sizeof(float);
}

// Per-thread bytes for K rows copied out of key-tiled storage (see RunTask).
inline char* ThreadGatherRows(size_t bytes) {
  thread_local std::vector<char> buf;
  if (buf.size() < bytes) buf.resize(bytes);
  return buf.data();
}

struct Shape {
  int64_t hq, hkv, d;
  float scale;  // resolved (never 0)
  bool causal;
  int64_t window;  // sliding window (0 = none): a query at p sees keys (p - window, p]
  float softcap;   // score soft cap (0 = none)
};

// The first key position a query at `pos` may see: 0, or pos - window + 1 under a window.
inline int64_t FirstVisibleKey(const Shape& sh, int64_t pos) {
  return sh.window > 0 ? std::max<int64_t>(0, pos - sh.window + 1) : 0;
}

namespace ap = attention_partition;
inline constexpr int64_t kPart = kAttentionPartition;
static_assert(kPart % kAttnBlock == 0, "partitions must hold whole key blocks");

// One task: rows [r0, r1) of sequence `seq`, every query head of kv heads [g0, g1), the keys
// at positions [k_lo, k_hi) (partition-aligned). slots == nullptr: the task covers every key
// of its queries and writes out/lse. Otherwise it covers one partition and leaves each query's
// partition state at slots + qi * StateFloats(D) for the fold (Run).
struct Task {
  int64_t seq, g0, g1, r0, r1;
  int64_t k_lo, k_hi;
  float* slots;
};

// Query qi of a task: kv head g0 + qi / per_head, row r0 + qi % per_head / group, head offset
// qi % group (its query head is g * group + hh).
struct QueryIndex {
  int64_t g, r, h;
};
inline QueryIndex IndexOf(const Task& tk, int64_t group, int64_t qi) {
  const int64_t per_head = (tk.r1 - tk.r0) * group;
  const int64_t g = tk.g0 + qi / per_head;
  return {g, tk.r0 + qi % per_head / group, g * group + qi % group};
}

inline void FinishQuery(const TensorView& out, const TensorView& lse, const AttentionSeq& seq,
                        const QueryIndex& ix, const float* total, int64_t dim) {
  const int64_t row = seq.q_begin + ix.r;
  ap::Finish(total, dim, out.as<float>() + row * out.stride[0] + ix.h * out.stride[1],
             lse.as<float>() + row * lse.stride[0] + ix.h * lse.stride[1]);
}

// The keys a task's rows can see end before this position (partition-aligned k_hi, causal
// masking and kv_len).
inline int64_t TaskKeyEnd(const Shape& sh, const AttentionSeq& seq, const Task& tk) {
  const int64_t last_pos = seq.q_pos + tk.r1 - 1;
  return std::min(tk.k_hi, sh.causal ? std::min(seq.kv_len, last_pos + 1) : seq.kv_len);
}

// `next`, when given, is the task this thread most likely runs after this one (the next in
// the list: each thread takes a contiguous share in order, core/thread_pool.h). Its first
// block is prefetched while this task's last block computes, so a task start is not a cold
// read (key-tiled storage only: a hint, it changes no bits).
template <typename Locator>
void RunTask(BlockKernel kernel, const TensorView& q, const Shape& sh, DType dtype,
             size_t kv_elem, const AttentionSeq& seq, const Task& tk, const TensorView& out,
             const TensorView& lse, const Locator& loc, const Task* next = nullptr,
             const AttentionSeq* next_seq = nullptr) {
  const int64_t group = sh.hq / sh.hkv, dim = sh.d;
  const int64_t r0 = tk.r0, r1 = tk.r1, g0 = tk.g0, nrows = r1 - r0;
  const int64_t per_head = nrows * group;  // queries of one kv head
  const int64_t nq = per_head * (tk.g1 - g0);
  constexpr int64_t kB = kAttnBlock;
  const int64_t state = ap::StateFloats(dim);
  // Layout: kt [dim][B] | vc [B][dim] | per query: scores [B], partition state, total state.
  // (With slots, the partition states live there and the total is not needed.)
  const int64_t per_query = kB + 2 * state;
  float* const kt = ThreadScratch(static_cast<size_t>(2 * dim * kB + nq * per_query));
  float* const vc = kt + dim * kB;
  float* const qstate = vc + dim * kB;
  // With slots, the task's partitions [k_lo, k_hi) have consecutive slot groups of nq states.
  float* slot_base = tk.slots;
  const auto part_of = [&](int64_t qi) {
    return slot_base != nullptr ? slot_base + qi * state : qstate + qi * per_query + kB;
  };
  if (tk.slots != nullptr) {  // every slot of the task starts empty, visited or not
    const int64_t parts = (tk.k_hi - tk.k_lo + kPart - 1) / kPart;
    for (int64_t i = 0; i < parts * nq; ++i) ap::Reset(tk.slots + i * state, dim);
  }
  const auto total_of = [&](int64_t qi) { return qstate + qi * per_query + kB + state; };
  std::vector<AttnQuery> queries(static_cast<size_t>(nq));
  for (int64_t qi = 0; qi < nq; ++qi) {
    const QueryIndex ix = IndexOf(tk, group, qi);
    AttnQuery& aq = queries[static_cast<size_t>(qi)];
    aq.q = q.as<const float>() + (seq.q_begin + ix.r) * q.stride[0] + ix.h * q.stride[1];
    float* part = part_of(qi);
    if (tk.slots == nullptr) {
      ap::Reset(part, dim);
      ap::Reset(total_of(qi), dim);
    }
    aq.acc = part + ap::kAccAt;
    aq.lanes = part + ap::kLanesAt;
    aq.scores = qstate + qi * per_query;
    aq.m = -INFINITY;
    aq.count = 0;
  }
  // Ends the current partition: each query's state is completed (m, seen) and, without slots,
  // folded into its total and started afresh.
  // With slots, the next partition's states are the next slot group.
  const auto end_partition = [&] {
    for (int64_t qi = 0; qi < nq; ++qi) {
      AttnQuery& aq = queries[static_cast<size_t>(qi)];
      float* part = part_of(qi);
      part[0] = aq.m;
      aq.m = -INFINITY;
      if (tk.slots != nullptr) continue;
      ap::Fold(total_of(qi), part, dim);
      ap::Reset(part, dim);
    }
    if (slot_base == nullptr) return;
    slot_base += nq * state;
    for (int64_t qi = 0; qi < nq; ++qi) {
      AttnQuery& aq = queries[static_cast<size_t>(qi)];
      aq.acc = part_of(qi) + ap::kAccAt;
      aq.lanes = part_of(qi) + ap::kLanesAt;
    }
  };
  const void* k_rows[kB];
  const void* v_rows[kB];
  const void* k_chunks[kB / kAttnLanes];
  const float* v_f32[kB];
  int64_t vis[kB];
  int32_t row_count[kQueriesPerTask];
  const int64_t row_bytes = dim * static_cast<int64_t>(kv_elem);
  const void* next_chunks[kB / kAttnLanes];
  const void* next_v_rows[kB];
  AttnBlockArgs args{dim,     sh.scale,    0,           k_rows, v_rows,     nullptr, dtype,
                     sh.softcap,                                                     kt,
                     vc,      v_f32,       next_chunks, next_v_rows, 0,   nullptr,
                     static_cast<int32_t>(per_head),   row_bytes,  row_bytes};
  // Key-tiled K whose visible keys have gaps (a key mask) is copied out row by row into this.
  char* gathered = nullptr;
  if constexpr (TiledKeys<Locator>) gathered = ThreadGatherRows(static_cast<size_t>(kB * row_bytes));
  // Keys beyond the last row's position are invisible to every query of the task.
  const int64_t upper = TaskKeyEnd(sh, seq, tk);
  int64_t partition = tk.k_lo / kPart;
  // Under a sliding window, blocks before the first row's window hold no visible key for any
  // row of the task (later rows' windows start later): the visit starts at the block holding
  // that row's first key. Skipped partitions end empty (their states are never folded in).
  int64_t start = tk.k_lo;
  if (sh.window > 0) {
    start = std::max(start, FirstVisibleKey(sh, seq.q_pos + r0) / kB * kB);
    for (; partition < start / kPart && start < upper; ++partition) end_partition();
  }
  int32_t row_first[kQueriesPerTask];
  for (int64_t lo = start; lo < upper; lo += kB) {
    if (lo / kPart != partition) {
      end_partition();
      partition = lo / kPart;
    }
    const int64_t hi = std::min(lo + kB, upper);
    int32_t nvis = 0;
    for (int64_t t = lo; t < hi; ++t) {
      if (seq.key_mask.empty() || seq.key_mask[static_cast<size_t>(t)] != 0) vis[nvis++] = t;
    }
    if (nvis == 0) continue;
    // The distinct first list entries of the rows' windows, ascending (0 without a window).
    int32_t firsts[kQueriesPerTask];
    int32_t nfirsts = 0;
    for (int64_t r = r0; r < r1; ++r) {
      // The visible keys of this row: the entries [first, count) of the list, those at or
      // before its position and (under a window) after pos - window.
      const int64_t pos = seq.q_pos + r;
      int32_t count = nvis;
      if (sh.causal) count = static_cast<int32_t>(std::upper_bound(vis, vis + nvis, pos) - vis);
      int32_t first = 0;
      if (sh.window > 0) {
        first = static_cast<int32_t>(
            std::lower_bound(vis, vis + nvis, FirstVisibleKey(sh, pos)) - vis);
        if (first >= count) first = count = 0;  // nothing of this block in the window
      }
      row_count[r - r0] = count;
      row_first[r - r0] = first;
      if (count > 0 && std::find(firsts, firsts + nfirsts, first) == firsts + nfirsts) {
        firsts[nfirsts++] = first;
      }
    }
    if (nfirsts == 0) continue;
    std::sort(firsts, firsts + nfirsts);
    // The task's kv heads one after the other on this block: their rows are adjacent in
    // memory, so the task streams [g0, g1) * D contiguous elements per position.
    // When the task's heads sit side by side at every visible position (the usual [T, Hkv, D]
    // layouts), the first head's kernel touches all of them at once: longer contiguous runs.
    bool adjacent = tk.g1 - g0 > 1 && !TiledKeys<Locator>;
    for (int32_t u = 0; u < nvis && adjacent; ++u) {
      const void *k0, *v0, *k1, *v1;
      loc.Row(tk.seq, vis[u], g0, &k0, &v0);
      loc.Row(tk.seq, vis[u], tk.g1 - 1, &k1, &v1);
      const int64_t span = (tk.g1 - 1 - g0) * row_bytes;
      adjacent = static_cast<const char*>(k1) - static_cast<const char*>(k0) == span &&
                 static_cast<const char*>(v1) - static_cast<const char*>(v0) == span;
    }
    // Rows whose windows start at different entries of the list see different suffixes of it:
    // one kernel call per distinct start f, over the list from entry f (so the kernel's key
    // numbering u = 0, 1, ... is the row's own, attention.h), with the other rows' count 0
    // (the kernel leaves them untouched). Without a window there is one call, f = 0.
    for (int64_t call = 0; call < nfirsts * (tk.g1 - g0); ++call) {
      const int32_t f = firsts[call / (tk.g1 - g0)];
      const int64_t g = g0 + call % (tk.g1 - g0);
      const int32_t n = nvis - f;  // the keys of this call's list: vis[f, nvis)
      const int64_t* const fvis = vis + f;
      args.nvis = n;
      args.touch_bytes = !adjacent ? row_bytes : g == g0 ? (tk.g1 - g0) * row_bytes : 0;
      AttnQuery* qs = queries.data() + (g - g0) * per_head;
      for (int64_t i = 0; i < per_head; ++i) {
        const int32_t count = row_first[i / group] == f ? row_count[i / group] - f : 0;
        qs[i].count = count;
        if (count > 0) part_of((g - g0) * per_head + i)[1] = 1.0f;
      }
      if constexpr (!TiledKeys<Locator>) {
        for (int32_t u = 0; u < n; ++u) loc.Row(tk.seq, fvis[u], g, &k_rows[u], &v_rows[u]);
      } else {
        // Chunks are usable as stored when the list's keys are consecutive positions (no key
        // mask gap) starting at a chunk boundary: then key u is position fvis[0] + u.
        if (fvis[0] % kAttnLanes == 0 && fvis[n - 1] == fvis[0] + n - 1) {
          loc.ValueRows(tk.seq, fvis[0], n, g, v_rows);
          for (int32_t c = 0; c < (n + kAttnLanes - 1) / kAttnLanes; ++c) {
            k_chunks[c] = loc.KeyChunk(tk.seq, fvis[0] + c * kAttnLanes, g);
          }
          args.k_chunks = k_chunks;
        } else {
          for (int32_t u = 0; u < n; ++u) {
            loc.Row(tk.seq, fvis[u], g, &k_rows[u], &v_rows[u]);
            loc.KeyRow(tk.seq, fvis[u], g, gathered + u * row_bytes);
            k_rows[u] = gathered + u * row_bytes;
          }
          args.k_chunks = nullptr;
        }
        // Key-tiled storage keeps each head's K and V in contiguous runs, so the kernel
        // prefetches the next block's lines while it computes this one, in place of the
        // demand-load burst (attention_avx512.cc, PrefetchL2): a hint, masks ignored.
        args.touch_bytes = 0;
        int64_t next_s = tk.seq, next_lo = lo + kB, next_g = g;
        int64_t next_n = std::clamp<int64_t>(upper - next_lo, 0, kB);
        if (next_n == 0 && next != nullptr && g + 1 == tk.g1) {  // the next task's first block
          next_s = next->seq, next_lo = next->k_lo, next_g = next->g0;
          next_n = std::clamp<int64_t>(TaskKeyEnd(sh, *next_seq, *next) - next_lo, 0, kB);
        }
        args.next_n = static_cast<int32_t>(next_n);
        loc.ValueRows(next_s, next_lo, next_n, next_g, next_v_rows);
        for (int32_t c = 0; c * kAttnLanes < next_n; ++c) {
          next_chunks[c] = loc.KeyChunk(next_s, next_lo + c * kAttnLanes, next_g);
        }
      }
      args.queries = qs;
      kernel(args);
    }
  }
  end_partition();
  if (tk.slots != nullptr) return;  // Run folds the partitions
  // Final division and LSE, shared by every path (so they cannot differ).
  for (int64_t qi = 0; qi < nq; ++qi) FinishQuery(out, lse, seq, IndexOf(tk, group, qi), total_of(qi), dim);
}

// Decode-like calls (at most this many rows per sequence) split each query's keys by
// partition across tasks: few queries make each key byte worth little arithmetic, so the
// speed is that of streaming K/V, and a task reading one partition of all the kv heads reads
// long contiguous runs (prefetchers follow them) where tasks split only by kv head would each
// read a strided part of every position.
inline constexpr int64_t kSplitMaxRows = 4;

// Splits the call into tasks and runs them. seqs, shapes and storage are already validated.
// The split decides only who computes which queries and partitions, never how (see
// kQueriesPerTask and attention_partition.h).
template <typename Locator>
void Run(const KernelContext& ctx, const TensorView& q, const Shape& sh, DType kv_dtype,
         std::span<const AttentionSeq> seqs, const TensorView& out, const TensorView& lse,
         const Locator& loc) {
  const int64_t group = sh.hq / sh.hkv;
  const int64_t rows_per_task = std::max<int64_t>(1, kQueriesPerTask / group);
  int64_t row_blocks = 0;
  for (const AttentionSeq& s : seqs) row_blocks += (s.q_len + rows_per_task - 1) / rows_per_task;
  int64_t max_rows = 1;
  for (const AttentionSeq& s : seqs) max_rows = std::max(max_rows, std::min(s.q_len, rows_per_task));
  // Keys a row block can see: [0, its end) under causal masking, else all kv_len.
  const auto key_end = [&](const AttentionSeq& s, int64_t r1) {
    return sh.causal ? std::min(s.kv_len, s.q_pos + r1) : s.kv_len;
  };
  // The first partition a row block can see: 0, or under a sliding window the one holding its
  // first row's first key (earlier ones would only be empty states: decode reads no more
  // than its window, however long the sequence).
  const auto first_part = [&](const AttentionSeq& s, int64_t r0) {
    return FirstVisibleKey(sh, s.q_pos + r0) / kPart;
  };
  const bool split = max_rows <= kSplitMaxRows;
  // Units of work: (sequence, row block, kv heads) and, when split, their partitions.
  int64_t parts_total = 0;  // partitions over all row blocks (split only)
  for (const AttentionSeq& s : seqs) {
    for (int64_t r0 = 0; split && r0 < s.q_len; r0 += rows_per_task) {
      parts_total += std::max<int64_t>(
          0, (key_end(s, std::min(s.q_len, r0 + rows_per_task)) + kPart - 1) / kPart -
                 first_part(s, r0));
    }
  }
  // Several kv heads in one task (a task then streams longer contiguous runs of each K/V
  // position), as long as that leaves two tasks per thread and at most kQueriesPerTask
  // queries per task.
  const int64_t per_unit = split ? std::max<int64_t>(1, parts_total) : row_blocks;
  int64_t heads = 1;
  for (int64_t h = sh.hkv; h > 1; --h) {
    if (sh.hkv % h == 0 && h * max_rows * group <= kQueriesPerTask &&
        per_unit * (sh.hkv / h) >= (split ? 2 : 1) * ctx.num_threads()) {
      heads = h;
      break;
    }
  }
  // Key-tiled storage: a task is one kv head (its K and V are then two sequential runs that
  // the kernel's prefetches follow; several heads per task would interleave them) over several
  // consecutive partitions, as many as still leave about four tasks per thread — each task
  // start is a block read without a prefetch ahead of it (measured, decode S = 4096 from DRAM:
  // one partition per task 21-23 GB/s, two 26-27, the whole head 29). The partitions keep their
  // own states and fold (attention_partition.h), so only the schedule changes.
  int64_t parts_per_task = 1;
  if (TiledKeys<Locator> && split) {
    heads = 1;
    parts_per_task = std::max<int64_t>(1, parts_total * sh.hkv / (4 * ctx.num_threads()));
  }
  struct Unit {  // a split (sequence, row block, kv heads): its partitions' states
    Task task;
    int64_t first, parts;  // partitions [first, first + parts)
    float* slots;
  };
  const int64_t state = ap::StateFloats(sh.d);
  std::vector<Task> tasks;
  std::vector<Unit> units;
  // The callers' thread keeps the partition states across calls (no page faults per call).
  thread_local std::vector<float> slot_buf;
  size_t slot_floats = 0;
  for (size_t s = 0; s < seqs.size(); ++s) {
    const int64_t n = seqs[s].q_len;
    // Later rows see more keys under causal masking: list them first so the heaviest tasks
    // start first (only the schedule changes).
    for (int64_t r0 = ((n - 1) / rows_per_task) * rows_per_task; n > 0 && r0 >= 0;
         r0 -= rows_per_task) {
      const int64_t r1 = std::min(n, r0 + rows_per_task);
      for (int64_t g = 0; g < sh.hkv; g += heads) {
        const Task t{static_cast<int64_t>(s), g, g + heads, r0, r1, 0, INT64_MAX, nullptr};
        if (!split) {
          tasks.push_back(t);
          continue;
        }
        const int64_t first = first_part(seqs[s], r0);
        const int64_t parts =
            std::max<int64_t>(0, (key_end(seqs[s], r1) + kPart - 1) / kPart - first);
        units.push_back({t, first, parts, nullptr});
        // Slots only for a unit split over several tasks (below).
        if (parts > parts_per_task) {
          slot_floats += static_cast<size_t>(parts * (r1 - r0) * group * heads * state);
        }
      }
    }
  }
  if (split) {
    // A unit whose partitions all fall to one task needs no slots and no fold of its own: that
    // task folds them as it goes and finishes its queries, exactly as an unsplit task does
    // (the same states, folded in the same ascending order). Decode up to parts_per_task
    // partitions per kv head is all such units, and then the second parallel region below is
    // not run at all (one fewer dispatch per layer: 17 -> 13 us per call at 64 keys).
    if (slot_buf.size() < slot_floats) slot_buf.resize(slot_floats);
    float* next = slot_buf.data();
    std::vector<Unit> folded;
    for (Unit& u : units) {
      if (u.parts <= parts_per_task) {
        Task t = u.task;
        t.k_lo = u.first * kPart;
        t.k_hi = (u.first + u.parts) * kPart;
        tasks.push_back(t);
        continue;
      }
      u.slots = next;
      const int64_t nq = (u.task.r1 - u.task.r0) * group * (u.task.g1 - u.task.g0);
      for (int64_t p = 0; p < u.parts; p += parts_per_task) {
        const int64_t n = std::min(parts_per_task, u.parts - p);
        Task t = u.task;
        t.k_lo = (u.first + p) * kPart;
        t.k_hi = (u.first + p + n) * kPart;
        t.slots = next;
        tasks.push_back(t);
        next += n * nq * state;
      }
      folded.push_back(u);
    }
    units = std::move(folded);
  }
  const BlockKernel kernel = SelectKernel(ctx.isa);
  const DType dtype = kv_dtype;
  const size_t elem = DTypeSize(kv_dtype);
  ctx.ParallelFor(static_cast<int64_t>(tasks.size()), [&](int64_t t) {
    const Task& tk = tasks[static_cast<size_t>(t)];
    const size_t after = static_cast<size_t>(t + 1);
    const Task* next_task = after < tasks.size() ? &tasks[after] : nullptr;
    RunTask(kernel, q, sh, dtype, elem, seqs[static_cast<size_t>(tk.seq)], tk, out, lse, loc,
            next_task, next_task != nullptr ? &seqs[static_cast<size_t>(next_task->seq)] : nullptr);
  });
  if (units.empty()) return;
  // Fold each query's partitions in ascending order (the order of attention_partition.h), then
  // the final division: one task per unit.
  ctx.ParallelFor(static_cast<int64_t>(units.size()), [&](int64_t i) {
    const Unit& u = units[static_cast<size_t>(i)];
    const int64_t nq = (u.task.r1 - u.task.r0) * group * (u.task.g1 - u.task.g0);
    std::vector<float> total(static_cast<size_t>(state));
    for (int64_t qi = 0; qi < nq; ++qi) {
      ap::Reset(total.data(), sh.d);
      for (int64_t p = 0; p < u.parts; ++p) ap::Fold(total.data(), u.slots + (p * nq + qi) * state, sh.d);
      FinishQuery(out, lse, seqs[static_cast<size_t>(u.task.seq)], IndexOf(u.task, group, qi),
                  total.data(), sh.d);
    }
  });
}

}  // namespace detinfer::kernels::attention_driver

#endif  // DETINFER_KERNELS_ATTENTION_DRIVER_H_
