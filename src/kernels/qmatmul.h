// Block-format matmul: Y[M,N] = X[M,K] · W[N,K]^T (+ bias) for W in a GGUF quantised format
// (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K; core/quant_blocks.h), SPEC §K1's rule for
// these formats. Matmul (kernels/matmul.h) takes this path when the packed weight is one.
//
// Reduction order (the whole contract of this op):
//  1. Each activation row is quantised on its own, per group of 32 k (g = k / 32):
//       amax_g = max |x[m,k]| over the group            (exact)
//       dx_g   = amax_g / 127                            (fp32 division, RNE)
//       q[m,k] = clamp(round_half_even(x[m,k] * (127 / amax_g)), -127, 127)   (0 when amax_g = 0,
//                and 0 where the product is NaN: 0 * Inf once 127 / amax_g overflows)
//     A group holding NaN or Inf gets dx_g = NaN and q = 0, so its outputs are NaN.
//     Also kept: S16 = the integer sums of q over each 16 k.
//  2. Per output (m, n), over the groups g = 0, 1, ... in order:
//       P_g   = the exact integer sum over the group of q[m,k] * w_int[n,k], where w_int is the
//               weight's integer (core/quant_blocks.h: offset removed; for Q6_K each 16-k half
//               times its int8 sub-scale) — exact, so no order of these additions matters
//       s_g   = d (Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, Q6_K) or d * sc_j (Q4_K, Q5_K; exact)
//       acc   = fma(dx_g * s_g, float(P_g), acc)                    (acc starts at +0)
//       and for the formats with a min (Q4_1, Q5_1: mn = m; Q4_K, Q5_K: mn = -(dmin * m_j)):
//       acc   = fma(dx_g * mn, float(S32_g), acc)      S32_g = sum of q over the group
//     y[m,n] = bias ? acc + bias[n] : acc
// |P_g| < 2^24 for every format, so float(P_g) is exact. Nothing depends on M, on the other
// rows, on the thread count or on the ISA path: the integer sums are exact and the fp32 steps
// are the same few operations in the same order everywhere. Against an f32 weight the error is
// that of quantising the activations to 8 bits per 32 (llama.cpp's Q8_0/Q8_1 activations do the
// same); tests bound it with a double-precision product of the dequantised operands.
//
// Packed layout: kernels/simd/qmatmul_layout.h.
#ifndef DETINFER_KERNELS_QMATMUL_H_
#define DETINFER_KERNELS_QMATMUL_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/context.h"
#include "kernels/matmul.h"

namespace detinfer {

// The rule above, by name, for the schedule id (engine/schedule_id.cc): activations rounded to
// int8 per 32 k, exact integer group sums, one fma per group (and one per min term).
inline constexpr const char* kBlockMatmulRule = "act-int8x32/int-group-sum/fma-per-group";

// Step 1 for one row of k elements (k a multiple of 32): q [k], dx [k/32], s16 [k/16].
void QuantizeActivationRow(const float* x, int64_t k, int8_t* q, float* dx, int32_t* s16);

namespace kernels {
// Step 2 (validated by Matmul): called for a packed weight in a block format.
Status QuantMatmul(const KernelContext& ctx, const TensorView& x, const PackedMatrix& w,
                   const TensorView* bias, const TensorView& y, const CpuTuning& tuning);
// Packing (qmatmul_pack.cc): bytes of one panel of a [*, k] weight; panels [p0, p1) of the
// fused weight whose part i holds rows [start[i], start[i] + rows_i), into zeroed dst; and the
// widened value of W[n, k] read back from the packed panels (tests, debugging).
size_t QuantPanelBytes(DType dtype, int64_t k);
void PackQuantPanels(std::span<const TensorView> views, std::span<const int64_t> start,
                     int64_t n_total, int64_t k, DType dtype, int64_t p0, int64_t p1,
                     uint8_t* dst);
float QuantPackedAt(DType dtype, const void* data, int64_t k_total, int64_t n, int64_t k);
}  // namespace kernels

}  // namespace detinfer

#endif  // DETINFER_KERNELS_QMATMUL_H_
