// AVX2 panel packing: 16x16 (16-bit) and 8x8 (32-bit) register transposes.
#include <immintrin.h>

#include <cstdint>

#include "kernels/matmul_pack_isa.h"
#include "kernels/simd/pack_tail.h"

namespace detinfer::kernels::avx2 {

namespace {

__m256i Load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
void Store(void* p, __m256i v) { _mm256_storeu_si256(static_cast<__m256i*>(p), v); }

// Rows a[0..15] hold k 0-15 (128-bit lane 0: k 0-7, lane 1: k 8-15). After the three unpack
// stages s3[o][c] holds rows 8o..8o+7 at k = c (lane 0) and k = 8 + c (lane 1); the lane
// permutes then join rows 0-7 and 8-15 of one k into one panel row.
void Transpose16x16(const uint16_t* src, int64_t ld, uint16_t* dst) {
  __m256i a[16], s1[16], s2[16], s3[16];
  for (int i = 0; i < 16; ++i) a[i] = Load(src + i * ld);
  for (int p = 0; p < 8; ++p) {  // row pairs: 32-bit units (2p, 2p+1) at k 0-3 | 4-7
    s1[2 * p] = _mm256_unpacklo_epi16(a[2 * p], a[2 * p + 1]);
    s1[2 * p + 1] = _mm256_unpackhi_epi16(a[2 * p], a[2 * p + 1]);
  }
  for (int q = 0; q < 4; ++q) {  // row quads: 64-bit units; s2[4q + m] has k 2m, 2m+1
    const __m256i lo0 = s1[4 * q], hi0 = s1[4 * q + 1], lo1 = s1[4 * q + 2], hi1 = s1[4 * q + 3];
    s2[4 * q + 0] = _mm256_unpacklo_epi32(lo0, lo1);
    s2[4 * q + 1] = _mm256_unpackhi_epi32(lo0, lo1);
    s2[4 * q + 2] = _mm256_unpacklo_epi32(hi0, hi1);
    s2[4 * q + 3] = _mm256_unpackhi_epi32(hi0, hi1);
  }
  for (int o = 0; o < 2; ++o) {  // row octets: s3[8o + c] has k c (lane 0), 8 + c (lane 1)
    for (int m = 0; m < 4; ++m) {
      s3[8 * o + 2 * m] = _mm256_unpacklo_epi64(s2[8 * o + m], s2[8 * o + 4 + m]);
      s3[8 * o + 2 * m + 1] = _mm256_unpackhi_epi64(s2[8 * o + m], s2[8 * o + 4 + m]);
    }
  }
  for (int c = 0; c < 8; ++c) {
    Store(dst + c * 16, _mm256_permute2x128_si256(s3[c], s3[8 + c], 0x20));
    Store(dst + (8 + c) * 16, _mm256_permute2x128_si256(s3[c], s3[8 + c], 0x31));
  }
}

// 8 rows x 8 k of 32-bit elements into columns [0, 8) of 8 panel rows (row pitch 16).
void Transpose8x8(const uint32_t* src, int64_t ld, uint32_t* dst) {
  __m256i a[8], s1[8], s2[8];
  for (int i = 0; i < 8; ++i) a[i] = Load(src + i * ld);
  for (int p = 0; p < 4; ++p) {  // 64-bit units (2p, 2p+1) at k 0,1 | 4,5 and k 2,3 | 6,7
    s1[2 * p] = _mm256_unpacklo_epi32(a[2 * p], a[2 * p + 1]);
    s1[2 * p + 1] = _mm256_unpackhi_epi32(a[2 * p], a[2 * p + 1]);
  }
  for (int q = 0; q < 2; ++q) {  // s2[4q + c]: rows 4q..4q+3 at k c (lane 0), 4 + c (lane 1)
    s2[4 * q + 0] = _mm256_unpacklo_epi64(s1[4 * q], s1[4 * q + 2]);
    s2[4 * q + 1] = _mm256_unpackhi_epi64(s1[4 * q], s1[4 * q + 2]);
    s2[4 * q + 2] = _mm256_unpacklo_epi64(s1[4 * q + 1], s1[4 * q + 3]);
    s2[4 * q + 3] = _mm256_unpackhi_epi64(s1[4 * q + 1], s1[4 * q + 3]);
  }
  for (int c = 0; c < 4; ++c) {
    Store(dst + c * 16, _mm256_permute2x128_si256(s2[c], s2[4 + c], 0x20));
    Store(dst + (4 + c) * 16, _mm256_permute2x128_si256(s2[c], s2[4 + c], 0x31));
  }
}

}  // namespace

void PackPanel16(const uint16_t* src, int64_t ld, int64_t k, uint16_t* dst) {
  int64_t k0 = 0;
  for (; k0 + 16 <= k; k0 += 16) Transpose16x16(src + k0, ld, dst + k0 * 16);
  PackPanelTail(src, ld, k0, k, dst);
}

void PackPanel32(const uint32_t* src, int64_t ld, int64_t k, uint32_t* dst) {
  int64_t k0 = 0;
  for (; k0 + 8 <= k; k0 += 8) {
    Transpose8x8(src + k0, ld, dst + k0 * 16);                 // panel columns 0-7
    Transpose8x8(src + 8 * ld + k0, ld, dst + k0 * 16 + 8);    // panel columns 8-15
  }
  PackPanelTail(src, ld, k0, k, dst);
}

}  // namespace detinfer::kernels::avx2
