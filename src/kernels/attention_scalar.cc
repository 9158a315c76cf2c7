// Scalar path of the attention block kernel: the order of attention.h written out as plain
// loops, one query at a time. It is the reference the SIMD paths reproduce bit for bit.
#include <cmath>
#include <cstdint>

#include "core/dtype.h"
#include "kernels/attention_isa.h"
#include "kernels/math.h"
#include "kernels/simd/reduce_tree.h"

namespace detinfer::kernels::scalar {

namespace {

// Shift(x, y) of attention.h: +0 when equal, so -Inf - -Inf (a first block) never makes NaN.
inline float Shift(float x, float y) { return x == y ? 0.0f : x - y; }

// Element d of a storage row, widened exactly.
inline float Load(DType dt, const void* row, int64_t d) {
  switch (dt) {
    case DType::kBF16: return BF16ToF32(static_cast<const uint16_t*>(row)[d]);
    case DType::kF16: return F16ToF32(static_cast<const uint16_t*>(row)[d]);
    default: break;
  }
  return static_cast<const float*>(row)[d];
}

// Element d of key u of the block's visible list, widened exactly: from its row, or from its
// chunk when K is key-tiled (attention_isa.h).
inline float KeyAt(const AttnBlockArgs& a, int32_t u, int64_t d) {
  if (a.k_chunks != nullptr) return Load(a.dtype, a.k_chunks[u / kAttnLanes], d * kAttnLanes + u % kAttnLanes);
  return Load(a.dtype, a.k_rows[u], d);
}

}  // namespace

void AttendBlock(const AttnBlockArgs& a) {
  const int64_t dim = a.d;
  // Widen V once per block (exact), so the inner loop below is the plain fma of attention.h.
  for (int32_t u = 0; u < a.nvis; ++u) {
    float* dst = a.vc + u * dim;
    for (int64_t d = 0; d < dim; ++d) dst[d] = Load(a.dtype, a.v_rows[u], d);
  }
  for (int32_t qi = 0; qi < a.nq; ++qi) {
    AttnQuery& q = a.queries[qi];
    const int32_t c = q.count;
    if (c == 0) continue;  // the block is invisible to this query: skipped entirely
    // Scores: one sequential fma chain over d from +0, then one multiply by scale.
    for (int32_t u = 0; u < c; ++u) {
      float dot = 0.0f;
      for (int64_t d = 0; d < dim; ++d) dot = std::fma(q.q[d], KeyAt(a, u, d), dot);
      q.scores[u] = dot * a.scale;
    }
    SoftCapScores(a.softcap, q.scores, c);
    // Block max over 16 lanes (u % 16), fixed tree.
    float mx[kAttnLanes];
    for (float& v : mx) v = -INFINITY;
    for (int32_t u = 0; u < c; ++u) {
      mx[u % kAttnLanes] = reduce_tree::MaxCombine(mx[u % kAttnLanes], q.scores[u]);
    }
    const float m_new = reduce_tree::MaxCombine(q.m, reduce_tree::TreeMax16(mx));
    const float alpha = ExpF(Shift(q.m, m_new));
    for (int32_t u = 0; u < c; ++u) q.scores[u] = ExpF(Shift(q.scores[u], m_new));
    // Running sum lanes: rescale every lane, then add the block's probabilities by lane.
    for (int j = 0; j < kAttnLanes; ++j) q.lanes[j] = q.lanes[j] * alpha;
    for (int32_t u = 0; u < c; ++u) q.lanes[u % kAttnLanes] = q.lanes[u % kAttnLanes] + q.scores[u];
    // Running output: rescale, then one fma per visible key in ascending position.
    for (int64_t d = 0; d < dim; ++d) q.acc[d] = q.acc[d] * alpha;
    for (int32_t u = 0; u < c; ++u) {
      const float p = q.scores[u];
      const float* v = a.vc + u * dim;
      for (int64_t d = 0; d < dim; ++d) q.acc[d] = std::fma(p, v[d], q.acc[d]);
    }
    q.m = m_new;
  }
}

}  // namespace detinfer::kernels::scalar
