// The mixture-of-experts feed-forward of a decoder layer (Qwen3-MoE, Mixtral), one routine for
// inference and training (model/decoder_layer.h).
//
// Per layer (SPEC §A1: a token's bits never depend on which or how many other tokens chose the
// same experts):
//   r = h · Wrouter^T                  [T, n_experts] fp32, the K1 matmul
//   p = Softmax(r)                     per row, kernels/softmax.h (§K2)
//   chosen = the k largest p, ties to the lowest expert id, listed in ascending id
//   w_j = p[chosen_j], or with renormalisation p[chosen_j] / s where
//         s = ((0 + p[c_0]) + p[c_1]) + ...  in ascending expert id (fp32)
//   for each expert e = 0, 1, ... in ascending id: the rows that chose it, gathered in token
//     order into one contiguous [n_e, dim] block, through [g | u] = rows · [Wgate_e | Wup_e]^T,
//     SwiGlu, · Wdown_e^T — the same M-invariant matmul as every other weight, so a row's
//     result does not depend on n_e or on the other rows in the block
//   y = ((0 + w_0 * o_0) + w_1 * o_1) + ...   per token over its k experts in ascending
//     expert id, each product and sum rounded to fp32 (no FMA: -ffp-contract=off)
#ifndef DETINFER_MODEL_MOE_FFN_H_
#define DETINFER_MODEL_MOE_FFN_H_

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "kernels/context.h"
#include "model/config.h"
#include "model/decoder_layer.h"

namespace detinfer {

// h: [t, dim] (the ffn_norm output); out: [t, dim], overwritten with y (not overlapping h).
// record (null: none) receives the routing and each (token, slot)'s expert activations
// (LayerRecord).
Status MoeFfn(const KernelContext& ctx, const ModelConfig& c, const LayerParams& p,
              const float* h, int64_t t, float* out, LayerRecord* record);

// The experts a token's router probabilities `p` [n] choose: the k largest, the lowest expert
// id first among equal ones (a strict > scan from id 0), returned in ascending expert id.
void ChooseExperts(const float* p, int64_t n, int64_t k, int32_t* chosen);

}  // namespace detinfer

#endif  // DETINFER_MODEL_MOE_FFN_H_
