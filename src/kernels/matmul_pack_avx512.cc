// AVX-512 panel packing: 16 rows x 32 k (16-bit) or 16 rows x 16 k (32-bit) register
// transposes; one zmm store writes two 16-bit panel rows or one 32-bit panel row.
#include <immintrin.h>

#include <cstdint>

#include "kernels/matmul_pack_isa.h"
#include "kernels/simd/pack_tail.h"

namespace detinfer::kernels::avx512 {

namespace {

__m512i Load(const void* p) { return _mm512_loadu_si512(p); }
void Store(void* p, __m512i v) { _mm512_storeu_si512(p, v); }

// The all-lanes masked (maskz) forms: GCC 12's unmasked ones seed their result with
// _mm512_undefined_epi32(), which -Werror=uninitialized rejects. Same instructions otherwise.
constexpr __mmask16 kAll16 = 0xFFFF;
constexpr __mmask8 kAll8 = 0xFF;
__m512i UnpackLo32(__m512i a, __m512i b) { return _mm512_maskz_unpacklo_epi32(kAll16, a, b); }
__m512i UnpackHi32(__m512i a, __m512i b) { return _mm512_maskz_unpackhi_epi32(kAll16, a, b); }
__m512i UnpackLo64(__m512i a, __m512i b) { return _mm512_maskz_unpacklo_epi64(kAll8, a, b); }
__m512i UnpackHi64(__m512i a, __m512i b) { return _mm512_maskz_unpackhi_epi64(kAll8, a, b); }
template <int kImm>
__m512i ShuffleLanes(__m512i a, __m512i b) { return _mm512_maskz_shuffle_i32x4(kAll16, a, b, kImm); }

// Gathers 128-bit lane l of a, b, c, d into [a.l, b.l, c.l, d.l] for l = 0..3 (a 4x4
// transpose of lanes): out[l].
void TransposeLanes(__m512i a, __m512i b, __m512i c, __m512i d, __m512i out[4]) {
  const __m512i ab01 = ShuffleLanes<0x44>(a, b);  // a0 a1 b0 b1
  const __m512i cd01 = ShuffleLanes<0x44>(c, d);  // c0 c1 d0 d1
  const __m512i ab23 = ShuffleLanes<0xEE>(a, b);  // a2 a3 b2 b3
  const __m512i cd23 = ShuffleLanes<0xEE>(c, d);  // c2 c3 d2 d3
  out[0] = ShuffleLanes<0x88>(ab01, cd01);        // a0 b0 c0 d0
  out[1] = ShuffleLanes<0xDD>(ab01, cd01);        // a1 b1 c1 d1
  out[2] = ShuffleLanes<0x88>(ab23, cd23);
  out[3] = ShuffleLanes<0xDD>(ab23, cd23);
}

// Rows a[0..15] hold k 0-31 (128-bit lane l: k 8l..8l+7). After three unpack stages s3[8o + c]
// holds rows 8o..8o+7 at k = 8l + c in lane l. Panel rows k and k+1 (c even) are the lanes
// [s3[c].l, s3[8+c].l, s3[c+1].l, s3[9+c].l]: one 64-byte store.
void Transpose16x32(const uint16_t* src, int64_t ld, uint16_t* dst) {
  __m512i a[16], s1[16], s2[16], s3[16];
  for (int i = 0; i < 16; ++i) a[i] = Load(src + i * ld);
  for (int p = 0; p < 8; ++p) {
    s1[2 * p] = _mm512_unpacklo_epi16(a[2 * p], a[2 * p + 1]);
    s1[2 * p + 1] = _mm512_unpackhi_epi16(a[2 * p], a[2 * p + 1]);
  }
  for (int q = 0; q < 4; ++q) {
    const __m512i lo0 = s1[4 * q], hi0 = s1[4 * q + 1], lo1 = s1[4 * q + 2], hi1 = s1[4 * q + 3];
    s2[4 * q + 0] = UnpackLo32(lo0, lo1);
    s2[4 * q + 1] = UnpackHi32(lo0, lo1);
    s2[4 * q + 2] = UnpackLo32(hi0, hi1);
    s2[4 * q + 3] = UnpackHi32(hi0, hi1);
  }
  for (int o = 0; o < 2; ++o) {
    for (int m = 0; m < 4; ++m) {
      s3[8 * o + 2 * m] = UnpackLo64(s2[8 * o + m], s2[8 * o + 4 + m]);
      s3[8 * o + 2 * m + 1] = UnpackHi64(s2[8 * o + m], s2[8 * o + 4 + m]);
    }
  }
  for (int c = 0; c < 8; c += 2) {
    __m512i out[4];
    TransposeLanes(s3[c], s3[8 + c], s3[c + 1], s3[9 + c], out);
    for (int l = 0; l < 4; ++l) Store(dst + (8 * l + c) * 16, out[l]);
  }
}

// Rows a[0..15] hold k 0-15 (lane l: k 4l..4l+3). After two unpack stages s2[4q + c] holds
// rows 4q..4q+3 at k = 4l + c in lane l; panel row k is [s2[c].l, s2[4+c].l, s2[8+c].l,
// s2[12+c].l].
void Transpose16x16(const uint32_t* src, int64_t ld, uint32_t* dst) {
  __m512i a[16], s1[16], s2[16];
  for (int i = 0; i < 16; ++i) a[i] = Load(src + i * ld);
  for (int p = 0; p < 8; ++p) {
    s1[2 * p] = UnpackLo32(a[2 * p], a[2 * p + 1]);
    s1[2 * p + 1] = UnpackHi32(a[2 * p], a[2 * p + 1]);
  }
  for (int q = 0; q < 4; ++q) {
    s2[4 * q + 0] = UnpackLo64(s1[4 * q], s1[4 * q + 2]);
    s2[4 * q + 1] = UnpackHi64(s1[4 * q], s1[4 * q + 2]);
    s2[4 * q + 2] = UnpackLo64(s1[4 * q + 1], s1[4 * q + 3]);
    s2[4 * q + 3] = UnpackHi64(s1[4 * q + 1], s1[4 * q + 3]);
  }
  for (int c = 0; c < 4; ++c) {
    __m512i out[4];
    TransposeLanes(s2[c], s2[4 + c], s2[8 + c], s2[12 + c], out);
    for (int l = 0; l < 4; ++l) Store(dst + (4 * l + c) * 16, out[l]);
  }
}

}  // namespace

void PackPanel16(const uint16_t* src, int64_t ld, int64_t k, uint16_t* dst) {
  int64_t k0 = 0;
  for (; k0 + 32 <= k; k0 += 32) Transpose16x32(src + k0, ld, dst + k0 * 16);
  PackPanelTail(src, ld, k0, k, dst);
}

void PackPanel32(const uint32_t* src, int64_t ld, int64_t k, uint32_t* dst) {
  int64_t k0 = 0;
  for (; k0 + 16 <= k; k0 += 16) Transpose16x16(src + k0, ld, dst + k0 * 16);
  PackPanelTail(src, ld, k0, k, dst);
}

}  // namespace detinfer::kernels::avx512
