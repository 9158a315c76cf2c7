// AVX-512 path of the attention block kernel (attention.h gives the order; attention_scalar.cc
// is the plain reference). Why it matches the scalar bits:
//   * Scores: K is transposed once per block into kt[d][key], so a zmm holds 16 *different
//     keys* and each lane runs exactly the scalar chain dot = fma(q[d], k[d], dot), d = 0..D-1,
//     from +0. Tiles of 4 queries x 64 keys share every kt load (prefill and GQA decode reuse).
//   * Block max / running-sum lanes: lane j of a zmm is lane j = u % 16 of the order; tails are
//     merge-masked (untouched lanes keep their value, never fed padding).
//   * Output: a zmm holds 16 *different d*; acc = acc * alpha, then one fmadd per visible key in
//     ascending order. Tiles of 4 queries x 64 d share every V load.
//   * exp: Exp16 is ExpF lane for lane (simd/math_avx512.h).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/attention_isa.h"
#include "kernels/simd/math_avx512.h"
#include "kernels/simd/reduce_tree.h"

namespace detinfer::kernels::avx512 {

namespace {

using avx512_math::kAll16;
constexpr int64_t kB = kAttnBlock;
// GCC 12 warns inside the plain forms of several AVX-512 intrinsics (built on
// _mm512_undefined_*), so the zero-masked forms with all-ones masks are used: the same
// instructions, the same bits (see simd/math_avx512.h).
constexpr __mmask8 kAll8 = static_cast<__mmask8>(0xff);

// Rows past the block's visible list (padding of the last 16-key chunk) read this: their
// scores are computed but never used (no query's count reaches them).
alignas(64) const float kZeroRow[256] = {};

inline __mmask16 DMask(int64_t remaining) {
  return remaining >= 16 ? kAll16 : static_cast<__mmask16>((1u << remaining) - 1u);
}

// Masked stores are far slower than plain ones on some CPUs (measured: AMD Zen 4), so they
// are used only where a chunk is partial (the 8-wide tail when D % 16 == 8).
inline void StoreF(float* p, __mmask16 m, __m512 v) {
  if (m == kAll16) {
    _mm512_storeu_ps(p, v);
  } else {
    _mm512_mask_storeu_ps(p, m, v);
  }
}

// 16 elements (fewer under `m`, the rest +0) of a storage row from element d0, widened exactly.
template <DType DT>
inline __m512 Load16(const void* row, int64_t d0, __mmask16 m) {
  if constexpr (DT == DType::kF32) {
    const float* p = static_cast<const float*>(row) + d0;
    return m == kAll16 ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p);
  } else {
    const uint16_t* p = static_cast<const uint16_t*>(row) + d0;
    const __m256i h = m == kAll16 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
                                  : _mm256_maskz_loadu_epi16(m, p);
    if constexpr (DT == DType::kBF16) {
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    } else {
      return _mm512_cvtph_ps(h);
    }
  }
}

// Load16 with the mask known at compile time (MASKED: the 8-wide tail).
template <DType DT, bool MASKED>
inline __m512 LoadV(const void* row, int64_t d0) {
  constexpr __mmask16 kHalf = static_cast<__mmask16>(0xff);
  if constexpr (DT == DType::kF32) {
    const float* p = static_cast<const float*>(row) + d0;
    return MASKED ? _mm512_maskz_loadu_ps(kHalf, p) : _mm512_loadu_ps(p);
  } else {
    const uint16_t* p = static_cast<const uint16_t*>(row) + d0;
    const __m256i h = MASKED ? _mm256_maskz_loadu_epi16(kHalf, p)
                             : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    if constexpr (DT == DType::kBF16) {
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    } else {
      return _mm512_cvtph_ps(h);
    }
  }
}

// In-register 16x16 transpose: r[i] lane j -> r[j] lane i (pure data movement, no arithmetic).
inline void Transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_maskz_unpacklo_ps(kAll16, r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_maskz_unpackhi_ps(kAll16, r[2 * i], r[2 * i + 1]);
  }
  __m512 u[16];
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 1]), e = _mm512_castps_pd(t[4 * i + 3]);
    u[4 * i] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(kAll8, a, b));
    u[4 * i + 1] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(kAll8, a, b));
    u[4 * i + 2] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(kAll8, c, e));
    u[4 * i + 3] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(kAll8, c, e));
  }
  // u[4i + c] holds, in 128-bit lane L, column 4L + c of rows 4i .. 4i+3.
  for (int c = 0; c < 4; ++c) {
    const __m512 x0 = _mm512_maskz_shuffle_f32x4(kAll16, u[c], u[4 + c], 0x44);
    const __m512 x1 = _mm512_maskz_shuffle_f32x4(kAll16, u[c], u[4 + c], 0xEE);
    const __m512 y0 = _mm512_maskz_shuffle_f32x4(kAll16, u[8 + c], u[12 + c], 0x44);
    const __m512 y1 = _mm512_maskz_shuffle_f32x4(kAll16, u[8 + c], u[12 + c], 0xEE);
    r[c] = _mm512_maskz_shuffle_f32x4(kAll16, x0, y0, 0x88);
    r[4 + c] = _mm512_maskz_shuffle_f32x4(kAll16, x0, y0, 0xDD);
    r[8 + c] = _mm512_maskz_shuffle_f32x4(kAll16, x1, y1, 0x88);
    r[12 + c] = _mm512_maskz_shuffle_f32x4(kAll16, x1, y1, 0xDD);
  }
}

