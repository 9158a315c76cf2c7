// The backward pass of the mixture-of-experts feed-forward (model/moe_ffn.h) for one sequence.
//
// Given dy [T, dim], the gradient of the MoE output y, the layer's record (the forward's
// routing and each (token, slot)'s expert activations) and its input h [T, dim]:
//   per token t and slot j (expert c_j, weight w_j, expert output o_j), fp32:
//     do_j  = w_j * dy_t                                   one multiply per element
//     dw_j  = fma chain over d ascending from +0 of dy_t[d] * o_j[d]
//   the chosen probabilities' gradient (0 for the others; top-k passes no gradient):
//     renormalised (w_j = p_cj / S, S the forward's ascending sum):
//       s = ((0 + dw_0 * w_0) + dw_1 * w_1) + ...;  dp_cj = (dw_j - s) / S
//     else dp_cj = dw_j
//   dr = SoftmaxBackward(p, dp)                            kernels/softmax_backward order
//   dh = dr · Wrouter;  dWrouter += dr^T · h               kernels/matmul_backward.h
//   then per expert e = 0, 1, ... in ascending id, over its slots in token order (the rows the
//   forward gathered):
//     dact = do · Wdown_e;  dWdown_e += do^T · act
//     dgate, dup = SwiGluBackward(gate, up, dact)
//     dWgate_e += dgate^T · h;  dWup_e += dup^T · h
//     dx = dgate · Wgate_e;  dx = dx + dup · Wup_e        (gate and up are separate slices of
//                                                          the stacked tensors, so two products)
//     dh[t] = dh[t] + dx                                   so a token's dh is its router part,
//                                                          then its experts in ascending id
// Everything is a function of this sequence's rows only.
#ifndef DETINFER_TRAIN_MOE_BACKWARD_H_
#define DETINFER_TRAIN_MOE_BACKWARD_H_

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "kernels/context.h"
#include "model/decoder_layer.h"
#include "train/param_layout.h"

namespace detinfer {

// h, dy: [T, dim]; *dh: [T, dim], overwritten. Weight gradients accumulate into `grad`
// (layout's slices of layer `layer`).
Status MoeFfnBackward(const KernelContext& ctx, const ParamLayout& layout, const float* params,
                      float* grad, int64_t layer, LayerRecord& rec, std::vector<float>& h,
                      std::vector<float>& dy, std::vector<float>* dh);

}  // namespace detinfer

#endif  // DETINFER_TRAIN_MOE_BACKWARD_H_
