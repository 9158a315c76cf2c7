// The packed panel layout of a block-format weight (kernels/qmatmul.h), written once for the
// packer, the scalar kernel, the SIMD kernels and PackedMatrix::At.
//
// A panel is 16 output columns. Along K it is a sequence of records, one per storage block of
// the format (32 or 256 k): a header of the 16 columns' scales, then one quant group per 32 k.
//   header, per format (f16 values as stored in the file; u8/i8 sub-block scales):
//     Q8_0, Q4_0, Q5_0: d[16]                                        32 B
//     Q4_1, Q5_1:       d[16] | m[16]                                64 B
//     Q4_K, Q5_K:       d[16] | dmin[16] | sc[8][16] | m[8][16]     320 B
//     Q6_K:             d[16] | sc[16][16] (int8)                   288 B
//   quant group (32 k x 16 columns). Element u of (column c, k kk) is the kernel's integer:
//   Q8_0 the signed q; Q4_0 q+8, Q5_0 q+16, Q6_K q+32 (0..63); Q4_1/Q5_1/Q4_K/Q5_K the
//   unsigned q. "Vector" s (s = 2t + h, t = kk/4, h = c/8) is 32 bytes: byte 4(c%8) + kk%4.
//     8-bit: vectors 0..15 in order                                 512 B
//     4-bit: word t (32 B) holds vector 2t in its low nibbles and 2t+1 in its high ones   256 B
//     5-bit: the 4-bit words, then planes P0, P1 (32 B): bit b of P_p[j] is bit 4 of
//            vector 8p+b's byte j                                   320 B
//     6-bit: the 4-bit words, then planes P0..P3: bits 2b, 2b+1 of P_p[j] are bits 4, 5 of
//            vector 4p+b's byte j                                   384 B
// Every size is a multiple of 32 bytes, so each vector load is aligned when the panel is.
// Columns past N are all zero (zero scales, zero quants).
//
// Included by per-ISA files: everything here has internal linkage (cmake/Flags.cmake).
#ifndef DETINFER_KERNELS_SIMD_QMATMUL_LAYOUT_H_
#define DETINFER_KERNELS_SIMD_QMATMUL_LAYOUT_H_

#include <cstddef>
#include <cstdint>

#include "core/dtype_id.h"

namespace detinfer::kernels {
namespace {

struct QLayout {
  int64_t block_k;      // k per record (the storage block)
  int bits;             // 8, 4, 5 or 6
  int offset;           // subtracted from u: 0, 8, 16, 32
  bool has_min;         // Q4_1, Q5_1, Q4_K, Q5_K
  bool k_scales;        // Q4_K, Q5_K: 6-bit sc/m per 32 k
  bool q6_scales;       // Q6_K: int8 sc per 16 k
  size_t header_bytes;
  size_t group_bytes;
  constexpr int64_t groups() const { return block_k / 32; }
  constexpr size_t record_bytes() const {
    return header_bytes + static_cast<size_t>(groups()) * group_bytes;
  }
};

constexpr QLayout LayoutOf(DType f) {
  switch (f) {
    case DType::kQ8_0: return {32, 8, 0, false, false, false, 32, 512};
    case DType::kQ4_0: return {32, 4, 8, false, false, false, 32, 256};
    case DType::kQ4_1: return {32, 4, 0, true, false, false, 64, 256};
    case DType::kQ5_0: return {32, 5, 16, false, false, false, 32, 320};
    case DType::kQ5_1: return {32, 5, 0, true, false, false, 64, 320};
    case DType::kQ4_K: return {256, 4, 0, true, true, false, 320, 256};
    case DType::kQ5_K: return {256, 5, 0, true, true, false, 320, 320};
    case DType::kQ6_K: return {256, 6, 32, false, false, true, 288, 384};
    default: return {1, 0, 0, false, false, false, 0, 0};
  }
}

// Bytes of one panel of a [*, k] weight.
constexpr size_t QPanelBytes(DType f, int64_t k) {
  const QLayout l = LayoutOf(f);
  return static_cast<size_t>(k / l.block_k) * l.record_bytes();
}

// Byte index within a group, and the nibble/plane position, of (column c, k kk < 32).
struct QPos {
  int vec, byte;  // vector s and its byte j
};
constexpr QPos PosOf(int c, int kk) { return {2 * (kk / 4) + c / 8, 4 * (c % 8) + kk % 4}; }

// u of (column c, k kk) of one quant group.
inline int GetU(const QLayout& l, const uint8_t* g, int c, int kk) {
  const QPos p = PosOf(c, kk);
  if (l.bits == 8) return static_cast<int8_t>(g[32 * p.vec + p.byte]);
  const uint8_t w = g[32 * (p.vec / 2) + p.byte];
  int u = (p.vec % 2) ? w >> 4 : w & 15;
  if (l.bits == 5) u |= ((g[256 + 32 * (p.vec / 8) + p.byte] >> (p.vec % 8)) & 1) << 4;
  if (l.bits == 6) u |= ((g[256 + 32 * (p.vec / 4) + p.byte] >> (2 * (p.vec % 4))) & 3) << 4;
  return u;
}

// Writes u of (column c, k kk) into a zeroed quant group.
inline void PutU(const QLayout& l, uint8_t* g, int c, int kk, int u) {
  const QPos p = PosOf(c, kk);
  if (l.bits == 8) {
    g[32 * p.vec + p.byte] = static_cast<uint8_t>(u);
    return;
  }
  uint8_t& w = g[32 * (p.vec / 2) + p.byte];
  w = static_cast<uint8_t>(w | ((u & 15) << ((p.vec % 2) ? 4 : 0)));
  if (l.bits == 5) {
    uint8_t& b = g[256 + 32 * (p.vec / 8) + p.byte];
    b = static_cast<uint8_t>(b | ((u >> 4) & 1) << (p.vec % 8));
  }
  if (l.bits == 6) {
    uint8_t& b = g[256 + 32 * (p.vec / 4) + p.byte];
    b = static_cast<uint8_t>(b | ((u >> 4) & 3) << (2 * (p.vec % 4)));
  }
}

// Header fields of a record.
inline uint16_t HeaderD(const uint8_t* rec, int c) {
  return static_cast<uint16_t>(rec[2 * c] | rec[2 * c + 1] << 8);
}
inline uint16_t HeaderMin(const uint8_t* rec, int c) {  // m (Q4_1/Q5_1) or dmin (K)
  return static_cast<uint16_t>(rec[32 + 2 * c] | rec[33 + 2 * c] << 8);
}
inline int HeaderSc(const QLayout& l, const uint8_t* rec, int j, int c) {  // sub-block j
  return l.q6_scales ? static_cast<int8_t>(rec[32 + 16 * j + c]) : rec[64 + 16 * j + c];
}
inline int HeaderM(const uint8_t* rec, int j, int c) { return rec[192 + 16 * j + c]; }

}  // namespace
}  // namespace detinfer::kernels

#endif  // DETINFER_KERNELS_SIMD_QMATMUL_LAYOUT_H_