// kt[d][u] = K_u[d] for u < nk16 (rows past nvis are zero); vf[u] = V_u widened (f32 storage
// is used in place).
// Demand-loads one word of every cache line of this block's K/V rows before any arithmetic:
// independent loads that the core issues back to back, so the block's DRAM misses overlap each
// other instead of trickling in behind the transposes and FMAs. Measured on a 2-core Zen 4
// (single-thread decode, 4096 bf16 keys from DRAM): 4.9 -> 6.9 GB/s. Software prefetches of
// the next block (T0/T1/NTA, bursts or spread over the score loop) gave nothing there:
// most likely the core drops prefetches it has no miss buffer for, while demand loads wait.
inline void Touch(const AttnBlockArgs& a) {
  __m128 sink = _mm_setzero_ps();
  const auto touch = [&sink](const void* p, int64_t bytes) {
    const char* c = static_cast<const char*>(p);
    for (int64_t off = 0; off < bytes; off += 64) {
      sink = _mm_or_ps(sink, _mm_load_ss(reinterpret_cast<const float*>(c + off)));
    }
  };
  if (a.touch_bytes == 0) return;
  for (int32_t u = 0; u < a.nvis; ++u) {
    touch(a.k_rows[u], a.touch_bytes);
    touch(a.v_rows[u], a.touch_bytes);
  }
  __asm__ volatile("" : : "x"(sink));  // keep the loads; the value is never used
}

template <DType DT>
void Widen(const AttnBlockArgs& a, int32_t nk16, bool widen_v) {
  const int64_t dim = a.d;
  // Key-tiled K is stored transposed already: kt is each chunk's rows widened, no shuffles.
  // Needed only when several query groups share the block (widen_v); one group reads the
  // chunks directly (ScoresTiled).
  for (int32_t t0 = 0; t0 < nk16 && a.k_chunks != nullptr && widen_v; t0 += 16) {
    const void* chunk = a.k_chunks[t0 / 16];
    const __mmask16 m = DMask(a.nvis - t0);
    for (int64_t d = 0; d < dim; ++d) _mm512_store_ps(a.kt + d * kB + t0, Load16<DT>(chunk, d * 16, m));
  }
  for (int32_t t0 = 0; t0 < nk16 && a.k_chunks == nullptr; t0 += 16) {
    const void* rows[16];
    for (int i = 0; i < 16; ++i) rows[i] = t0 + i < a.nvis ? a.k_rows[t0 + i] : kZeroRow;
    for (int64_t d0 = 0; d0 < dim; d0 += 16) {
      const __mmask16 m = DMask(dim - d0);
      __m512 r[16];
      for (int i = 0; i < 16; ++i) r[i] = Load16<DT>(rows[i], d0, m);
      Transpose16(r);
      const int64_t nd = dim - d0 < 16 ? dim - d0 : 16;
      for (int64_t j = 0; j < nd; ++j) _mm512_store_ps(a.kt + (d0 + j) * kB + t0, r[j]);
    }
  }
  for (int32_t u = 0; u < a.nvis && widen_v; ++u) {
    if constexpr (DT == DType::kF32) {
      a.v_f32[u] = static_cast<const float*>(a.v_rows[u]);
    } else {
      float* dst = a.vc + u * dim;
      for (int64_t d0 = 0; d0 < dim; d0 += 16) {
        const __mmask16 m = DMask(dim - d0);
        StoreF(dst + d0, m, Load16<DT>(a.v_rows[u], d0, m));
      }
      a.v_f32[u] = dst;
    }
  }
}

