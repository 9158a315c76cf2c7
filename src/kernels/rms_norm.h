// RMSNorm (Llama/Qwen style, weight applied as w, not 1 + w).
//
// For each row x[0..D) (SPEC §K2, the same bits on every path, batch size and thread count):
//   ss   = sum of x[i]*x[i] in the canonical 16-lane order (reduction_order.h): lane j
//          accumulates acc_j = fma(x[i], x[i], acc_j) for i = j, j+16, ... from acc_j = +0,
//          then the fixed tree p[j]+p[j+8], p[j]+p[j+4], p[j]+p[j+2], p[0]+p[1];
//   mean = ss / float(D)                     (one correctly rounded division)
//   inv  = 1.0f / sqrt(mean + eps)           (add, correctly rounded sqrt, division; all fp32)
//   y[i] = (x[i] * inv) * w[i]               (two rounded multiplies, in this order)
// w is widened exactly from its storage dtype (f32, bf16 or f16) first.
//
// Special values (documented, tested): a NaN anywhere in a row makes every output of that row
// NaN. An Inf in a row makes ss = Inf, inv = 0: the Inf elements become NaN (Inf * 0) and the
// finite ones +-0. Rows whose squares overflow fp32 behave the same way. With eps = 0 an
// all-zero row gives NaN (0 * Inf). Which NaN payload comes out is not part of the contract.
#ifndef DETINFER_KERNELS_RMS_NORM_H_
#define DETINFER_KERNELS_RMS_NORM_H_

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/context.h"

namespace detinfer {

// x: [M, D] f32; weight: [D] f32, bf16 or f16; out: [M, D] f32, may be x itself (in place)
// but may not otherwise overlap x or weight. eps must be finite and >= 0.
Status RmsNorm(const KernelContext& ctx, TensorView x, TensorView weight, float eps,
               TensorView out);

// Per-head RMSNorm (Qwen3 q_norm / k_norm): every head's Dh slice is normalised on its own,
// with exactly the order above and the same weight [Dh] for every head.
// x: [M, H*Dh] (Dh taken from weight) or [M, H, Dh] f32; out has x's shape (may be x).
Status RmsNormHeads(const KernelContext& ctx, TensorView x, TensorView weight, float eps,
                    TensorView out);

}  // namespace detinfer

#endif  // DETINFER_KERNELS_RMS_NORM_H_
