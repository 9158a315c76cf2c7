// The byte layouts of GGUF's quantised block formats, and the one integer form every user of
// them goes through (loader checks, dequantisation, the matmul packer, the writers).
//
// Layouts (little-endian; "f16" an IEEE half; element i of a block; llama.cpp's ggml-common.h
// and gguf-py's quants.py are the public references):
//   Q8_0  (32, 34 B):  f16 d | int8 qs[32]                 q_i = qs[i]
//   Q4_0  (32, 18 B):  f16 d | u8 qs[16]                   q_i = nib_i - 8
//   Q4_1  (32, 20 B):  f16 d | f16 m | u8 qs[16]           q_i = nib_i          (+ m)
//   Q5_0  (32, 22 B):  f16 d | u32 qh | u8 qs[16]          q_i = nib_i + 16*bit_i - 16
//   Q5_1  (32, 24 B):  f16 d | f16 m | u32 qh | u8 qs[16]  q_i = nib_i + 16*bit_i (+ m)
//       with nib_i = qs[i] & 15, nib_{i+16} = qs[i] >> 4 (i < 16), bit_i = (qh >> i) & 1.
//   Q4_K  (256, 144 B): f16 d | f16 dmin | u8 scales[12] | u8 qs[128]
//       sub-block j (32 elements) of the 64-element chunk c = j/2: low nibbles of qs[32c..+32]
//       for even j, high nibbles for odd j; 6-bit sc_j, m_j from `scales`: for j < 4
//       sc = s[j] & 63, m = s[j+4] & 63; else sc = (s[j+4] & 15) | (s[j-4] >> 6) << 4,
//       m = (s[j+4] >> 4) | (s[j] >> 6) << 4.                   q_i unsigned 4-bit
//   Q5_K  (256, 176 B): f16 d | f16 dmin | u8 scales[12] | u8 qh[32] | u8 qs[128]
//       as Q4_K, plus bit j of qh[l] is bit 4 of element 32j + l.   q_i unsigned 5-bit
//   Q6_K  (256, 210 B): u8 ql[128] | u8 qh[64] | int8 scales[16] | f16 d
//       in each 128-element half h: element 32t + l (t < 4, l < 32) has low 4 bits from
//       ql[64h + l + 32(t&1)] (low nibble for t < 2, high for t >= 2) and high 2 bits from
//       (qh[32h + l] >> 2t) & 3; q_i = that 6-bit value - 32; sub-block j = i/16.
//
// Widening (exact unless noted; products first, as llama.cpp does):
//   Q8_0, Q4_0, Q5_0:  d * q_i
//   Q4_1, Q5_1:        d * q_i + m                        (the addition rounds, RNE)
//   Q4_K, Q5_K:        (d * sc_j) * q_i - dmin * m_j      (the subtraction rounds, RNE)
//   Q6_K:              (d * sc_j) * q_i
// Why the products are exact: d has 11 significant bits, sc_j at most 7, q_i at most 5, so
// every product has at most 23 — it fits an fp32 significand.
#ifndef DETINFER_CORE_QUANT_BLOCKS_H_
#define DETINFER_CORE_QUANT_BLOCKS_H_

#include <cstddef>
#include <cstdint>

#include "core/dtype_id.h"

namespace detinfer {

// One block in integer form. Elements past block_elems, and fields the format lacks, are 0.
struct QuantInts {
  int8_t q[256];        // q_i as above: offset removed for the symmetric formats
  uint16_t d_bits;      // the f16 scale
  uint16_t dmin_bits;   // Q4_1/Q5_1: m; Q4_K/Q5_K: dmin; else 0
  int8_t sc[16];        // Q4_K/Q5_K: sc_j (8, 0..63); Q6_K: sc_j (16, int8)
  uint8_t m[16];        // Q4_K/Q5_K: m_j (8, 0..63)
};

// Block bytes <-> integer form. Encode expects values in the format's ranges (it masks).
void DecodeQuantBlock(DType dtype, const uint8_t* block, QuantInts* out);
void EncodeQuantBlock(DType dtype, const QuantInts& in, uint8_t* block);

// Widens n_blocks consecutive blocks to fp32 by the rule above.
void WidenQuantBlocks(DType dtype, const uint8_t* blocks, int64_t n_blocks, float* dst);

// Quantises n_blocks blocks of fp32 values (a fixed, row-local rule: the same input gives the
// same bytes on any machine; see quant_blocks.cc). Non-finite inputs make a zero block.
void QuantizeBlocks(DType dtype, const float* src, int64_t n_blocks, uint8_t* blocks);

// The index of the first of n_blocks blocks whose f16 scale (d, m or dmin) is NaN or Inf, or
// -1 when all are finite.
int64_t FirstNonFiniteScale(DType dtype, const uint8_t* blocks, int64_t n_blocks);

}  // namespace detinfer

#endif  // DETINFER_CORE_QUANT_BLOCKS_H_
