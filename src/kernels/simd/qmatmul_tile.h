// The block-format matmul tile on 256-bit integer SIMD, included by qmatmul_avx2.cc,
// qmatmul_avx512.cc (the same instructions) and qmatmul_avx512bf16.cc (kVnni: the integer dot
// products by VNNI's vpdpbusd). One loop, one statement of the order.
//
// A ymm holds one half-panel (8 output columns) x 4 k as bytes, so one vpmaddubsw + vpmaddwd
// pair gives each column's 4-product integer sum in its own 32-bit lane: lanes stay output
// columns, as in the fp32 matmul, and the group's integer dot product is exact whatever the
// order of its additions. The fp32 steps after it are those of qmatmul.h, in its order.
//
// Saturation: vpmaddubsw adds two u8 x s8 products in int16. Activations are in [-127, 127];
// weights are at most 63 (6-bit), or for Q8_0 |q| <= 128 via the sign trick (|w| times x with
// w's sign), so a pair is at most 2 * 128 * 127 = 32512 < 32767: never saturated. vpdpbusd
// adds its four u8 x s8 products straight into int32 (no int16 step, no saturation): the same
// exact integers, so the VNNI tile changes speed only.
//
// Everything here has internal linkage (cmake/Flags.cmake).
#ifndef DETINFER_KERNELS_SIMD_QMATMUL_TILE_H_
#define DETINFER_KERNELS_SIMD_QMATMUL_TILE_H_

#include <immintrin.h>

#include <cstdint>

#include "kernels/qmatmul_isa.h"
#include "kernels/simd/qmatmul_layout.h"

