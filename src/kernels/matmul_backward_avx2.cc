// AVX2 matmul backward: one ymm holds 8 consecutive output columns.
#include <immintrin.h>

#include <cstdint>

#include "kernels/matmul_backward_isa.h"
#include "kernels/simd/matmul_backward_tile.h"

namespace detinfer::kernels::avx2 {

namespace {

struct Ymm {
  static constexpr int64_t kWidth = 8;
  using Reg = __m256;
  using Mask = __m256i;
  // Lane j active iff j < valid (valid in [1, 8]).
  static Mask TailMask(int valid) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Reg Zero() { return _mm256_setzero_ps(); }
  static Reg Load(const float* p) { return _mm256_loadu_ps(p); }
  static Reg LoadMasked(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void Store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  static void StoreMasked(float* p, Mask m, Reg v) { _mm256_maskstore_ps(p, m, v); }
  static Reg Broadcast(float x) { return _mm256_set1_ps(x); }
  static Reg Fma(Reg x, Reg b, Reg acc) { return _mm256_fmadd_ps(x, b, acc); }
};

}  // namespace

// 4 rows x 3 vectors = 12 accumulators of the 16 ymm registers, 3 b registers, 1 broadcast.
void ChainTile(const ChainArgs& a, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  ChainTileLoop<Ymm, 4, 3>(a, r0, r1, c0, c1);
}

}  // namespace detinfer::kernels::avx2
