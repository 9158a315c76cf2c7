// AVX-512 matmul backward: one zmm holds 16 consecutive output columns.
#include <immintrin.h>

#include <cstdint>

#include "kernels/matmul_backward_isa.h"
#include "kernels/simd/matmul_backward_tile.h"

namespace detinfer::kernels::avx512 {

namespace {

struct Zmm {
  static constexpr int64_t kWidth = 16;
  using Reg = __m512;
  using Mask = __mmask16;
  static Mask TailMask(int valid) { return static_cast<Mask>((1u << valid) - 1u); }
  static Reg Zero() { return _mm512_setzero_ps(); }
  static Reg Load(const float* p) { return _mm512_loadu_ps(p); }
  static Reg LoadMasked(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void Store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  static void StoreMasked(float* p, Mask m, Reg v) { _mm512_mask_storeu_ps(p, m, v); }
  static Reg Broadcast(float x) { return _mm512_set1_ps(x); }
  static Reg Fma(Reg x, Reg b, Reg acc) { return _mm512_fmadd_ps(x, b, acc); }
};

}  // namespace

// 6 rows x 4 vectors = 24 accumulators of the 32 zmm registers, 4 b registers, 1 broadcast.
void ChainTile(const ChainArgs& a, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  ChainTileLoop<Zmm, 6, 4>(a, r0, r1, c0, c1);
}

}  // namespace detinfer::kernels::avx512