namespace detinfer::kernels {
namespace {

template <int V>
struct QConst {
  static constexpr int value = V;
};

template <int T, int N, typename Fn>
constexpr void QUnroll(Fn&& fn) {
  if constexpr (T < N) {
    fn(QConst<T>{});
    QUnroll<T + 1, N>(fn);
  }
}

inline __m256i QLoad(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Vector s = 2t + h of a quant group (qmatmul_layout.h): 32 bytes, columns 8h..8h+7 x 4 k.
template <DType F, int S>
inline __m256i QUnpack(const uint8_t* grp) {
  constexpr QLayout l = LayoutOf(F);
  if constexpr (l.bits == 8) {
    return QLoad(grp + 32 * S);
  } else {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i w = QLoad(grp + 32 * (S / 2));
    __m256i v = (S % 2) ? _mm256_and_si256(_mm256_srli_epi16(w, 4), low4) : _mm256_and_si256(w, low4);
    if constexpr (l.bits == 5) {
      constexpr int b = S % 8;
      const __m256i plane = QLoad(grp + 256 + 32 * (S / 8));
      const __m256i hb = b < 4 ? _mm256_slli_epi16(plane, 4 - b) : _mm256_srli_epi16(plane, b - 4);
      v = _mm256_or_si256(v, _mm256_and_si256(hb, _mm256_set1_epi8(0x10)));
    } else if constexpr (l.bits == 6) {
      constexpr int b = S % 4;
      const __m256i plane = QLoad(grp + 256 + 32 * (S / 4));
      __m256i hb = plane;
      if constexpr (b == 0) hb = _mm256_slli_epi16(plane, 4);
      if constexpr (b == 1) hb = _mm256_slli_epi16(plane, 2);
      if constexpr (b == 3) hb = _mm256_srli_epi16(plane, 2);
      v = _mm256_or_si256(v, _mm256_and_si256(hb, _mm256_set1_epi8(0x30)));
    }
    return v;
  }
}

inline int32_t QLoad4(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

// MR rows from m, both halves of panel p: y[m + r, 16p ...] for the columns that exist.
//
// Per 4-k step a row costs one broadcast, two vpmaddubsw and two 16-bit adds: the int16 pair
// sums are accumulated for as many steps as cannot overflow (kSteps16: a pair is at most
// 2 * umax * 127) and only then widened to int32 by vpmaddwd. The sums are exact either way.
//
// Software prefetch of the panel stream, a.prefetch_bytes ahead (kPrefetch, chosen by
// QTileLoop when that is not 0): kernels/cpu_tuning.h decides by ISA, CPU and batch, from
// measurements (docs/kernels.md). A template argument rather than a test in the loop: the
// test alone cost prefill 5-8 % (Q8_0, Q4_0 on AVX-512 VNNI), where no prefetch is issued.
template <DType F, int MR, bool kVnni, bool kPrefetch>
void QMicro(const QMatmulArgs& a, int64_t m, int64_t p) {
  constexpr QLayout l = LayoutOf(F);
  // Q8_0 under VNNI: vpdpbusd takes u8 weights, so each signed q becomes q + 128 by one xor
  // (q ^ 0x80) and the group's activation sum times 128 is taken off after, as the offset
  // formats do: one instruction per weight vector instead of the sign trick's vpabsb per weight
  // vector and vpsignb per row. The same exact integer dot product (|sum| < 2^31).
  constexpr bool kBias128 = kVnni && l.bits == 8;
  constexpr int kOffset = kBias128 ? 128 : l.offset;
  // Under VNNI, Q6_K keeps its two 16-k halves apart in dot_a / dot_b (each has its own
  // sub-scale), and the 4- and 5-bit formats alternate the two sums by step (added in the
  // epilogue, an exact integer addition): two chains of 4 dependent vpdpbusd instead of one of
  // 8. One core, weights in L2, medians of 7 alternating runs: Q5_K 4 rows 34 -> 28 us, Q4_0
  // 1 row 9.3 -> 8.8 us; Q8_0 was 8 % slower with it, so it keeps one chain.
  [[maybe_unused]] constexpr bool kTwoChains = kVnni && !l.q6_scales && l.bits < 8;
  constexpr int kPairMax = 2 * 127 * (l.bits == 8 ? 128 : (1 << l.bits) - 1);
  constexpr int kSteps16 = 32767 / kPairMax;  // 8-bit 1, 6-bit 2, 5-bit 4, 4-bit 8
  static_assert((kSteps16 >= 1 && 4 % kSteps16 == 0) || kSteps16 == 8, "flushes must split at k 16");
  const uint8_t* panel = a.w + static_cast<size_t>(p) * a.panel_bytes;
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  const int64_t records = a.k / l.block_k;
  for (int64_t rb = 0; rb < records; ++rb) {
    const uint8_t* rec = panel + static_cast<size_t>(rb) * l.record_bytes();
    __m256 d[2], dmin[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int h = 0; h < 2; ++h) {
      d[h] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rec + 16 * h)));
      if constexpr (l.has_min) {
        dmin[h] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rec + 32 + 16 * h)));
      }
    }
    for (int gi = 0; gi < l.groups(); ++gi) {
      const int64_t g = rb * l.groups() + gi;
      const uint8_t* grp = rec + l.header_bytes + static_cast<size_t>(gi) * l.group_bytes;
      if constexpr (kPrefetch) {
        for (size_t off = 0; off < l.group_bytes; off += 64) {
          _mm_prefetch(reinterpret_cast<const char*>(grp) + a.prefetch_bytes + off, _MM_HINT_T0);
        }
      }
      __m256i dot_a[MR][2], dot_b[MR][2], sum16[MR][2];
      for (int r = 0; r < MR; ++r) {
        for (int h = 0; h < 2; ++h) {
          dot_a[r][h] = dot_b[r][h] = sum16[r][h] = _mm256_setzero_si256();
        }
      }
      const int8_t* xq[MR];
      for (int r = 0; r < MR; ++r) xq[r] = a.xq + (m + r) * a.ldq + 32 * g;
      QUnroll<0, 8>([&](auto t) {
        constexpr int T = decltype(t)::value;
        const __m256i w[2] = {QUnpack<F, 2 * T>(grp), QUnpack<F, 2 * T + 1>(grp)};
        // The u8 operand of vpmaddubsw / vpdpbusd: the weights, |q| (sign trick) or q + 128.
        __m256i wu[2] = {w[0], w[1]};
        if constexpr (kBias128) {
          const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
          wu[0] = _mm256_xor_si256(w[0], bias), wu[1] = _mm256_xor_si256(w[1], bias);
        } else if constexpr (l.bits == 8) {
          wu[0] = _mm256_abs_epi8(w[0]), wu[1] = _mm256_abs_epi8(w[1]);
        }
        for (int r = 0; r < MR; ++r) {
          const __m256i xb = _mm256_set1_epi32(QLoad4(xq[r] + 4 * T));
          for (int h = 0; h < 2; ++h) {
            const __m256i x8 = l.bits == 8 && !kBias128 ? _mm256_sign_epi8(xb, w[h]) : xb;
            if constexpr (kVnni) {
#if defined(__AVX512VNNI__)
              __m256i& dot = (l.q6_scales && T >= 4) || (kTwoChains && T % 2 == 1) ? dot_b[r][h]
                                                                                    : dot_a[r][h];
              dot = _mm256_dpbusd_epi32(dot, wu[h], x8);
#endif
              continue;
            }
            sum16[r][h] = _mm256_add_epi16(sum16[r][h], _mm256_maddubs_epi16(wu[h], x8));
            if constexpr ((T + 1) % kSteps16 == 0) {
              const __m256i s32 = _mm256_madd_epi16(sum16[r][h], ones);
              sum16[r][h] = _mm256_setzero_si256();
              if constexpr (T < 4) {
                dot_a[r][h] = _mm256_add_epi32(dot_a[r][h], s32);
              } else {
                dot_b[r][h] = _mm256_add_epi32(dot_b[r][h], s32);
              }
            }
          }
        }
      });
      for (int h = 0; h < 2; ++h) {
        __m256 s = d[h], mn = dmin[h];
        __m256i sc_a = _mm256_setzero_si256(), sc_b = sc_a;
        if constexpr (l.k_scales) {
          const auto bytes8 = [&](int at) {
            return _mm256_cvtepu8_epi32(
                _mm_loadl_epi64(reinterpret_cast<const __m128i*>(rec + at + 16 * gi + 8 * h)));
          };
          s = _mm256_mul_ps(d[h], _mm256_cvtepi32_ps(bytes8(64)));
          mn = _mm256_xor_ps(_mm256_mul_ps(dmin[h], _mm256_cvtepi32_ps(bytes8(192))), sign);
        }
        if constexpr (l.q6_scales) {
          sc_a = _mm256_cvtepi8_epi32(_mm_loadl_epi64(
              reinterpret_cast<const __m128i*>(rec + 32 + 16 * (2 * gi) + 8 * h)));
          sc_b = _mm256_cvtepi8_epi32(_mm_loadl_epi64(
              reinterpret_cast<const __m128i*>(rec + 32 + 16 * (2 * gi + 1) + 8 * h)));
        }
        for (int r = 0; r < MR; ++r) {
          const int32_t bs_a = a.xs[(m + r) * a.lds + 2 * g], bs_b = a.xs[(m + r) * a.lds + 2 * g + 1];
          __m256i pi;
          if constexpr (l.q6_scales) {
            pi = _mm256_add_epi32(
                _mm256_mullo_epi32(sc_a, _mm256_sub_epi32(dot_a[r][h], _mm256_set1_epi32(l.offset * bs_a))),
                _mm256_mullo_epi32(sc_b, _mm256_sub_epi32(dot_b[r][h], _mm256_set1_epi32(l.offset * bs_b))));
          } else {
            pi = _mm256_add_epi32(dot_a[r][h], dot_b[r][h]);
            if constexpr (kOffset != 0) pi = _mm256_sub_epi32(pi, _mm256_set1_epi32(kOffset * (bs_a + bs_b)));
          }
          const __m256 dx = _mm256_set1_ps(a.xd[(m + r) * a.ldd + g]);
          acc[r][h] = _mm256_fmadd_ps(_mm256_mul_ps(dx, s), _mm256_cvtepi32_ps(pi), acc[r][h]);
          if constexpr (l.has_min) {
            acc[r][h] = _mm256_fmadd_ps(_mm256_mul_ps(dx, mn),
                                        _mm256_set1_ps(static_cast<float>(bs_a + bs_b)), acc[r][h]);
          }
        }
      }
    }
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int h = 0; h < 2; ++h) {
    const int64_t n0 = p * 16 + 8 * h;
    if (n0 >= a.n) break;
    const int64_t valid = a.n - n0 < 8 ? a.n - n0 : 8;
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(valid)), lane);
    for (int r = 0; r < MR; ++r) {
      __m256 out = acc[r][h];
      if (a.bias != nullptr) out = _mm256_add_ps(out, _mm256_maskload_ps(a.bias + n0, mask));
      _mm256_maskstore_ps(a.y + (m + r) * a.ldy + n0, mask, out);
    }
  }
}

