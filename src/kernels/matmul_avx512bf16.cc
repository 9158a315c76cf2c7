// The avx512bf16 matmul: the AVX-512 tile, with bf16 weights by vdpbf16ps over pairs of k
// (matmul_bf16.h; x holds the activations as bf16 pairs, MatmulArgs::x).
#include <immintrin.h>

#include <cstdint>

#include "kernels/matmul_isa.h"
#include "kernels/simd/matmul_zmm.h"

namespace detinfer::kernels::avx512bf16 {

namespace {

struct ZmmBf16 : Zmm {
  static constexpr Bf16Mode kBf16Mode = kBf16Pairs;
  // Panel rows k and k + 1 (16 bf16 each, adjacent) as 16 pairs: lane c holds W[c, k] in its
  // high (first-added) half and W[c, k + 1] in its low half.
  static Reg LoadBf16Pair(const void* w, int64_t index) {
    const __m512i idx = _mm512_set_epi16(15, 31, 14, 30, 13, 29, 12, 28, 11, 27, 10, 26, 9, 25,
                                         8, 24, 7, 23, 6, 22, 5, 21, 4, 20, 3, 19, 2, 18, 1,
                                         17, 0, 16);
    const __m512i rows = _mm512_loadu_si512(static_cast<const uint16_t*>(w) + index);
    return _mm512_castsi512_ps(_mm512_permutexvar_epi16(idx, rows));
  }
  // The last row of an odd K: W[c, K-1] high, -0 low (its product with the +0 activation
  // pad is -0, which leaves the accumulator unchanged).
  static Reg LoadBf16Tail(const void* w, int64_t index) {
    const __m512i idx = _mm512_set_epi16(15, 32, 14, 32, 13, 32, 12, 32, 11, 32, 10, 32, 9, 32,
                                         8, 32, 7, 32, 6, 32, 5, 32, 4, 32, 3, 32, 2, 32, 1, 32,
                                         0, 32);
    const __m256i row = _mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + index));
    return _mm512_castsi512_ps(_mm512_permutex2var_epi16(
        _mm512_castsi256_si512(row), idx, _mm512_set1_epi16(static_cast<int16_t>(0x8000))));
  }
  static Reg BroadcastPair(const float* p) {
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(v)));
  }
  static Reg DotBf16(Reg x, Reg w, Reg acc) {
    return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh>(x), reinterpret_cast<__m512bh>(w));
  }
};

}  // namespace

// The avx512 path's tile shape: 6 rows x 4 panels of accumulators.
void MatmulTile(const MatmulArgs& a, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  TileDispatch<ZmmBf16, 6, 4>(a, m0, m1, p0, p1);
}

}  // namespace detinfer::kernels::avx512bf16