// scores[u] = (fma chain over d) * scale for u < 16*NC, NQ queries at once. load_keys(d, k)
// fills k[0 .. NC) with keys 16c .. 16c+15's element d (a kt row or a key-tiled chunk row).
template <int NQ, int NC, typename LoadKeys>
inline __attribute__((always_inline)) void ScoreTile(AttnQuery* const* qs, int64_t dim,
                                                     float scale, LoadKeys load_keys) {
  __m512 acc[NQ][NC];
  for (int r = 0; r < NQ; ++r) {
    for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_setzero_ps();
  }
  const float* qp[NQ];
  for (int r = 0; r < NQ; ++r) qp[r] = qs[r]->q;
  for (int64_t d = 0; d < dim; ++d) {
    __m512 k[NC];
    load_keys(d, k);
#pragma GCC unroll 4
    for (int r = 0; r < NQ; ++r) {
      const __m512 b = _mm512_set1_ps(qp[r][d]);
#pragma GCC unroll 4
      for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_fmadd_ps(b, k[c], acc[r][c]);
    }
  }
  const __m512 s = _mm512_set1_ps(scale);
  for (int r = 0; r < NQ; ++r) {
    for (int c = 0; c < NC; ++c) _mm512_storeu_ps(qs[r]->scores + 16 * c, _mm512_mul_ps(acc[r][c], s));
  }
}

// Scores from kt (K transposed into scratch).
template <int NQ, int NC>
void Scores(AttnQuery* const* qs, const float* kt, int64_t dim, float scale) {
  ScoreTile<NQ, NC>(qs, dim, scale, [kt](int64_t d, __m512* k) {
#pragma GCC unroll 4
    for (int c = 0; c < NC; ++c) k[c] = _mm512_load_ps(kt + d * kB + 16 * c);
  });
}

// Software prefetch into L2 (T1) of the next block's lines while this block computes. Why:
// with K and V in per-head contiguous runs the hardware prefetchers still leave this loop
// waiting on DRAM after every block (burst, then arithmetic); a hint one block ahead, spread
// over the score and PV loops, keeps misses in flight during the FMAs. Measured (2-core Zen 4,
// decode S = 4096 from DRAM, key-tiled bf16, one partition per task): 14-15 -> 24-26 GB/s;
// two blocks ahead 21-23 GB/s, the next block's K and V both during the score loop 21-23,
// T0 hints 17. Hints never fault, so a stale or short list costs nothing but the hint.
inline void PrefetchL2(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T1); }

// Scores straight from key-tiled K (no kt scratch): chunk c's row d is the 16 keys' element d,
// widened in the load; the lanes are the same keys as kt's, so the chains are the same. In a
// partial last chunk (!FULL) lanes at or past nvis load +0 (their scores are never used).
// Prefetches the next block's chunks, one hint per 64-byte line.
template <int NQ, int NC, DType DT, bool FULL>
void ScoresTiled(AttnQuery* const* qs, const AttnBlockArgs& a) {
  constexpr int64_t kElem = DT == DType::kF32 ? 4 : 2;
  constexpr int64_t kRowsPerLine = 64 / (16 * kElem);  // chunk rows (d) per cache line
  const char* pf[NC];
  int npf = 0;
  for (int c = 0; c < NC && 16 * c < a.next_n; ++c) pf[npf++] = static_cast<const char*>(a.next_k_chunks[c]);
  __mmask16 m[NC];
  const void* ck[NC];
  for (int c = 0; c < NC; ++c) {
    m[c] = DMask(a.nvis - 16 * c);
    ck[c] = a.k_chunks[c];
  }
  ScoreTile<NQ, NC>(qs, a.d, a.scale, [&](int64_t d, __m512* k) {
    if (d % kRowsPerLine == 0) {
      for (int c = 0; c < npf; ++c) PrefetchL2(pf[c] + d * 16 * kElem);
    }
#pragma GCC unroll 4
    for (int c = 0; c < NC; ++c) {
      k[c] = FULL ? LoadV<DT, false>(ck[c], d * 16) : Load16<DT>(ck[c], d * 16, m[c]);
    }
  });
}