using QMicroFn = void (*)(const QMatmulArgs&, int64_t, int64_t);

// Rows per tile: without VNNI each row also holds int16 partial sums, so 3 fit the registers;
// with it, a row needs one int32 sum and one fp32 accumulator per half (Q6_K: two sums), and
// 4 rows measured as fast as 5 or 6 here (prefill of the 110M shape, alternating runs).
template <DType F, bool kVnni>
void QTileLoop(const QMatmulArgs& a, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  constexpr int kMaxRows = kVnni ? 4 : 3;
  struct Table {
    QMicroFn fn[2][kMaxRows];  // [prefetch][rows - 1]
  };
  static constexpr Table kTable = [] {
    Table f{};
    QUnroll<0, kMaxRows>([&](auto t) {
      constexpr int kRows = decltype(t)::value + 1;
      f.fn[0][kRows - 1] = &QMicro<F, kRows, kVnni, false>;
      f.fn[1][kRows - 1] = &QMicro<F, kRows, kVnni, true>;
    });
    return f;
  }();
  const QMicroFn* const fns = kTable.fn[a.prefetch_bytes != 0 ? 1 : 0];
  // Rows dealt into equal tiles (4 rows -> 2 + 2), as the fp32 matmul does.
  const int64_t tiles = (m1 - m0 + kMaxRows - 1) / kMaxRows;
  const int64_t tile_rows = tiles > 0 ? (m1 - m0 + tiles - 1) / tiles : 1;
  for (int64_t m = m0; m < m1; m += tile_rows) {
    const int64_t mr = m1 - m < tile_rows ? m1 - m : tile_rows;
    for (int64_t p = p0; p < p1; ++p) fns[mr - 1](a, m, p);
  }
}

