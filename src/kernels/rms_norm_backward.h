// RmsNormBackward: gradients of RmsNorm (rms_norm.h), y[i] = (x[i] * inv) * w[i] with
// inv = 1 / sqrt(mean(x^2) + eps), for x [M, D] f32 and an f32 weight [D].
//
// Math, per row (xhat_i = x_i * inv, g_i = dy_i * w_i):
//   dx_i  = inv * (g_i - xhat_i * (sum_j g_j xhat_j) / D)
//   dw_i += sum over rows of dy_i * xhat_i
//
// Order (the contract; fp32, the same code runs for every ISA path, so the paths agree
// trivially — it is cheap next to the matmuls):
//   inv    exactly as the forward: ss in the canonical 16-lane order (reduction_order.h),
//          mean = ss / float(D), inv = 1.0f / sqrt(mean + eps)
//   xhat_i = x_i * inv                       (the forward's first product, same bits)
//   g_i    = dy_i * w_i
//   c      = canonical 16-lane sum of fma(g_j, xhat_j, lane), lanes from +0, TreeSum16;
//            then c = c / float(D)
//   dx_i   = fma(-xhat_i, c, g_i) * inv
//   dw_i:  acc = dw_i (the value already there); for rows r = 0, 1, ..., M-1 ascending:
//          acc = fma(dy_ri, xhat_ri, acc); dw_i = acc
// Each dx row depends only on its own x, dy row and w. Each dw_i is one sequential chain over
// the rows, continued from the value in dweight, so calling once per sequence in ascending
// order gives the bits of one call over the concatenated rows (the same property as
// MatmulBackwardWeight). Threads split dx by rows and dw by columns; no chain is ever split.
#ifndef DETINFER_KERNELS_RMS_NORM_BACKWARD_H_
#define DETINFER_KERNELS_RMS_NORM_BACKWARD_H_

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/context.h"

namespace detinfer {

// x, dy, dx: [M, D] f32; weight, dweight: [D] f32. eps finite and >= 0 (as the forward).
// dx is overwritten and may be x itself or dy itself (exact aliasing), but may not otherwise
// overlap an input; dweight is accumulated into and may not overlap anything.
Status RmsNormBackward(const KernelContext& ctx, const TensorView& x, const TensorView& weight,
                       float eps, const TensorView& dy, const TensorView& dx,
                       const TensorView& dweight);

}  // namespace detinfer

#endif  // DETINFER_KERNELS_RMS_NORM_BACKWARD_H_
