// Key partitions of the attention order (SPEC §K3: "any split of the KV range uses fixed
// absolute boundaries and a fixed merge order"; attention.h gives the whole order).
//
// Keys are grouped in partitions of kAttentionPartition positions aligned to absolute position
// 0. A query runs the per-block online softmax over each partition separately, from a fresh
// state, and folds the partition states in ascending partition order. The boundaries depend
// only on absolute positions, so the bits are the same whether the partitions of a query are
// computed one after the other by one task (prefill) or by different threads (decode, where the
// split lets each thread stream a contiguous range of every kv head's rows instead of every
// thread reading a strided half of each position — which defeats the hardware prefetchers).
//
// The fold is plain scalar code shared by every path (it runs once per query and partition),
// so it cannot differ between the scalar, AVX2 and AVX-512 kernels.
#ifndef DETINFER_KERNELS_ATTENTION_PARTITION_H_
#define DETINFER_KERNELS_ATTENTION_PARTITION_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/attention_isa.h"
#include "kernels/math.h"
#include "kernels/simd/reduce_tree.h"

namespace detinfer::kernels::attention_partition {

// The state of one query over some keys, as floats: [0] running max m, [1] seen (1 when at
// least one key was visible, else 0), [2, 18) the 16 running-sum lanes, [18, 18 + D) acc.
inline constexpr int64_t kLanesAt = 2;
inline constexpr int64_t kAccAt = kLanesAt + kAttnLanes;
inline int64_t StateFloats(int64_t dim) { return kAccAt + dim; }

// A fresh state: m = -Inf, not seen, lanes and acc +0.
inline void Reset(float* st, int64_t dim) {
  st[0] = -INFINITY;
  st[1] = 0.0f;
  std::fill(st + kLanesAt, st + kAccAt + dim, 0.0f);
}

inline float Shift(float x, float y) { return x == y ? 0.0f : x - y; }

// Folds a partition's state into the running total. The first partition with a visible key is
// taken as it is (no arithmetic, so no -0 is turned into +0); each later one is merged:
//   m' = MaxCombine(m, m_p); a = ExpF(Shift(m, m')); b = ExpF(Shift(m_p, m'))
//   L[j] = L[j] * a + L_p[j] * b;  acc[d] = acc[d] * a + acc_p[d] * b
// (two rounded products, then one rounded sum; never an FMA). Partitions without a visible key
// are skipped entirely.
inline void Fold(float* total, const float* part, int64_t dim) {
  if (part[1] == 0.0f) return;
  if (total[1] == 0.0f) {
    std::memcpy(total, part, static_cast<size_t>(StateFloats(dim)) * sizeof(float));
    return;
  }
  const float m = reduce_tree::MaxCombine(total[0], part[0]);
  const float a = ExpF(Shift(total[0], m));
  const float b = ExpF(Shift(part[0], m));
  for (int64_t j = kLanesAt; j < kAccAt + dim; ++j) {
    const float x = total[j] * a;
    const float y = part[j] * b;
    total[j] = x + y;
  }
  total[0] = m;
}

// out[D] and lse of a folded state: l = TreeSum16(L); out[d] = acc[d] / l; lse = m + LogF(l).
// A query that saw no key: out = +0, lse = -Inf.
inline void Finish(const float* total, int64_t dim, float* out, float* lse) {
  if (total[1] == 0.0f) {
    for (int64_t d = 0; d < dim; ++d) out[d] = 0.0f;
    *lse = -INFINITY;
    return;
  }
  float lanes[kAttnLanes];
  std::memcpy(lanes, total + kLanesAt, sizeof lanes);
  const float l = reduce_tree::TreeSum16(lanes);
  for (int64_t d = 0; d < dim; ++d) out[d] = total[kAccAt + d] / l;
  *lse = total[0] + LogF(l);
}

}  // namespace detinfer::kernels::attention_partition

#endif  // DETINFER_KERNELS_ATTENTION_PARTITION_H_
