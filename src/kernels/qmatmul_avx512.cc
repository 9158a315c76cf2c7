// The AVX-512 path of the block-format matmul runs the 256-bit integer tile of
// kernels/simd/qmatmul_tile.h (compiled here with the AVX-512 flags; the avx512bf16 path runs it
// with VNNI, qmatmul_avx512bf16.cc). A 512-bit tile would be a speed change only.
#include "kernels/qmatmul_isa.h"
#include "kernels/simd/qmatmul_tile.h"

namespace detinfer::kernels::avx512 {

void QMatmulTile(const QMatmulArgs& a, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  QTileDispatch(a, m0, m1, p0, p1);
}

void QuantizeRows(const float* x, int64_t ldx, int64_t r0, int64_t r1, int64_t k, int8_t* q,
                  float* dx, int32_t* s16) {
  QQuantizeRows(x, ldx, r0, r1, k, q, dx, s16);
}

}  // namespace detinfer::kernels::avx512
