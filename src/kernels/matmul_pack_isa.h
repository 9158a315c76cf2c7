// Per-ISA weight packing for the matmul (declarations only; see matmul.h for the layout).
//
// One call fills one whole 16-column panel from 16 source rows:
//     dst[kk * 16 + j] = src[j * ld + kk]      for j < 16, kk < k
// i.e. a transpose of 16 rows, in blocks of 16 (AVX2) or 32 (AVX-512) k. Elements are copied
// as bit patterns, never converted, so every path writes the same bytes (the scalar loop is the
// reference); bf16 and f16 share the 16-bit entry point, f32 uses the 32-bit one.
#ifndef DETINFER_KERNELS_MATMUL_PACK_ISA_H_
#define DETINFER_KERNELS_MATMUL_PACK_ISA_H_

#include <cstdint>

namespace detinfer::kernels {

#define DETINFER_DECLARE_MATMUL_PACK(ns)                                           \
  namespace ns {                                                                   \
  void PackPanel16(const uint16_t* src, int64_t ld, int64_t k, uint16_t* dst);    \
  void PackPanel32(const uint32_t* src, int64_t ld, int64_t k, uint32_t* dst);    \
  }
DETINFER_DECLARE_MATMUL_PACK(scalar)
DETINFER_DECLARE_MATMUL_PACK(avx2)
DETINFER_DECLARE_MATMUL_PACK(avx512)
#undef DETINFER_DECLARE_MATMUL_PACK

}  // namespace detinfer::kernels

#endif  // DETINFER_KERNELS_MATMUL_PACK_ISA_H_
