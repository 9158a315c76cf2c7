// The scalar remainder of a panel transpose (the k past the last full SIMD block), shared by
// the AVX2 and AVX-512 pack files. Internal linkage only, per the rule in cmake/Flags.cmake.
#ifndef DETINFER_KERNELS_SIMD_PACK_TAIL_H_
#define DETINFER_KERNELS_SIMD_PACK_TAIL_H_

#include <cstdint>

namespace detinfer::kernels {
namespace {

// dst[kk * 16 + j] = src[j * ld + kk] for j < 16, kk in [k0, k).
template <typename T>
static inline void PackPanelTail(const T* src, int64_t ld, int64_t k0, int64_t k, T* dst) {
  for (int64_t j = 0; j < 16; ++j) {
    for (int64_t kk = k0; kk < k; ++kk) dst[kk * 16 + j] = src[j * ld + kk];
  }
}

}  // namespace
}  // namespace detinfer::kernels

#endif  // DETINFER_KERNELS_SIMD_PACK_TAIL_H_
