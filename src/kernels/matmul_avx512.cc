// AVX-512 matmul: one zmm holds one 16-column panel row.
#include <cstdint>

#include "kernels/matmul_isa.h"
#include "kernels/simd/matmul_zmm.h"

namespace detinfer::kernels::avx512 {

// 6 rows x 4 panels = 24 accumulators of the 32 zmm registers, 4 weight registers, 1 broadcast.
void MatmulTile(const MatmulArgs& a, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  TileDispatch<Zmm, 6, 4>(a, m0, m1, p0, p1);
}

}  // namespace detinfer::kernels::avx512
