// NEON path of the attention block kernel (aarch64): the AVX2 path's structure (see the top of
// attention_avx512.cc for why each step gives the scalar bits) on 4-lane q registers.
//   * Scores: K is transposed once per block into kt[d][key], so a q register holds 4
//     different keys and each lane runs the scalar chain dot = fma(q[d], k[d], dot) from +0.
//   * The 16 canonical lanes of the block max and running sum are four q registers (lanes
//     0-3, 4-7, 8-11, 12-15); tails are selected (untouched lanes keep their value).
//   * Output: a q register holds 4 different d; acc = acc * alpha, then one vfmaq_f32 per
//     visible key in ascending order.
//   * exp: Exp4 is ExpF lane for lane (simd/math_neon.h); the max is a > b ? a : b.
// D is a multiple of 8, so every D chunk is whole q registers.
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "kernels/attention_isa.h"
#include "kernels/simd/math_neon.h"
#include "kernels/simd/reduce_tree.h"

namespace detinfer::kernels::neon {

namespace {

namespace nm = neon_math;
constexpr int64_t kB = kAttnBlock;

// Rows past the block's visible list read this (their scores are never used).
alignas(64) const float kZeroRow[256] = {};

template <DType DT>
inline float32x4_t Load4(const void* row, int64_t d0) {
  if constexpr (DT == DType::kF32) {
    return vld1q_f32(static_cast<const float*>(row) + d0);
  } else {
    const uint16x4_t h = vld1_u16(static_cast<const uint16_t*>(row) + d0);
    if constexpr (DT == DType::kBF16) {
      return vreinterpretq_f32_u32(vshll_n_u16(h, 16));  // exact
    } else {
      return vcvt_f32_f16(vreinterpret_f16_u16(h));  // exact (FPCR.FZ16 is off)
    }
  }
}

// In-register 4x4 transpose: r[i] lane j -> r[j] lane i.
inline void Transpose4(float32x4_t r[4]) {
  const float32x4_t t0 = vtrn1q_f32(r[0], r[1]), t1 = vtrn2q_f32(r[0], r[1]);
  const float32x4_t t2 = vtrn1q_f32(r[2], r[3]), t3 = vtrn2q_f32(r[2], r[3]);
  const auto d = [](float32x4_t v) { return vreinterpretq_f64_f32(v); };
  r[0] = vreinterpretq_f32_f64(vtrn1q_f64(d(t0), d(t2)));
  r[1] = vreinterpretq_f32_f64(vtrn1q_f64(d(t1), d(t3)));
  r[2] = vreinterpretq_f32_f64(vtrn2q_f64(d(t0), d(t2)));
  r[3] = vreinterpretq_f32_f64(vtrn2q_f64(d(t1), d(t3)));
}

template <DType DT>
void Widen(const AttnBlockArgs& a, int32_t nk16) {
  const int64_t dim = a.d;
  constexpr int64_t kElem = DT == DType::kF32 ? 4 : 2;
  // Key-tiled K is stored transposed already: widen each chunk's rows (16 keys) in order,
  // prefetching the same rows of the next block's chunk (its V rows follow below).
  for (int32_t t0 = 0; t0 < nk16 && a.k_chunks != nullptr; t0 += 16) {
    const void* chunk = a.k_chunks[t0 / 16];
    const char* next = t0 < a.next_n ? static_cast<const char*>(a.next_k_chunks[t0 / 16]) : nullptr;
    for (int64_t d = 0; d < dim; ++d) {
      if (next != nullptr && (d * 16 * kElem) % 64 == 0) __builtin_prefetch(next + d * 16 * kElem, 0, 2);
      for (int i = 0; i < 4; ++i) vst1q_f32(a.kt + d * kB + t0 + 4 * i, Load4<DT>(chunk, d * 16 + 4 * i));
    }
  }
  for (int32_t t0 = 0; t0 < nk16 && a.k_chunks == nullptr; t0 += 4) {
    const void* rows[4];
    for (int i = 0; i < 4; ++i) rows[i] = t0 + i < a.nvis ? a.k_rows[t0 + i] : kZeroRow;
    for (int64_t d0 = 0; d0 < dim; d0 += 4) {
      float32x4_t r[4];
      for (int i = 0; i < 4; ++i) r[i] = Load4<DT>(rows[i], d0);
      Transpose4(r);
      for (int j = 0; j < 4; ++j) vst1q_f32(a.kt + (d0 + j) * kB + t0, r[j]);
    }
  }
  for (int32_t u = 0; u < a.nvis; ++u) {
    if (u < a.next_n) {
      const char* next = static_cast<const char*>(a.next_v_rows[u]);
      for (int64_t off = 0; off < a.row_bytes; off += 64) __builtin_prefetch(next + off, 0, 2);
    }
    if constexpr (DT == DType::kF32) {
      a.v_f32[u] = static_cast<const float*>(a.v_rows[u]);
    } else {
      float* dst = a.vc + u * dim;
      for (int64_t d0 = 0; d0 < dim; d0 += 4) vst1q_f32(dst + d0, Load4<DT>(a.v_rows[u], d0));
      a.v_f32[u] = dst;
    }
  }
}

// scores[16c .. 16c+16) of NQ queries for one 16-key chunk c.
template <int NQ>
void Scores16(AttnQuery* const* qs, const float* kt, int64_t dim, float scale, int c) {
  float32x4_t acc[NQ][4];
  for (int r = 0; r < NQ; ++r) {
    for (int i = 0; i < 4; ++i) acc[r][i] = vdupq_n_f32(0.0f);
  }
  for (int64_t d = 0; d < dim; ++d) {
    float32x4_t k[4];
    for (int i = 0; i < 4; ++i) k[i] = vld1q_f32(kt + d * kB + 16 * c + 4 * i);
#pragma GCC unroll 4
    for (int r = 0; r < NQ; ++r) {
      const float32x4_t b = vdupq_n_f32(qs[r]->q[d]);
      for (int i = 0; i < 4; ++i) acc[r][i] = vfmaq_f32(acc[r][i], b, k[i]);
    }
  }
  const float32x4_t s = vdupq_n_f32(scale);
  for (int r = 0; r < NQ; ++r) {
    for (int i = 0; i < 4; ++i) vst1q_f32(qs[r]->scores + 16 * c + 4 * i, vmulq_f32(acc[r][i], s));
  }
}

inline float Shift(float x, float y) { return x == y ? 0.0f : x - y; }
inline float ExpScalar(float x) { return vgetq_lane_f32(nm::Exp4(vdupq_n_f32(x)), 0); }

// p = Exp(Shift(x, m)) lane-wise (lanes equal to m get +0 before the exp).
inline float32x4_t ShiftedExp(float32x4_t x, float32x4_t vm) {
  return nm::Exp4(vreinterpretq_f32_u32(
      vbicq_u32(vreinterpretq_u32_f32(vsubq_f32(x, vm)), vceqq_f32(x, vm))));
}

float OnlineSoftmax(AttnQuery& q) {
  const int32_t c = q.count;
  const int nc = (c + 15) / 16;
  const float32x4_t neg_inf = vdupq_n_f32(-__builtin_inff());
  float32x4_t mx[4] = {neg_inf, neg_inf, neg_inf, neg_inf};
  for (int j = 0; j < nc; ++j) {
    for (int i = 0; i < 4; ++i) {
      const uint32x4_t m = nm::TailMask4(c - 16 * j - 4 * i);
      mx[i] = vbslq_f32(m, nm::Max4(mx[i], vld1q_f32(q.scores + 16 * j + 4 * i)), mx[i]);
    }
  }
  float lanes[16];
  for (int i = 0; i < 4; ++i) vst1q_f32(lanes + 4 * i, mx[i]);
  const float m_new = reduce_tree::MaxCombine(q.m, reduce_tree::TreeMax16(lanes));
  const float alpha = ExpScalar(Shift(q.m, m_new));
  const float32x4_t vm = vdupq_n_f32(m_new), al = vdupq_n_f32(alpha);
  float32x4_t l[4];
  for (int i = 0; i < 4; ++i) l[i] = vmulq_f32(vld1q_f32(q.lanes + 4 * i), al);
  for (int j = 0; j < nc; ++j) {
    for (int i = 0; i < 4; ++i) {
      const uint32x4_t m = nm::TailMask4(c - 16 * j - 4 * i);
      const float32x4_t p = ShiftedExp(vld1q_f32(q.scores + 16 * j + 4 * i), vm);
      vst1q_f32(q.scores + 16 * j + 4 * i, p);
      l[i] = vbslq_f32(m, vaddq_f32(l[i], p), l[i]);
    }
  }
  for (int i = 0; i < 4; ++i) vst1q_f32(q.lanes + 4 * i, l[i]);
  q.m = m_new;
  return alpha;
}

// acc[d0 .. d0+4*NC) of NQ queries: the keys every query sees share each V load; then each
// query's own remaining keys continue the same chain.
template <int NQ, int NC>
void Pv(AttnQuery* const* qs, const float* alpha, const float* const* vf, int64_t d0) {
  float32x4_t acc[NQ][NC];
  const float* ps[NQ];
  int32_t common = qs[0]->count;
#pragma GCC unroll 4
  for (int r = 0; r < NQ; ++r) {
    ps[r] = qs[r]->scores;
    common = qs[r]->count < common ? qs[r]->count : common;
    const float32x4_t al = vdupq_n_f32(alpha[r]);
    for (int c = 0; c < NC; ++c) acc[r][c] = vmulq_f32(vld1q_f32(qs[r]->acc + d0 + 4 * c), al);
  }
  for (int32_t u = 0; u < common; ++u) {
    float32x4_t v[NC];
#pragma GCC unroll 4
    for (int c = 0; c < NC; ++c) v[c] = vld1q_f32(vf[u] + d0 + 4 * c);
#pragma GCC unroll 4
    for (int r = 0; r < NQ; ++r) {
      const float32x4_t p = vdupq_n_f32(ps[r][u]);
#pragma GCC unroll 4
      for (int c = 0; c < NC; ++c) acc[r][c] = vfmaq_f32(acc[r][c], p, v[c]);
    }
  }
  for (int r = 0; r < NQ; ++r) {
    for (int c = 0; c < NC; ++c) vst1q_f32(qs[r]->acc + d0 + 4 * c, acc[r][c]);
  }
  for (int r = 0; r < NQ; ++r) {
    const AttnQuery& q = *qs[r];
    for (int c = 0; c < NC; ++c) {
      if (q.count == common) break;
      float* dst = q.acc + d0 + 4 * c;
      float32x4_t x = vld1q_f32(dst);
      for (int32_t u = common; u < q.count; ++u) {
        x = vfmaq_f32(x, vdupq_n_f32(q.scores[u]), vld1q_f32(vf[u] + d0 + 4 * c));
      }
      vst1q_f32(dst, x);
    }
  }
}

template <int NQ>
void Group(AttnQuery* const* qs, const AttnBlockArgs& a) {
  int32_t maxc = 0;
  for (int r = 0; r < NQ; ++r) maxc = qs[r]->count > maxc ? qs[r]->count : maxc;
  for (int c = 0; c < (maxc + 15) / 16; ++c) Scores16<NQ>(qs, a.kt, a.d, a.scale, c);
  float alpha[NQ];
  for (int r = 0; r < NQ; ++r) SoftCapScores(a.softcap, qs[r]->scores, qs[r]->count);
  for (int r = 0; r < NQ; ++r) alpha[r] = OnlineSoftmax(*qs[r]);
  int64_t d0 = 0;
  for (; d0 + 16 <= a.d; d0 += 16) Pv<NQ, 4>(qs, alpha, a.v_f32, d0);
  if (d0 < a.d) Pv<NQ, 2>(qs, alpha, a.v_f32, d0);  // D % 16 == 8
}

}  // namespace

void AttendBlock(const AttnBlockArgs& a) {
  const int32_t nk16 = (a.nvis + 15) / 16 * 16;
  switch (a.dtype) {
    case DType::kF32: Widen<DType::kF32>(a, nk16); break;
    case DType::kBF16: Widen<DType::kBF16>(a, nk16); break;
    case DType::kF16: Widen<DType::kF16>(a, nk16); break;
    default: break;  // K/V are never stored in a block format (checked by the driver)
  }
  AttnQuery* group[4];
  int n = 0;
  for (int32_t i = 0; i < a.nq; ++i) {
    if (a.queries[i].count == 0) continue;
    group[n++] = &a.queries[i];
    if (n == 4) {
      Group<4>(group, a);
      n = 0;
    }
  }
  switch (n) {
    case 1: Group<1>(group, a); break;
    case 2: Group<2>(group, a); break;
    case 3: Group<3>(group, a); break;
    default: break;
  }
}

}  // namespace detinfer::kernels::neon