inline int32_t QHsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// Step 1 of qmatmul.h with the same IEEE operations as QuantizeActivationRow: the maximum is
// exact in any order, 127 / amax and x * inv round once each, vcvtps2dq rounds to nearest even
// (the default MXCSR mode, as nearbyint), a NaN product becomes 0, and the clamp comes before
// the conversion (±Inf products, when 127 / amax overflows, become ±127 as in the scalar code).
inline void QQuantizeRows(const float* x, int64_t ldx, int64_t r0, int64_t r1, int64_t k,
                          int8_t* q, float* dx, int32_t* s16) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 big = _mm256_set1_ps(3.40282347e38f), lo = _mm256_set1_ps(-127.0f),
               hi = _mm256_set1_ps(127.0f);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t g = 0; g < k / 32; ++g) {
      const float* xg = x + r * ldx + 32 * g;
      __m256 v[4], a[4];
      int finite = 1;
      for (int i = 0; i < 4; ++i) {
        v[i] = _mm256_loadu_ps(xg + 8 * i);
        a[i] = _mm256_and_ps(v[i], abs_mask);
        finite &= _mm256_movemask_ps(_mm256_cmp_ps(a[i], big, _CMP_LE_OQ)) == 0xff;
      }
      int8_t* qg = q + r * k + 32 * g;
      int32_t* sg = s16 + r * (k / 16) + 2 * g;
      if (!finite) {
        dx[r * (k / 32) + g] = __builtin_nanf("");
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(qg), _mm256_setzero_si256());
        sg[0] = sg[1] = 0;
        continue;
      }
      __m256 m = _mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3]));
      __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
      m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
      m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
      const float amax = _mm_cvtss_f32(m4);
      dx[r * (k / 32) + g] = amax / 127.0f;
      const __m256 inv = _mm256_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
      __m256i iv[4];
      for (int i = 0; i < 4; ++i) {
        __m256 p = _mm256_mul_ps(v[i], inv);
        p = _mm256_andnot_ps(_mm256_cmp_ps(p, p, _CMP_UNORD_Q), p);  // NaN -> +0
        p = _mm256_min_ps(_mm256_max_ps(p, lo), hi);
        iv[i] = _mm256_cvtps_epi32(p);
      }
      const __m256i w16 = _mm256_packs_epi16(_mm256_packs_epi32(iv[0], iv[1]),
                                             _mm256_packs_epi32(iv[2], iv[3]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(qg), _mm256_permutevar8x32_epi32(w16, order));
      sg[0] = QHsum(_mm256_add_epi32(iv[0], iv[1]));
      sg[1] = QHsum(_mm256_add_epi32(iv[2], iv[3]));
    }
  }
}

template <bool kVnni = false>
inline void QTileDispatch(const QMatmulArgs& a, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  switch (a.w_dtype) {
    case DType::kQ8_0: QTileLoop<DType::kQ8_0, kVnni>(a, m0, m1, p0, p1); break;
    case DType::kQ4_0: QTileLoop<DType::kQ4_0, kVnni>(a, m0, m1, p0, p1); break;
    case DType::kQ4_1: QTileLoop<DType::kQ4_1, kVnni>(a, m0, m1, p0, p1); break;
    case DType::kQ5_0: QTileLoop<DType::kQ5_0, kVnni>(a, m0, m1, p0, p1); break;
    case DType::kQ5_1: QTileLoop<DType::kQ5_1, kVnni>(a, m0, m1, p0, p1); break;
    case DType::kQ4_K: QTileLoop<DType::kQ4_K, kVnni>(a, m0, m1, p0, p1); break;
    case DType::kQ5_K: QTileLoop<DType::kQ5_K, kVnni>(a, m0, m1, p0, p1); break;
    case DType::kQ6_K: QTileLoop<DType::kQ6_K, kVnni>(a, m0, m1, p0, p1); break;
    default: break;
  }
}

}  // namespace
}  // namespace detinfer::kernels

#endif  // DETINFER_KERNELS_SIMD_QMATMUL_TILE_H_
