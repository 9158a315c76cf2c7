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

inline AttnKvDType ToKvDType(DType d) {
  switch (d) {
    case DType::kBF16: return AttnKvDType::kBF16;
    case DType::kF16: return AttnKvDType::kF16;
    case DType::kF32: break;
  }
  return AttnKvDType::kF32;
}

using BlockKernel = void (*)(const AttnBlockArgs&);

inline BlockKernel SelectKernel(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return &avx512::AttendBlock;
    case Isa::kAvx2: return &avx2::AttendBlock;
    case Isa::kScalar: break;
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

struct Shape {
  int64_t hq, hkv, d;
  float scale;  // resolved (never 0)
  bool causal;
};

// One task: rows [r0, r1) of sequence `si`, every query head of kv heads [g0, g1).
struct Task {
  int64_t seq, g0, g1, r0, r1;
};

template <typename Locator>
void RunTask(BlockKernel kernel, const TensorView& q, const Shape& sh, AttnKvDType dtype,
             size_t kv_elem, const AttentionSeq& seq, const Task& tk, const TensorView& out,
             const TensorView& lse, const Locator& loc) {
  const int64_t group = sh.hq / sh.hkv, dim = sh.d;
  const int64_t r0 = tk.r0, r1 = tk.r1, g0 = tk.g0, nrows = r1 - r0;
  const int64_t per_head = nrows * group;  // queries of one kv head
  const int64_t nq = per_head * (tk.g1 - g0);
  constexpr int64_t kB = kAttnBlock;
  // Layout: kt [dim][B] | vc [B][dim] | per query acc [dim], lanes [16], scores [B].
  const int64_t per_query = dim + kAttnLanes + kB;
  float* const kt = ThreadScratch(static_cast<size_t>(2 * dim * kB + nq * per_query));
  float* const vc = kt + dim * kB;
  float* const qstate = vc + dim * kB;
  // Query i of kv head g, row r, head offset hh: index (g - g0) * per_head + (r - r0) * group + hh.
  std::vector<AttnQuery> queries(static_cast<size_t>(nq));
  std::vector<uint8_t> seen(static_cast<size_t>(nq), 0);
  for (int64_t qi = 0; qi < nq; ++qi) {
    const int64_t g = g0 + qi / per_head, r = r0 + qi % per_head / group, hh = qi % group;
    float* st = qstate + qi * per_query;
    AttnQuery& aq = queries[static_cast<size_t>(qi)];
    aq.q = q.as<const float>() + (seq.q_begin + r) * q.stride[0] + (g * group + hh) * q.stride[1];
    std::fill(st, st + dim + kAttnLanes, 0.0f);  // acc and lanes start at +0
    aq.acc = st;
    aq.lanes = st + dim;
    aq.scores = st + dim + kAttnLanes;
    aq.m = -INFINITY;
    aq.count = 0;
  }
  const void* k_rows[kB];
  const void* v_rows[kB];
  const float* v_f32[kB];
  int64_t vis[kB];
  int32_t row_count[kQueriesPerTask];
  const int64_t row_bytes = dim * static_cast<int64_t>(kv_elem);
  AttnBlockArgs args{dim, sh.scale, 0, k_rows, v_rows, dtype, kt, vc, v_f32, nullptr,
                     static_cast<int32_t>(per_head), row_bytes, row_bytes};
  // Keys beyond the last row's position are invisible to every query of the task.
  const int64_t last_pos = seq.q_pos + r1 - 1;
  const int64_t upper = sh.causal ? std::min(seq.kv_len, last_pos + 1) : seq.kv_len;
  for (int64_t lo = 0; lo < upper; lo += kB) {
    const int64_t hi = std::min(lo + kB, upper);
    int32_t nvis = 0;
    for (int64_t t = lo; t < hi; ++t) {
      if (seq.key_mask.empty() || seq.key_mask[static_cast<size_t>(t)] != 0) vis[nvis++] = t;
    }
    if (nvis == 0) continue;
    args.nvis = nvis;
    for (int64_t r = r0; r < r1; ++r) {
      // The visible keys of this row: the prefix of the list at or before its position.
      int32_t count = nvis;
      if (sh.causal) {
        const int64_t pos = seq.q_pos + r;
        count = static_cast<int32_t>(std::upper_bound(vis, vis + nvis, pos) - vis);
      }
      row_count[r - r0] = count;
    }
    // The task's kv heads one after the other on this block: their rows are adjacent in
    // memory, so the task streams [g0, g1) * D contiguous elements per position.
    // When the task's heads sit side by side at every visible position (the usual [T, Hkv, D]
    // layouts), the first head's kernel touches all of them at once: longer contiguous runs.
    bool adjacent = tk.g1 - g0 > 1;
    for (int32_t u = 0; u < nvis && adjacent; ++u) {
      const void *k0, *v0, *k1, *v1;
      loc.Row(tk.seq, vis[u], g0, &k0, &v0);
      loc.Row(tk.seq, vis[u], tk.g1 - 1, &k1, &v1);
      const int64_t span = (tk.g1 - 1 - g0) * row_bytes;
      adjacent = static_cast<const char*>(k1) - static_cast<const char*>(k0) == span &&
                 static_cast<const char*>(v1) - static_cast<const char*>(v0) == span;
    }
    for (int64_t g = g0; g < tk.g1; ++g) {
      args.touch_bytes = !adjacent ? row_bytes : g == g0 ? (tk.g1 - g0) * row_bytes : 0;
      AttnQuery* qs = queries.data() + (g - g0) * per_head;
      for (int64_t i = 0; i < per_head; ++i) {
        const int32_t count = row_count[i / group];
        qs[i].count = count;
        uint8_t& sn = seen[static_cast<size_t>((g - g0) * per_head + i)];
        sn = static_cast<uint8_t>(sn | (count > 0 ? 1 : 0));
      }
      for (int32_t u = 0; u < nvis; ++u) loc.Row(tk.seq, vis[u], g, &k_rows[u], &v_rows[u]);
      args.queries = qs;
      kernel(args);
    }
  }
  // Final division and LSE, shared by every path (so they cannot differ).
  for (int64_t qi = 0; qi < nq; ++qi) {
    const int64_t g = g0 + qi / per_head, r = r0 + qi % per_head / group, hh = qi % group;
    const int64_t h = g * group + hh;
    const AttnQuery& aq = queries[static_cast<size_t>(qi)];
    float* o = out.as<float>() + (seq.q_begin + r) * out.stride[0] + h * out.stride[1];
    float* l_out = lse.as<float>() + (seq.q_begin + r) * lse.stride[0] + h * lse.stride[1];
    if (!seen[static_cast<size_t>(qi)]) {
      for (int64_t d = 0; d < dim; ++d) o[d] = 0.0f;
      *l_out = -INFINITY;
      continue;
    }
    float lanes[kAttnLanes];
    std::memcpy(lanes, aq.lanes, sizeof lanes);
    const float l = reduce_tree::TreeSum16(lanes);
    for (int64_t d = 0; d < dim; ++d) o[d] = aq.acc[d] / l;
    *l_out = aq.m + LogF(l);
  }
}

// Splits the call into tasks and runs them. seqs, shapes and storage are already validated.
// The split decides only who computes which queries, never how (see kQueriesPerTask).
template <typename Locator>
void Run(const KernelContext& ctx, const TensorView& q, const Shape& sh, DType kv_dtype,
         std::span<const AttentionSeq> seqs, const TensorView& out, const TensorView& lse,
         const Locator& loc) {
  const int64_t group = sh.hq / sh.hkv;
  const int64_t rows_per_task = std::max<int64_t>(1, kQueriesPerTask / group);
  // Decode-like calls (few rows) put several kv heads in one task, so that a task streams
  // longer contiguous runs of each K/V position, as long as that leaves a task per thread
  // and at most kQueriesPerTask queries per task.
  int64_t row_blocks = 0;
  for (const AttentionSeq& s : seqs) row_blocks += (s.q_len + rows_per_task - 1) / rows_per_task;
  int64_t max_rows = 1;
  for (const AttentionSeq& s : seqs) max_rows = std::max(max_rows, std::min(s.q_len, rows_per_task));
  int64_t heads = 1;
  for (int64_t h = sh.hkv; h > 1; --h) {
    if (sh.hkv % h == 0 && h * max_rows * group <= kQueriesPerTask &&
        row_blocks * (sh.hkv / h) >= ctx.num_threads()) {
      heads = h;
      break;
    }
  }
  std::vector<Task> tasks;
  for (size_t s = 0; s < seqs.size(); ++s) {
    const int64_t n = seqs[s].q_len;
    // Later rows see more keys under causal masking: list them first so the heaviest tasks
    // start first (only the schedule changes).
    for (int64_t r0 = ((n - 1) / rows_per_task) * rows_per_task; n > 0 && r0 >= 0;
         r0 -= rows_per_task) {
      for (int64_t g = 0; g < sh.hkv; g += heads) {
        tasks.push_back({static_cast<int64_t>(s), g, g + heads, r0, std::min(n, r0 + rows_per_task)});
      }
    }
  }
  const BlockKernel kernel = SelectKernel(ctx.isa);
  const AttnKvDType dtype = ToKvDType(kv_dtype);
  const size_t elem = DTypeSize(kv_dtype);
  ctx.ParallelFor(static_cast<int64_t>(tasks.size()), [&](int64_t t) {
    const Task& tk = tasks[static_cast<size_t>(t)];
    RunTask(kernel, q, sh, dtype, elem, seqs[static_cast<size_t>(tk.seq)], tk, out, lse, loc);
  });
}

}  // namespace detinfer::kernels::attention_driver

#endif  // DETINFER_KERNELS_ATTENTION_DRIVER_H_
