// NEON matmul (aarch64): a 16-column panel row is four q registers (columns 0-3, ..., 12-15).
// The same tile loop as the x86 paths (simd/matmul_tile.h), so the same order per output:
// vfmaq_f32 is one fused multiply-add per lane, exactly _mm256_fmadd_ps / std::fma.
#include <arm_neon.h>

#include <cstdint>

#include "kernels/matmul_isa.h"
#include "kernels/simd/matmul_tile.h"

namespace detinfer::kernels::neon {

namespace {

struct QuadQ {
  struct Reg { float32x4_t v[4]; };
  using Bcast = float32x4_t;
  // bf16 weights run the scalar loop (MatmulTile below): the rule's flush-to-zero is x86's
  // (matmul_bf16.h), which FPCR.FZ does not promise to match.
  static constexpr Bf16Mode kBf16Mode = kBf16None;
  // NEON has no masked loads: a partial panel (the last one, past N) goes element by element.
  struct Mask { int valid; };
  static Mask ValidMask(int valid) { return {valid}; }
  static Reg Zero() {
    const float32x4_t z = vdupq_n_f32(0.0f);
    return {{z, z, z, z}};
  }
  static Reg LoadY(const float* p, Mask m) {
    if (m.valid == 16) {
      return {{vld1q_f32(p), vld1q_f32(p + 4), vld1q_f32(p + 8), vld1q_f32(p + 12)}};
    }
    alignas(16) float t[16] = {};
    for (int j = 0; j < m.valid; ++j) t[j] = p[j];
    return {{vld1q_f32(t), vld1q_f32(t + 4), vld1q_f32(t + 8), vld1q_f32(t + 12)}};
  }
  static void StoreY(float* p, Mask m, Reg v) {
    if (m.valid == 16) {
      for (int i = 0; i < 4; ++i) vst1q_f32(p + 4 * i, v.v[i]);
      return;
    }
    alignas(16) float t[16];
    for (int i = 0; i < 4; ++i) vst1q_f32(t + 4 * i, v.v[i]);
    for (int j = 0; j < m.valid; ++j) p[j] = t[j];
  }
  static Bcast Broadcast(float x) { return vdupq_n_f32(x); }
  static Reg Fma(Bcast x, Reg w, Reg acc) {  // acc + x * w, rounded once
    return {{vfmaq_f32(acc.v[0], x, w.v[0]), vfmaq_f32(acc.v[1], x, w.v[1]),
             vfmaq_f32(acc.v[2], x, w.v[2]), vfmaq_f32(acc.v[3], x, w.v[3])}};
  }
  static Reg Add(Reg a, Reg b) {
    return {{vaddq_f32(a.v[0], b.v[0]), vaddq_f32(a.v[1], b.v[1]), vaddq_f32(a.v[2], b.v[2]),
             vaddq_f32(a.v[3], b.v[3])}};
  }
  template <DType DT>
  static Reg LoadW(const void* w, int64_t index) {
    Reg r;
    if constexpr (DT == DType::kF32) {
      const float* f = static_cast<const float*>(w) + index;
      for (int i = 0; i < 4; ++i) r.v[i] = vld1q_f32(f + 4 * i);
    } else {
      const uint16_t* h = static_cast<const uint16_t*>(w) + index;
      for (int i = 0; i < 4; ++i) {
        const uint16x4_t u = vld1_u16(h + 4 * i);
        if constexpr (DT == DType::kBF16) {  // exact: bf16 is the top half of an f32
          r.v[i] = vreinterpretq_f32_u32(vshll_n_u16(u, 16));
        } else {  // exact widening (subnormal halves included: FPCR.FZ16 is off)
          r.v[i] = vcvt_f32_f16(vreinterpret_f16_u16(u));
        }
      }
    }
    return r;
  }
};

}  // namespace

// 6 rows x 1 panel = 24 q accumulators, 4 weight registers, 1 broadcast (of 32).
void MatmulTile(const MatmulArgs& a, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  if (a.w_dtype == DType::kBF16) return scalar::MatmulTile(a, m0, m1, p0, p1);
  TileDispatch<QuadQ, 6, 1>(a, m0, m1, p0, p1);
}

}  // namespace detinfer::kernels::neon
