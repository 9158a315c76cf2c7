// Raw-pointer entry points of RoPE, one per ISA path (declarations only: included by the
// per-ISA translation units, see cmake/Flags.cmake). Validation happens in rope.cc.
//
// RopeHeads rotates, in place, `num_heads` heads of one token. Head h starts at
// x + h * head_stride; its first rotary_dim elements form rotary_dim/2 pairs, pair i being
// (i, i + rotary_dim/2) for kRopeRotateHalf or (2i, 2i+1) for kRopeInterleaved, rotated by
// cos_row[i], sin_row[i] (the table row of the token's position). Other elements are untouched.
#ifndef DETINFER_KERNELS_ROPE_ISA_H_
#define DETINFER_KERNELS_ROPE_ISA_H_

#include <cstdint>

namespace detinfer::kernels {

inline constexpr int kRopeRotateHalf = 0;
inline constexpr int kRopeInterleaved = 1;

namespace scalar {
void RopeHeads(float* x, int64_t head_stride, int64_t num_heads, int64_t rotary_dim,
               const float* cos_row, const float* sin_row, int style);
}  // namespace scalar

namespace avx2 {
void RopeHeads(float* x, int64_t head_stride, int64_t num_heads, int64_t rotary_dim,
               const float* cos_row, const float* sin_row, int style);
}  // namespace avx2

namespace avx512 {
void RopeHeads(float* x, int64_t head_stride, int64_t num_heads, int64_t rotary_dim,
               const float* cos_row, const float* sin_row, int style);
}  // namespace avx512

namespace neon {
void RopeHeads(float* x, int64_t head_stride, int64_t num_heads, int64_t rotary_dim,
               const float* cos_row, const float* sin_row, int style);
}  // namespace neon

}  // namespace detinfer::kernels

#endif  // DETINFER_KERNELS_ROPE_ISA_H_
