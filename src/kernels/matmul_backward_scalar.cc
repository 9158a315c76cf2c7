// Portable scalar path of the matmul backward chain: the reference statement of the order.
#include <cmath>

#include "kernels/matmul_backward_isa.h"

namespace detinfer::kernels::scalar {

void ChainTile(const ChainArgs& a, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  for (int64_t r = r0; r < r1; ++r) {
    float* out = a.out + r * a.ldo;
    const float* ar = a.a + r * a.a_row_stride;
    for (int64_t c = c0; c < c1; ++c) {
      float acc = a.accumulate ? out[c] : 0.0f;
      for (int64_t s = 0; s < a.steps; ++s) {
        acc = std::fma(ar[s * a.a_step_stride], a.b[s * a.ldb + c], acc);
      }
      out[c] = acc;
    }
  }
}

}  // namespace detinfer::kernels::scalar
