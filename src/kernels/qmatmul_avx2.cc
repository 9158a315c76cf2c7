// AVX2 block-format matmul (the tile loop: kernels/simd/qmatmul_tile.h).
#include "kernels/qmatmul_isa.h"
#include "kernels/simd/qmatmul_tile.h"

namespace detinfer::kernels::avx2 {

void QMatmulTile(const QMatmulArgs& a, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  QTileDispatch(a, m0, m1, p0, p1);
}

}  // namespace detinfer::kernels::avx2
