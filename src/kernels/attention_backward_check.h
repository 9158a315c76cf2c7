// Operand and sequence validation of AttentionBackward (attention_backward.h), kept apart from
// the arithmetic. Everything is checked before any memory is touched, so bad input is an error
// naming the operand / sequence and sizes, never undefined behaviour.
#ifndef DETINFER_KERNELS_ATTENTION_BACKWARD_CHECK_H_
#define DETINFER_KERNELS_ATTENTION_BACKWARD_CHECK_H_

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/attention.h"

namespace detinfer::kernels::attention_backward_check {

// opts.scale, or 1.0f / sqrtf(d) when it is 0 (both operations correctly rounded, so the value
// is the same on every machine).
float EffectiveScale(const AttentionOptions& opts, int64_t d);

// Shapes, dtypes, head counts, D, scale and output aliasing (see attention_backward.h).
Status CheckOperands(const TensorView& q, const TensorView& k, const TensorView& v,
                     const TensorView& out, const TensorView& dout, const TensorView& lse,
                     const TensorView& dq, const TensorView& dk, const TensorView& dv,
                     const AttentionOptions& opts);

// Every sequence's ranges within [0, tq) and [0, tkv), positions that cannot overflow, masks of
// kv_len entries, no paged blocks, and pairwise disjoint query rows and K/V rows. On success
// fills q_covered[tq] / kv_covered[tkv] with 1 for the rows some sequence uses.
Status CheckSequences(std::span<const AttentionSeq> seqs, int64_t tq, int64_t tkv,
                      std::vector<uint8_t>* q_covered, std::vector<uint8_t>* kv_covered);

}  // namespace detinfer::kernels::attention_backward_check

#endif  // DETINFER_KERNELS_ATTENTION_BACKWARD_CHECK_H_
