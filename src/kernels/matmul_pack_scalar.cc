// Portable panel packing: the reference statement of matmul_pack_isa.h.
#include "kernels/matmul_pack_isa.h"

namespace detinfer::kernels::scalar {

namespace {

// k in tiles of 64: each source row is read contiguously while the tile's panel rows
// (64 x 16 elements, a few KiB) stay in L1 as they are filled column by column.
template <typename T>
void PackPanel(const T* src, int64_t ld, int64_t k, T* dst) {
  constexpr int64_t kTile = 64;
  for (int64_t k0 = 0; k0 < k; k0 += kTile) {
    const int64_t k1 = k0 + kTile < k ? k0 + kTile : k;
    for (int64_t j = 0; j < 16; ++j) {
      for (int64_t kk = k0; kk < k1; ++kk) dst[kk * 16 + j] = src[j * ld + kk];
    }
  }
}

}  // namespace

void PackPanel16(const uint16_t* src, int64_t ld, int64_t k, uint16_t* dst) {
  PackPanel(src, ld, k, dst);
}
void PackPanel32(const uint32_t* src, int64_t ld, int64_t k, uint32_t* dst) {
  PackPanel(src, ld, k, dst);
}

}  // namespace detinfer::kernels::scalar
