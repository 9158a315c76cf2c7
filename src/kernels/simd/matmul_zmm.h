// The matmul tile's panel register on AVX-512 (one zmm = one 16-column panel row), for
// kernels/simd/matmul_tile.h; included by matmul_avx512.cc and matmul_avx512bf16.cc.
// Everything here has internal linkage (cmake/Flags.cmake).
#ifndef DETINFER_KERNELS_SIMD_MATMUL_ZMM_H_
#define DETINFER_KERNELS_SIMD_MATMUL_ZMM_H_

#include <immintrin.h>

#include <cstdint>

#include "kernels/simd/flush_mode_x86.h"
#include "kernels/simd/matmul_tile.h"

namespace detinfer::kernels {
namespace {

struct Zmm : X86FlushMode {
  using Reg = __m512;
  using Bcast = __m512;
  using Mask = __mmask16;
  static constexpr Bf16Mode kBf16Mode = kBf16Flush;
  static Mask ValidMask(int valid) { return static_cast<Mask>((1u << valid) - 1u); }
  static Reg Zero() { return _mm512_setzero_ps(); }
  static Reg LoadY(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void StoreY(float* p, Mask m, Reg v) { _mm512_mask_storeu_ps(p, m, v); }
  static Bcast Broadcast(float x) { return _mm512_set1_ps(x); }
  static Reg Fma(Bcast x, Reg w, Reg acc) { return _mm512_fmadd_ps(x, w, acc); }
  static Reg Add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  template <DType DT>
  static Reg LoadW(const void* w, int64_t index) {
    if constexpr (DT == DType::kF32) {
      return _mm512_loadu_ps(static_cast<const float*>(w) + index);
    } else {
      const __m256i h = _mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + index));
      if constexpr (DT == DType::kBF16) {
        // bf16 -> f32 is exact: the 16 bits become the top half of the f32 (a subnormal one
        // then reads as zero: DAZ, in the flushing mode).
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
      } else {
        return _mm512_cvtph_ps(h);  // exact widening
      }
    }
  }
};

}  // namespace
}  // namespace detinfer::kernels

#endif  // DETINFER_KERNELS_SIMD_MATMUL_ZMM_H_
