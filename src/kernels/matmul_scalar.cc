// Portable scalar matmul: the reference statement of the order in matmul.h (and, for bf16
// weights, matmul_bf16.h).
#include <cmath>

#include "core/dtype.h"
#include "kernels/matmul_bf16.h"
#include "kernels/matmul_isa.h"

namespace detinfer::kernels::scalar {

namespace {

float LoadW(const void* w, DType dt, int64_t index) {
  switch (dt) {
    case DType::kF32: return static_cast<const float*>(w)[index];
    case DType::kBF16: return BF16ToF32(static_cast<const uint16_t*>(w)[index]);
    case DType::kF16: return F16ToF32(static_cast<const uint16_t*>(w)[index]);
    default: break;  // block formats take the quantised kernel (qmatmul)
  }
  return 0.f;
}

}  // namespace

void MatmulTile(const MatmulArgs& a, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  for (int64_t m = m0; m < m1; ++m) {
    const float* x = a.x + m * a.ldx;
    for (int64_t p = p0; p < p1; ++p) {
      for (int64_t j = 0; j < 16; ++j) {
        const int64_t n = p * 16 + j;
        if (n >= a.n) break;
        const int64_t base = p * a.k * 16 + j;
        float acc = 0.0f;
        if (a.w_dtype == DType::kBF16) {  // x holds the activations rounded to bf16 (step 1)
          const uint16_t* w = static_cast<const uint16_t*>(a.w);
          for (int64_t k = 0; k < a.k; ++k) acc = Bf16Fma(acc, x[k], Bf16DazToF32(w[base + k * 16]));
        } else {
          for (int64_t k = 0; k < a.k; ++k) acc = std::fma(x[k], LoadW(a.w, a.w_dtype, base + k * 16), acc);
        }
        a.y[m * a.ldy + n] = a.bias ? acc + a.bias[n] : acc;
      }
    }
  }
}

}  // namespace detinfer::kernels::scalar
