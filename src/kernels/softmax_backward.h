// SoftmaxBackward: the gradient of Softmax (softmax.h) through its output. For one row with
// probabilities p = softmax(x) and upstream gradient dp = dL/dp:
//   dx_i = p_i * (dp_i - s),   s = sum_j p_j * dp_j
// (the MoE router's backward: p is the router softmax the forward saved).
//
// Per row, in this order (fp32; the same code runs for every ISA path, so the paths agree
// trivially — one row reduction, cheap next to the matmuls around it):
//   s    = the canonical 16-lane order of reduction_order.h: lane j % 16 accumulates
//          fma(p_j, dp_j, lane) for j ascending, lanes start at +0, then
//          reduce_tree::TreeSum16 (the order of RmsNormBackward's row sum)
//   dx_i = p_i * (dp_i - s)        (one rounded subtraction, one rounded product)
//   any NaN result is the canonical quiet NaN 0x7fc00000 (as the forward's NaN rows)
// s depends only on the row's own p and dp and on N, so a row's bits never depend on M, the
// other rows, the thread count or the ISA. Threads split rows only.
// Specials: IEEE arithmetic as written; a NaN or Inf in a row's p or dp makes s non-finite and
// the row's dx NaN or Inf (NaNs canonical). N == 0 writes nothing.
#ifndef DETINFER_KERNELS_SOFTMAX_BACKWARD_H_
#define DETINFER_KERNELS_SOFTMAX_BACKWARD_H_

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/context.h"

namespace detinfer {

// p, dp, dx: [M, N] f32 of one shape. dx is overwritten; it may be p itself or dp itself (exact
// aliasing: every element of a row is read before the row is written, by one task) but may not
// otherwise overlap them.
Status SoftmaxBackward(const KernelContext& ctx, const TensorView& p, const TensorView& dp,
                       const TensorView& dx);

}  // namespace detinfer

#endif  // DETINFER_KERNELS_SOFTMAX_BACKWARD_H_