template <int NQ, DType DT>
void ScoresTiledN(AttnQuery* const* qs, int nc, const AttnBlockArgs& a) {
  if (nc == 4 && a.nvis == 64) {  // whole blocks, the common case: plain loads
    ScoresTiled<NQ, 4, DT, true>(qs, a);
    return;
  }
  switch (nc) {
    case 1: ScoresTiled<NQ, 1, DT, false>(qs, a); break;
    case 2: ScoresTiled<NQ, 2, DT, false>(qs, a); break;
    case 3: ScoresTiled<NQ, 3, DT, false>(qs, a); break;
    default: ScoresTiled<NQ, 4, DT, false>(qs, a); break;
  }
}

template <int NQ>
void ScoresN(AttnQuery* const* qs, int nc, const float* kt, int64_t dim, float scale) {
  switch (nc) {
    case 1: Scores<NQ, 1>(qs, kt, dim, scale); break;
    case 2: Scores<NQ, 2>(qs, kt, dim, scale); break;
    case 3: Scores<NQ, 3>(qs, kt, dim, scale); break;
    default: Scores<NQ, 4>(qs, kt, dim, scale); break;
  }
}

inline float Shift(float x, float y) { return x == y ? 0.0f : x - y; }
inline float ExpScalar(float x) { return _mm512_cvtss_f32(avx512_math::Exp16(_mm512_set1_ps(x))); }

// attention.h's soft cap, scores[u] = cap * TanhF(scores[u] / cap), 16 scores at a time: the
// same three operations per score as the shared scalar SoftCapScores.
inline void SoftCapScores16(float cap, float* scores, int32_t count) {
  if (cap == 0.0f) return;
  const __m512 c = _mm512_set1_ps(cap);
  for (int32_t u = 0; u < count; u += 16) {
    const __mmask16 m = count - u >= 16 ? kAll16 : avx512_math::TailMask16(count - u);
    const __m512 s = _mm512_maskz_loadu_ps(m, scores + u);
    _mm512_mask_storeu_ps(scores + u, m,
                          _mm512_mul_ps(c, avx512_math::Tanh16(_mm512_div_ps(s, c))));
  }
}

// One query's block max, alpha, probabilities (in place of the scores) and running-sum lanes.
// Returns alpha.
float OnlineSoftmax(AttnQuery& q) {
  const int32_t c = q.count;
  const int nc = (c + 15) / 16;
  __m512 mx = _mm512_set1_ps(-__builtin_inff());
  for (int j = 0; j < nc; ++j) {
    mx = _mm512_mask_max_ps(mx, DMask(c - 16 * j), mx, _mm512_loadu_ps(q.scores + 16 * j));
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, mx);
  const float m_new = reduce_tree::MaxCombine(q.m, reduce_tree::TreeMax16(lanes));
  const float alpha = ExpScalar(Shift(q.m, m_new));
  const __m512 vm = _mm512_set1_ps(m_new);
  __m512 l = _mm512_mul_ps(_mm512_loadu_ps(q.lanes), _mm512_set1_ps(alpha));
  for (int j = 0; j < nc; ++j) {
    const __mmask16 m = DMask(c - 16 * j);
    const __m512 x = _mm512_loadu_ps(q.scores + 16 * j);
    // Shift(x, m_new) lane-wise: zero the lanes equal to m_new.
    const __mmask16 ne = static_cast<__mmask16>(~_mm512_cmp_ps_mask(x, vm, _CMP_EQ_OQ));
    const __m512 p = avx512_math::Exp16(_mm512_maskz_sub_ps(ne, x, vm));
    _mm512_storeu_ps(q.scores + 16 * j, p);
    l = _mm512_mask_add_ps(l, m, l, p);
  }
  _mm512_storeu_ps(q.lanes, l);
  q.m = m_new;
  return alpha;
}

