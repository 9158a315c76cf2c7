// NEON block-format matmul (aarch64): the AVX2 tile's structure (simd/qmatmul_tile.h) on
// 128-bit registers, with the same exact integers and the same fp32 combine (qmatmul.h).
//
// A quant-group vector (qmatmul_layout.h: 8 columns x 4 k, byte 4c + k) is two q registers,
// columns 0-3 and 4-7. vmull_s8 multiplies 8 weight bytes by the broadcast 4 activation bytes
// into int16 (|product| <= 128 * 127: exact; the 4-6-bit weights are unsigned but <= 63, so
// they are the same bytes read as int8) and vpadalq_s16 adds adjacent pairs into int32 lanes;
// one vpaddq_s32 then gives each column's sum in its own lane. All exact integers, so the
// order of the additions cannot show: P_g is the scalar path's integer, and the fp32 steps
// after it are qmatmul.h's, one vfmaq_f32 (a single rounding, as std::fma) each.
//
// Everything here has internal linkage but the two entry points (cmake/Flags.cmake).
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "kernels/qmatmul_isa.h"
#include "kernels/simd/math_neon.h"
#include "kernels/simd/qmatmul_layout.h"

namespace detinfer::kernels::neon {

namespace {

template <int V>
struct NConst {
  static constexpr int value = V;
};

template <int T, int N, typename Fn>
inline void NUnroll(Fn&& fn) {
  if constexpr (T < N) {
    fn(NConst<T>{});
    NUnroll<T + 1, N>(fn);
  }
}

// Half q of vector s = 2t + h of a quant group: columns 8h + 4q .. + 3, x 4 k (16 bytes).
template <DType F, int S>
inline int8x16_t Unpack(const uint8_t* grp, int q) {
  constexpr QLayout l = LayoutOf(F);
  if constexpr (l.bits == 8) {
    return vld1q_s8(reinterpret_cast<const int8_t*>(grp + 32 * S + 16 * q));
  } else {
    const uint8x16_t w = vld1q_u8(grp + 32 * (S / 2) + 16 * q);
    uint8x16_t v = (S % 2) ? vshrq_n_u8(w, 4) : vandq_u8(w, vdupq_n_u8(0x0f));
    if constexpr (l.bits == 5) {
      constexpr int b = S % 8;  // bit b of the plane byte is bit 4 of u
      const uint8x16_t plane = vld1q_u8(grp + 256 + 32 * (S / 8) + 16 * q);
      uint8x16_t hb = plane;
      if constexpr (b < 4) hb = vshlq_n_u8(plane, 4 - b);
      if constexpr (b > 4) hb = vshrq_n_u8(plane, b - 4);
      v = vorrq_u8(v, vandq_u8(hb, vdupq_n_u8(0x10)));
    } else if constexpr (l.bits == 6) {
      constexpr int b = S % 4;  // bits 2b, 2b + 1 are bits 4, 5 of u
      const uint8x16_t plane = vld1q_u8(grp + 256 + 32 * (S / 4) + 16 * q);
      uint8x16_t hb = plane;
      if constexpr (b == 0) hb = vshlq_n_u8(plane, 4);
      if constexpr (b == 1) hb = vshlq_n_u8(plane, 2);
      if constexpr (b == 3) hb = vshrq_n_u8(plane, 2);
      v = vorrq_u8(v, vandq_u8(hb, vdupq_n_u8(0x30)));
    }
    return vreinterpretq_s8_u8(v);
  }
}

inline int32_t Load4(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

// 4 header bytes per column quad as f32 (exact): u8 (Q4_K/Q5_K sc, m) or i8 (Q6_K sc) as i32.
inline uint32x4_t U8x4(const uint8_t* p) {
  return vmovl_u16(vget_low_u16(vmovl_u8(vld1_u8(p))));
}
inline int32x4_t S8x4(const uint8_t* p) {
  return vmovl_s16(vget_low_s16(vmovl_s8(vld1_s8(reinterpret_cast<const int8_t*>(p)))));
}

// MR rows from m, panel p: y[m + r, 16p ...] for the columns that exist. Half-panels (8
// columns) one after the other; per row and half, four int32x4 pair accumulators.
template <DType F, int MR>
void Micro(const QMatmulArgs& a, int64_t m, int64_t p) {
  constexpr QLayout l = LayoutOf(F);
  const uint8_t* panel = a.w + static_cast<size_t>(p) * a.panel_bytes;
  float32x4_t acc[MR][4];  // column quads 0-3, 4-7, 8-11, 12-15
  for (int r = 0; r < MR; ++r) {
    for (int c = 0; c < 4; ++c) acc[r][c] = vdupq_n_f32(0.0f);
  }
  const int64_t records = a.k / l.block_k;
  for (int64_t rb = 0; rb < records; ++rb) {
    const uint8_t* rec = panel + static_cast<size_t>(rb) * l.record_bytes();
    for (int gi = 0; gi < l.groups(); ++gi) {
      const int64_t g = rb * l.groups() + gi;
      const uint8_t* grp = rec + l.header_bytes + static_cast<size_t>(gi) * l.group_bytes;
      if (a.prefetch_bytes != 0) {
        for (size_t off = 0; off < l.group_bytes; off += 64) {
          __builtin_prefetch(grp + a.prefetch_bytes + off, 0, 3);
        }
      }
      const int8_t* xq[MR];
      int32_t bs_a[MR], bs_b[MR];
      float32x4_t dx[MR];
      for (int r = 0; r < MR; ++r) {
        xq[r] = a.xq + (m + r) * a.ldq + 32 * g;
        bs_a[r] = a.xs[(m + r) * a.lds + 2 * g];
        bs_b[r] = a.xs[(m + r) * a.lds + 2 * g + 1];
        dx[r] = vdupq_n_f32(a.xd[(m + r) * a.ldd + g]);
      }
      for (int h = 0; h < 2; ++h) {
        int32x4_t dot_a[MR][2], dot_b[MR][2];  // per column quad of the half
        int32x4_t pairs[MR][4];
        for (int r = 0; r < MR; ++r) {
          for (int i = 0; i < 4; ++i) pairs[r][i] = vdupq_n_s32(0);
        }
        NUnroll<0, 8>([&](auto t) {
          constexpr int T = decltype(t)::value;
          int8x16_t w[2];
          if (h == 0) {
            w[0] = Unpack<F, 2 * T>(grp, 0), w[1] = Unpack<F, 2 * T>(grp, 1);
          } else {
            w[0] = Unpack<F, 2 * T + 1>(grp, 0), w[1] = Unpack<F, 2 * T + 1>(grp, 1);
          }
          for (int r = 0; r < MR; ++r) {
            const int8x16_t xb = vreinterpretq_s8_s32(vdupq_n_s32(Load4(xq[r] + 4 * T)));
            for (int q = 0; q < 2; ++q) {
              pairs[r][2 * q] = vpadalq_s16(pairs[r][2 * q], vmull_s8(vget_low_s8(w[q]), vget_low_s8(xb)));
              pairs[r][2 * q + 1] = vpadalq_s16(pairs[r][2 * q + 1], vmull_high_s8(w[q], xb));
            }
            if constexpr (T == 3 || T == 7) {  // k 0-15 done (dot_a), k 16-31 done (dot_b)
              for (int q = 0; q < 2; ++q) {
                const int32x4_t cols = vpaddq_s32(pairs[r][2 * q], pairs[r][2 * q + 1]);
                if constexpr (T == 3) {
                  dot_a[r][q] = cols;
                } else {
                  dot_b[r][q] = cols;
                }
              }
              for (int i = 0; i < 4; ++i) pairs[r][i] = vdupq_n_s32(0);
            }
          }
        });
        for (int q = 0; q < 2; ++q) {
          const int c0 = 8 * h + 4 * q;  // first column of the quad
          float32x4_t s = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(
              reinterpret_cast<const uint16_t*>(rec + 2 * c0))));
          float32x4_t mn = vdupq_n_f32(0.0f);
          if constexpr (l.has_min) {
            mn = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(
                reinterpret_cast<const uint16_t*>(rec + 32 + 2 * c0))));
          }
          if constexpr (l.k_scales) {
            s = vmulq_f32(s, vcvtq_f32_u32(U8x4(rec + 64 + 16 * gi + c0)));
            mn = vnegq_f32(vmulq_f32(mn, vcvtq_f32_u32(U8x4(rec + 192 + 16 * gi + c0))));
          }
          int32x4_t sc_a = vdupq_n_s32(0), sc_b = vdupq_n_s32(0);
          if constexpr (l.q6_scales) {
            sc_a = S8x4(rec + 32 + 16 * (2 * gi) + c0);
            sc_b = S8x4(rec + 32 + 16 * (2 * gi + 1) + c0);
          }
          for (int r = 0; r < MR; ++r) {
            int32x4_t pi;
            if constexpr (l.q6_scales) {
              pi = vaddq_s32(vmulq_s32(sc_a, vsubq_s32(dot_a[r][q], vdupq_n_s32(l.offset * bs_a[r]))),
                             vmulq_s32(sc_b, vsubq_s32(dot_b[r][q], vdupq_n_s32(l.offset * bs_b[r]))));
            } else {
              pi = vaddq_s32(dot_a[r][q], dot_b[r][q]);
              if constexpr (l.offset != 0) pi = vsubq_s32(pi, vdupq_n_s32(l.offset * (bs_a[r] + bs_b[r])));
            }
            float32x4_t& y = acc[r][2 * h + q];
            y = vfmaq_f32(y, vmulq_f32(dx[r], s), vcvtq_f32_s32(pi));
            if constexpr (l.has_min) {
              y = vfmaq_f32(y, vmulq_f32(dx[r], mn), vdupq_n_f32(static_cast<float>(bs_a[r] + bs_b[r])));
            }
          }
        }
      }
    }
  }
  for (int c = 0; c < 4; ++c) {
    const int64_t n0 = p * 16 + 4 * c;
    if (n0 >= a.n) break;
    const int64_t valid = a.n - n0 < 4 ? a.n - n0 : 4;
    for (int r = 0; r < MR; ++r) {
      float32x4_t out = acc[r][c];
      if (a.bias != nullptr) out = vaddq_f32(out, neon_math::LoadTail4(a.bias + n0, valid));
      neon_math::StoreTail4(a.y + (m + r) * a.ldy + n0, valid, out);
    }
  }
}

