// The avx512bf16 path of the block-format matmul: the tile of kernels/simd/qmatmul_tile.h with
// its integer dot products by VNNI's vpdpbusd (the same exact integers, so the same bits).
#include "kernels/qmatmul_isa.h"
#include "kernels/simd/qmatmul_tile.h"

namespace detinfer::kernels::avx512bf16 {

void QMatmulTile(const QMatmulArgs& a, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  QTileDispatch<true>(a, m0, m1, p0, p1);
}

}  // namespace detinfer::kernels::avx512bf16
