// AVX2 path of the attention block kernel: the AVX-512 path's structure (see the comment at the
// top of attention_avx512.cc for why each step matches the scalar bits) on 8-lane registers.
// The 16 canonical lanes of the block max and running sum are two ymm: lo = lanes 0-7,
// hi = lanes 8-15. D is a multiple of 8, so every D chunk is a whole ymm.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/attention_isa.h"
#include "kernels/simd/math_avx2.h"
#include "kernels/simd/reduce_tree.h"

namespace detinfer::kernels::avx2 {

namespace {

using avx2_math::TailMask8;
constexpr int64_t kB = kAttnBlock;

// Rows past the block's visible list read this (their scores are never used).
alignas(64) const float kZeroRow[256] = {};

template <DType DT>
inline __m256 Load8(const void* row, int64_t d0) {
  if constexpr (DT == DType::kF32) {
    return _mm256_loadu_ps(static_cast<const float*>(row) + d0);
  } else {
    const __m128i h =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(row) + d0));
    if constexpr (DT == DType::kBF16) {
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    } else {
      return _mm256_cvtph_ps(h);
    }
  }
}

// In-register 8x8 transpose: r[i] lane j -> r[j] lane i.
inline void Transpose8(__m256 r[8]) {
  __m256 t[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  __m256 u[8];
  for (int i = 0; i < 2; ++i) {
    u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
    r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
  }
}

// Demand-loads every cache line of the block's K/V rows first (see attention_avx512.cc).
inline void Touch(const AttnBlockArgs& a) {
  if (a.touch_bytes == 0) return;
  __m128 sink = _mm_setzero_ps();
  for (int32_t u = 0; u < a.nvis; ++u) {
    const char* kr = static_cast<const char*>(a.k_rows[u]);
    const char* vr = static_cast<const char*>(a.v_rows[u]);
    for (int64_t off = 0; off < a.touch_bytes; off += 64) {
      sink = _mm_or_ps(sink, _mm_load_ss(reinterpret_cast<const float*>(kr + off)));
      sink = _mm_or_ps(sink, _mm_load_ss(reinterpret_cast<const float*>(vr + off)));
    }
  }
  __asm__ volatile("" : : "x"(sink));  // keep the loads; the value is never used
}

template <DType DT>
void Widen(const AttnBlockArgs& a, int32_t nk16) {
  const int64_t dim = a.d;
  // Key-tiled K is stored transposed already: widen each chunk's rows (16 keys) in order,
  // prefetching the same rows of the next block's chunk into L2 (see attention_avx512.cc,
  // PrefetchL2: that block's V rows follow below).
  constexpr int64_t kElem = DT == DType::kF32 ? 4 : 2;
  for (int32_t t0 = 0; t0 < nk16 && a.k_chunks != nullptr; t0 += 16) {
    const void* chunk = a.k_chunks[t0 / 16];
    const char* next = t0 < a.next_n ? static_cast<const char*>(a.next_k_chunks[t0 / 16]) : nullptr;
    for (int64_t d = 0; d < dim; ++d) {
      if (next != nullptr && (d * 16 * kElem) % 64 == 0) {
        _mm_prefetch(next + d * 16 * kElem, _MM_HINT_T1);
      }
      _mm256_store_ps(a.kt + d * kB + t0, Load8<DT>(chunk, d * 16));
      _mm256_store_ps(a.kt + d * kB + t0 + 8, Load8<DT>(chunk, d * 16 + 8));
    }
  }
  for (int32_t t0 = 0; t0 < nk16 && a.k_chunks == nullptr; t0 += 8) {
    const void* rows[8];
    for (int i = 0; i < 8; ++i) rows[i] = t0 + i < a.nvis ? a.k_rows[t0 + i] : kZeroRow;
    for (int64_t d0 = 0; d0 < dim; d0 += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = Load8<DT>(rows[i], d0);
      Transpose8(r);
      for (int j = 0; j < 8; ++j) _mm256_store_ps(a.kt + (d0 + j) * kB + t0, r[j]);
    }
  }
  for (int32_t u = 0; u < a.nvis; ++u) {
    if (u < a.next_n) {
      const char* next = static_cast<const char*>(a.next_v_rows[u]);
      for (int64_t off = 0; off < a.row_bytes; off += 64) _mm_prefetch(next + off, _MM_HINT_T1);
    }
    if constexpr (DT == DType::kF32) {
      a.v_f32[u] = static_cast<const float*>(a.v_rows[u]);
    } else {
      float* dst = a.vc + u * dim;
      for (int64_t d0 = 0; d0 < dim; d0 += 8) _mm256_storeu_ps(dst + d0, Load8<DT>(a.v_rows[u], d0));
      a.v_f32[u] = dst;
    }
  }
}

// scores[16c .. 16c+16) of NQ queries for one 16-key chunk c.
template <int NQ>
void Scores16(AttnQuery* const* qs, const float* kt, int64_t dim, float scale, int c) {
  __m256 acc[NQ][2];
  for (int r = 0; r < NQ; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t d = 0; d < dim; ++d) {
    const __m256 k0 = _mm256_load_ps(kt + d * kB + 16 * c);
    const __m256 k1 = _mm256_load_ps(kt + d * kB + 16 * c + 8);
#pragma GCC unroll 4
    for (int r = 0; r < NQ; ++r) {
      const __m256 b = _mm256_set1_ps(qs[r]->q[d]);
      acc[r][0] = _mm256_fmadd_ps(b, k0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(b, k1, acc[r][1]);
    }
  }
  const __m256 s = _mm256_set1_ps(scale);
  for (int r = 0; r < NQ; ++r) {
    _mm256_storeu_ps(qs[r]->scores + 16 * c, _mm256_mul_ps(acc[r][0], s));
    _mm256_storeu_ps(qs[r]->scores + 16 * c + 8, _mm256_mul_ps(acc[r][1], s));
  }
}

inline float Shift(float x, float y) { return x == y ? 0.0f : x - y; }
inline float ExpScalar(float x) { return _mm256_cvtss_f32(avx2_math::Exp8(_mm256_set1_ps(x))); }

// attention.h's soft cap, scores[u] = cap * TanhF(scores[u] / cap), 8 scores at a time: the
// same three operations per score as the shared scalar SoftCapScores.
inline void SoftCapScores8(float cap, float* scores, int32_t count) {
  if (cap == 0.0f) return;
  const __m256 c = _mm256_set1_ps(cap);
  for (int32_t u = 0; u < count; u += 8) {
    const __m256i m = TailMask8(count - u);
    const __m256 s = _mm256_maskload_ps(scores + u, m);
    _mm256_maskstore_ps(scores + u, m, _mm256_mul_ps(c, avx2_math::Tanh8(_mm256_div_ps(s, c))));
  }
}

// p = Exp(Shift(x, m)) lane-wise (lanes equal to m get +0 before the exp).
inline __m256 ShiftedExp(__m256 x, __m256 vm) {
  return avx2_math::Exp8(_mm256_andnot_ps(_mm256_cmp_ps(x, vm, _CMP_EQ_OQ), _mm256_sub_ps(x, vm)));
}

float OnlineSoftmax(AttnQuery& q) {
  const int32_t c = q.count;
  const int nc = (c + 15) / 16;
  __m256 lo = _mm256_set1_ps(-__builtin_inff()), hi = lo;
  for (int j = 0; j < nc; ++j) {
    const __m256 mlo = _mm256_castsi256_ps(TailMask8(c - 16 * j));
    const __m256 mhi = _mm256_castsi256_ps(TailMask8(c - 16 * j - 8));
    lo = _mm256_blendv_ps(lo, _mm256_max_ps(lo, _mm256_loadu_ps(q.scores + 16 * j)), mlo);
    hi = _mm256_blendv_ps(hi, _mm256_max_ps(hi, _mm256_loadu_ps(q.scores + 16 * j + 8)), mhi);
  }
  float lanes[16];
  _mm256_storeu_ps(lanes, lo);
  _mm256_storeu_ps(lanes + 8, hi);
  const float m_new = reduce_tree::MaxCombine(q.m, reduce_tree::TreeMax16(lanes));
  const float alpha = ExpScalar(Shift(q.m, m_new));
  const __m256 vm = _mm256_set1_ps(m_new), al = _mm256_set1_ps(alpha);
  __m256 llo = _mm256_mul_ps(_mm256_loadu_ps(q.lanes), al);
  __m256 lhi = _mm256_mul_ps(_mm256_loadu_ps(q.lanes + 8), al);
  for (int j = 0; j < nc; ++j) {
    const __m256 mlo = _mm256_castsi256_ps(TailMask8(c - 16 * j));
    const __m256 mhi = _mm256_castsi256_ps(TailMask8(c - 16 * j - 8));
    const __m256 plo = ShiftedExp(_mm256_loadu_ps(q.scores + 16 * j), vm);
    const __m256 phi = ShiftedExp(_mm256_loadu_ps(q.scores + 16 * j + 8), vm);
    _mm256_storeu_ps(q.scores + 16 * j, plo);
    _mm256_storeu_ps(q.scores + 16 * j + 8, phi);
    llo = _mm256_blendv_ps(llo, _mm256_add_ps(llo, plo), mlo);
    lhi = _mm256_blendv_ps(lhi, _mm256_add_ps(lhi, phi), mhi);
  }
  _mm256_storeu_ps(q.lanes, llo);
  _mm256_storeu_ps(q.lanes + 8, lhi);
  q.m = m_new;
  return alpha;
}

// acc[d0 .. d0+8*NC) of NQ queries (see attention_avx512.cc Pv).
template <int NQ, int NC>
void Pv(AttnQuery* const* qs, const float* alpha, const float* const* vf, int64_t d0) {
  __m256 acc[NQ][NC];
  const float* ps[NQ];
  int32_t common = qs[0]->count;
#pragma GCC unroll 4
  for (int r = 0; r < NQ; ++r) {
    ps[r] = qs[r]->scores;
    common = qs[r]->count < common ? qs[r]->count : common;
    const __m256 al = _mm256_set1_ps(alpha[r]);
    for (int c = 0; c < NC; ++c) acc[r][c] = _mm256_mul_ps(_mm256_loadu_ps(qs[r]->acc + d0 + 8 * c), al);
  }
  for (int32_t u = 0; u < common; ++u) {
    __m256 v[NC];
#pragma GCC unroll 2
    for (int c = 0; c < NC; ++c) v[c] = _mm256_loadu_ps(vf[u] + d0 + 8 * c);
#pragma GCC unroll 4
    for (int r = 0; r < NQ; ++r) {
      const __m256 p = _mm256_set1_ps(ps[r][u]);
#pragma GCC unroll 2
      for (int c = 0; c < NC; ++c) acc[r][c] = _mm256_fmadd_ps(p, v[c], acc[r][c]);
    }
  }
  for (int r = 0; r < NQ; ++r) {
    for (int c = 0; c < NC; ++c) _mm256_storeu_ps(qs[r]->acc + d0 + 8 * c, acc[r][c]);
  }
  // Each query's own remaining keys, continuing the same chain (see attention_avx512.cc).
  for (int r = 0; r < NQ; ++r) {
    const AttnQuery& q = *qs[r];
    for (int c = 0; c < NC; ++c) {
      if (q.count == common) break;
      float* dst = q.acc + d0 + 8 * c;
      __m256 x = _mm256_loadu_ps(dst);
      for (int32_t u = common; u < q.count; ++u) {
        x = _mm256_fmadd_ps(_mm256_set1_ps(q.scores[u]), _mm256_loadu_ps(vf[u] + d0 + 8 * c), x);
      }
      _mm256_storeu_ps(dst, x);
    }
  }
}

template <int NQ>
void Group(AttnQuery* const* qs, const AttnBlockArgs& a) {
  int32_t maxc = 0;
  for (int r = 0; r < NQ; ++r) maxc = qs[r]->count > maxc ? qs[r]->count : maxc;
  for (int c = 0; c < (maxc + 15) / 16; ++c) Scores16<NQ>(qs, a.kt, a.d, a.scale, c);
  float alpha[NQ];
  for (int r = 0; r < NQ; ++r) SoftCapScores8(a.softcap, qs[r]->scores, qs[r]->count);
  for (int r = 0; r < NQ; ++r) alpha[r] = OnlineSoftmax(*qs[r]);
  int64_t d0 = 0;
  for (; d0 + 16 <= a.d; d0 += 16) Pv<NQ, 2>(qs, alpha, a.v_f32, d0);
  if (d0 < a.d) Pv<NQ, 1>(qs, alpha, a.v_f32, d0);
}

}  // namespace

void AttendBlock(const AttnBlockArgs& a) {
  const int32_t nk16 = (a.nvis + 15) / 16 * 16;
  Touch(a);
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

}  // namespace detinfer::kernels::avx2