using MicroFn = void (*)(const QMatmulArgs&, int64_t, int64_t);

template <DType F>
void TileLoop(const QMatmulArgs& a, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  constexpr int kMaxRows = 2;
  static constexpr MicroFn kFns[kMaxRows] = {&Micro<F, 1>, &Micro<F, 2>};
  // Rows dealt into equal tiles; who computes a row never changes its bits.
  const int64_t tiles = (m1 - m0 + kMaxRows - 1) / kMaxRows;
  const int64_t tile_rows = tiles > 0 ? (m1 - m0 + tiles - 1) / tiles : 1;
  for (int64_t m = m0; m < m1; m += tile_rows) {
    const int64_t mr = m1 - m < tile_rows ? m1 - m : tile_rows;
    for (int64_t p = p0; p < p1; ++p) kFns[mr - 1](a, m, p);
  }
}

}  // namespace

void QMatmulTile(const QMatmulArgs& a, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  switch (a.w_dtype) {
    case DType::kQ8_0: TileLoop<DType::kQ8_0>(a, m0, m1, p0, p1); break;
    case DType::kQ4_0: TileLoop<DType::kQ4_0>(a, m0, m1, p0, p1); break;
    case DType::kQ4_1: TileLoop<DType::kQ4_1>(a, m0, m1, p0, p1); break;
    case DType::kQ5_0: TileLoop<DType::kQ5_0>(a, m0, m1, p0, p1); break;
    case DType::kQ5_1: TileLoop<DType::kQ5_1>(a, m0, m1, p0, p1); break;
    case DType::kQ4_K: TileLoop<DType::kQ4_K>(a, m0, m1, p0, p1); break;
    case DType::kQ5_K: TileLoop<DType::kQ5_K>(a, m0, m1, p0, p1); break;
    case DType::kQ6_K: TileLoop<DType::kQ6_K>(a, m0, m1, p0, p1); break;
    default: break;
  }
}

