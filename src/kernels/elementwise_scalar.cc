// Elementwise ops, portable scalar path.
#include <cstdint>
#include <cstring>

#include "core/dtype.h"
#include "kernels/elementwise_isa.h"

namespace detinfer::kernels::scalar {

void Add(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void WidenBF16(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = BF16ToF32(src[i]);
}

void WidenF16(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = F16ToF32(src[i]);
}

}  // namespace detinfer::kernels::scalar