// acc[d0 .. d0+16*NC) of NQ queries: acc * alpha, then fma(p_u, v_u, acc) for u ascending —
// first the keys all NQ queries see, then each query's own remaining keys. TAIL: the last
// chunk is 8 wide (D % 16 == 8). Everything is compile-time so acc[][] stays in registers.
// V rows are read in their storage dtype DT (widened in the load) or, when the block was
// widened up front, as f32 (DT = kF32).
// pf / npf: rows to prefetch (PrefetchL2), the same d range [d0, d0 + 16*NC) as this call
// reads, one row per key step (npf == 0: none).
template <int NQ, int NC, bool TAIL, DType DT>
void Pv(AttnQuery* const* qs, const float* alpha, const void* const* vf, int64_t d0,
        const void* const* pf, int32_t npf) {
  constexpr int64_t kElem = DT == DType::kF32 ? 4 : 2;
  constexpr int64_t kBytes = 16 * NC * kElem;  // bytes of each row this call reads
  constexpr __mmask16 kLast = TAIL ? static_cast<__mmask16>(0xff) : kAll16;
  const auto load = [](const float* p, int c) {
    return (TAIL && c == NC - 1) ? _mm512_maskz_loadu_ps(kLast, p) : _mm512_loadu_ps(p);
  };
  const auto load_v = [](const void* row, int64_t off, int c) {
    return (TAIL && c == NC - 1) ? LoadV<DT, true>(row, off) : LoadV<DT, false>(row, off);
  };
  const auto store = [](float* p, int c, __m512 v) {
    if (TAIL && c == NC - 1) {
      _mm512_mask_storeu_ps(p, kLast, v);
    } else {
      _mm512_storeu_ps(p, v);
    }
  };
  __m512 acc[NQ][NC];
  const float* ps[NQ];
  int32_t common = qs[0]->count;
#pragma GCC unroll 4
  for (int r = 0; r < NQ; ++r) {
    ps[r] = qs[r]->scores;
    common = qs[r]->count < common ? qs[r]->count : common;
    const __m512 al = _mm512_set1_ps(alpha[r]);
#pragma GCC unroll 4
    for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_mul_ps(load(qs[r]->acc + d0 + 16 * c, c), al);
  }
  for (int32_t u = 0; u < common; ++u) {
    if (u < npf) {
      const char* row = static_cast<const char*>(pf[u]) + d0 * kElem;
      for (int64_t off = 0; off < kBytes; off += 64) PrefetchL2(row + off);
    }
    __m512 v[NC];
#pragma GCC unroll 4
    for (int c = 0; c < NC; ++c) v[c] = load_v(vf[u], d0 + 16 * c, c);
#pragma GCC unroll 4
    for (int r = 0; r < NQ; ++r) {
      const __m512 p = _mm512_set1_ps(ps[r][u]);
#pragma GCC unroll 4
      for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_fmadd_ps(p, v[c], acc[r][c]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < NQ; ++r) {
#pragma GCC unroll 4
    for (int c = 0; c < NC; ++c) store(qs[r]->acc + d0 + 16 * c, c, acc[r][c]);
  }
  // Each query's own remaining keys (the causal diagonal), continuing the same per-element
  // chain from the stored value; kept out of the loop above so that acc stays in registers.
  for (int r = 0; r < NQ; ++r) {
    const AttnQuery& q = *qs[r];
    if (q.count == common) continue;
    for (int c = 0; c < NC; ++c) {
      float* dst = q.acc + d0 + 16 * c;
      __m512 x = load(dst, c);
      for (int32_t u = common; u < q.count; ++u) {
        x = _mm512_fmadd_ps(_mm512_set1_ps(q.scores[u]), load_v(vf[u], d0 + 16 * c, c), x);
      }
      store(dst, c, x);
    }
  }
}

template <int NQ, DType DT>
void PvAll(AttnQuery* const* qs, const float* alpha, const void* const* vf, int64_t dim,
           const void* const* pf, int32_t npf) {
  int64_t d0 = 0;
  for (; d0 + 64 <= dim; d0 += 64) Pv<NQ, 4, false, DT>(qs, alpha, vf, d0, pf, npf);
  switch (dim - d0) {  // a multiple of 8 below 64
    case 8: Pv<NQ, 1, true, DT>(qs, alpha, vf, d0, pf, npf); break;
    case 16: Pv<NQ, 1, false, DT>(qs, alpha, vf, d0, pf, npf); break;
    case 24: Pv<NQ, 2, true, DT>(qs, alpha, vf, d0, pf, npf); break;
    case 32: Pv<NQ, 2, false, DT>(qs, alpha, vf, d0, pf, npf); break;
    case 40: Pv<NQ, 3, true, DT>(qs, alpha, vf, d0, pf, npf); break;
    case 48: Pv<NQ, 3, false, DT>(qs, alpha, vf, d0, pf, npf); break;
    case 56: Pv<NQ, 4, true, DT>(qs, alpha, vf, d0, pf, npf); break;
    default: break;
  }
}

// direct_v: V is read in its storage dtype inside the PV loop (one group: each V element is
// used by this group only, so widening it up front would only add a store and a reload).
template <int NQ>
void Group(AttnQuery* const* qs, const AttnBlockArgs& a, bool direct_v) {
  int32_t maxc = 0;
  for (int r = 0; r < NQ; ++r) maxc = qs[r]->count > maxc ? qs[r]->count : maxc;
  const int nc = (maxc + 15) / 16;
  if (!direct_v || a.k_chunks == nullptr) {
    ScoresN<NQ>(qs, nc, a.kt, a.d, a.scale);
  } else if (a.dtype == DType::kBF16) {
    ScoresTiledN<NQ, DType::kBF16>(qs, nc, a);
  } else if (a.dtype == DType::kF16) {
    ScoresTiledN<NQ, DType::kF16>(qs, nc, a);
  } else {
    ScoresTiledN<NQ, DType::kF32>(qs, nc, a);
  }
  float alpha[NQ];
  for (int r = 0; r < NQ; ++r) SoftCapScores16(a.softcap, qs[r]->scores, qs[r]->count);
  for (int r = 0; r < NQ; ++r) alpha[r] = OnlineSoftmax(*qs[r]);
  const void* const* vf_f32 = reinterpret_cast<const void* const*>(a.v_f32);
  // Prefetching the next block pays only where V streams from memory in this loop (one group).
  const int32_t npf = direct_v ? a.next_n : 0;
  if (!direct_v) {
    PvAll<NQ, DType::kF32>(qs, alpha, vf_f32, a.d, nullptr, 0);
  } else if (a.dtype == DType::kBF16) {
    PvAll<NQ, DType::kBF16>(qs, alpha, a.v_rows, a.d, a.next_v_rows, npf);
  } else if (a.dtype == DType::kF16) {
    PvAll<NQ, DType::kF16>(qs, alpha, a.v_rows, a.d, a.next_v_rows, npf);
  } else {
    PvAll<NQ, DType::kF32>(qs, alpha, a.v_rows, a.d, a.next_v_rows, npf);
  }
}

}  // namespace

void AttendBlock(const AttnBlockArgs& a) {
  const int32_t nk16 = (a.nvis + 15) / 16 * 16;
  int32_t active = 0;
  for (int32_t i = 0; i < a.nq; ++i) active += a.queries[i].count > 0 ? 1 : 0;
  const bool direct_v = active <= 4;
  Touch(a);
  switch (a.dtype) {
    case DType::kF32: Widen<DType::kF32>(a, nk16, !direct_v); break;
    case DType::kBF16: Widen<DType::kBF16>(a, nk16, !direct_v); break;
    case DType::kF16: Widen<DType::kF16>(a, nk16, !direct_v); break;
    default: break;  // K/V are never stored in a block format (checked by the driver)
  }
  // Queries that see this block, four at a time (who shares a tile never changes a bit).
  AttnQuery* group[4];
  int n = 0;
  for (int32_t i = 0; i < a.nq; ++i) {
    if (a.queries[i].count == 0) continue;
    group[n++] = &a.queries[i];
    if (n == 4) {
      Group<4>(group, a, direct_v);
      n = 0;
    }
  }
  switch (n) {
    case 1: Group<1>(group, a, direct_v); break;
    case 2: Group<2>(group, a, direct_v); break;
    case 3: Group<3>(group, a, direct_v); break;
    default: break;
  }
}

}  // namespace detinfer::kernels::avx512