// Step 1 of qmatmul.h with the same IEEE operations as QuantizeActivationRow: the maximum is
// exact in any order, 127 / amax and x * inv round once each, FCVTNS rounds to nearest even
// (as nearbyint in the default mode), a NaN product becomes 0, and the clamp comes before the
// conversion (±Inf products, when 127 / amax overflows, become ±127 as in the scalar code).
void QuantizeRows(const float* x, int64_t ldx, int64_t r0, int64_t r1, int64_t k, int8_t* q,
                  float* dx, int32_t* s16) {
  namespace nm = neon_math;
  const float32x4_t big = vdupq_n_f32(3.40282347e38f), lo = vdupq_n_f32(-127.0f),
                    hi = vdupq_n_f32(127.0f);
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t g = 0; g < k / 32; ++g) {
      const float* xg = x + r * ldx + 32 * g;
      float32x4_t v[8], amax4 = vdupq_n_f32(0.0f);
      uint32x4_t finite = vdupq_n_u32(~0u);
      for (int i = 0; i < 8; ++i) {
        v[i] = vld1q_f32(xg + 4 * i);
        const float32x4_t av = vabsq_f32(v[i]);
        finite = vandq_u32(finite, vcleq_f32(av, big));  // false for Inf and NaN
        amax4 = vmaxq_f32(amax4, av);                     // (only used when all are finite)
      }
      int8_t* qg = q + r * k + 32 * g;
      int32_t* sg = s16 + r * (k / 16) + 2 * g;
      if (vminvq_u32(finite) == 0) {
        dx[r * (k / 32) + g] = __builtin_nanf("");
        for (int i = 0; i < 32; ++i) qg[i] = 0;
        sg[0] = sg[1] = 0;
        continue;
      }
      const float amax = vmaxvq_f32(amax4);
      dx[r * (k / 32) + g] = amax / 127.0f;
      const float32x4_t inv = vdupq_n_f32(amax > 0.0f ? 127.0f / amax : 0.0f);
      int32x4_t iv[8];
      for (int i = 0; i < 8; ++i) {
        float32x4_t pr = vmulq_f32(v[i], inv);
        pr = vbslq_f32(nm::IsNan4(pr), vdupq_n_f32(0.0f), pr);  // NaN -> +0
        pr = nm::Min4(nm::Max4(pr, lo), hi);
        iv[i] = vcvtnq_s32_f32(pr);
      }
      for (int h = 0; h < 2; ++h) {
        const int16x8_t a16 = vcombine_s16(vqmovn_s32(iv[4 * h]), vqmovn_s32(iv[4 * h + 1]));
        const int16x8_t b16 = vcombine_s16(vqmovn_s32(iv[4 * h + 2]), vqmovn_s32(iv[4 * h + 3]));
        vst1q_s8(qg + 16 * h, vcombine_s8(vqmovn_s16(a16), vqmovn_s16(b16)));
        sg[h] = vaddvq_s32(vaddq_s32(vaddq_s32(iv[4 * h], iv[4 * h + 1]),
                                     vaddq_s32(iv[4 * h + 2], iv[4 * h + 3])));
      }
    }
  }
}

}  // namespace detinfer::kernels::neon
