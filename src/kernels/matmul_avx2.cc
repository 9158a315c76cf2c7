// AVX2 matmul: a 16-column panel row is two ymm registers (columns 0-7 and 8-15).
#include <immintrin.h>

#include <cstdint>

#include "kernels/matmul_isa.h"
#include "kernels/simd/flush_mode_x86.h"
#include "kernels/simd/matmul_tile.h"

namespace detinfer::kernels::avx2 {

namespace {

struct YmmPair : X86FlushMode {
  struct Reg { __m256 lo, hi; };
  using Bcast = __m256;
  struct Mask { __m256i lo, hi; };
  static constexpr Bf16Mode kBf16Mode = kBf16Flush;
  static Mask ValidMask(int valid) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i lim = _mm256_set1_epi32(valid);
    return {_mm256_cmpgt_epi32(lim, idx),
            _mm256_cmpgt_epi32(lim, _mm256_add_epi32(idx, _mm256_set1_epi32(8)))};
  }
  static Reg Zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  static Reg LoadY(const float* p, Mask m) {
    return {_mm256_maskload_ps(p, m.lo), _mm256_maskload_ps(p + 8, m.hi)};
  }
  static void StoreY(float* p, Mask m, Reg v) {
    _mm256_maskstore_ps(p, m.lo, v.lo);
    _mm256_maskstore_ps(p + 8, m.hi, v.hi);
  }
  static Bcast Broadcast(float x) { return _mm256_set1_ps(x); }
  static Reg Fma(Bcast x, Reg w, Reg acc) {
    return {_mm256_fmadd_ps(x, w.lo, acc.lo), _mm256_fmadd_ps(x, w.hi, acc.hi)};
  }
  static Reg Add(Reg a, Reg b) { return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
  template <DType DT>
  static Reg LoadW(const void* w, int64_t index) {
    if constexpr (DT == DType::kF32) {
      const float* f = static_cast<const float*>(w) + index;
      return {_mm256_loadu_ps(f), _mm256_loadu_ps(f + 8)};
    } else {
      const uint16_t* h = static_cast<const uint16_t*>(w) + index;
      const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h));
      const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h + 8));
      if constexpr (DT == DType::kBF16) {  // exact: bf16 is the top half of an f32
        return {_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(lo), 16)),
                _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(hi), 16))};
      } else {
        return {_mm256_cvtph_ps(lo), _mm256_cvtph_ps(hi)};  // exact widening
      }
    }
  }
};

}  // namespace

// 6 rows x 1 panel = 12 ymm accumulators of 16, 2 weight registers, 1 broadcast.
void MatmulTile(const MatmulArgs& a, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  TileDispatch<YmmPair, 6, 1>(a, m0, m1, p0, p1);
}

}  // namespace detinfer::kernels::avx2
