// CrossEntropyForwardBackward: per-row next-token loss and its gradient with respect to the
// logits, in one pass over each row.
//
// For row t with target y = targets[t] (natural log; -1 means "no target here"):
//   loss[t]       = -log_softmax(logits_t)[y]          = lse(logits_t) - logits_t[y]
//   dlogits[t, j] = scale * (softmax(logits_t)[j] - (j == y ? 1 : 0))
// The loss is not averaged here ("mean-free"): the caller passes scale (e.g. 1 / number of
// target tokens of the batch) so that dlogits is already the gradient of its mean loss.
//
// Order (the contract), using the softmax family's own per-ISA row kernels (softmax.h), so
// every path gives the same bits:
//   m, s     = RowMax, RowSumExp of the row (canonical 16-lane orders, e_j = ExpF(d_j))
//   log_s    = LogF(s)
//   loss[t]  = -(d_y - log_s)       d_y = (x_y == m) ? +0 : x_y - m
//              which is bit for bit the negation of LogSoftmax(x)[y] (softmax.h), so the loss
//              a trainer reports equals what the engine scores (-0 when the row is one-hot)
//   p_j      = e_j / s              (softmax.h's Softmax, same bits)
//   dlogits  = (p_j - 1) * scale for j == y, p_j * scale otherwise (one rounding each)
// Rows with target -1: loss +0 and dlogits +0 (whatever the logits hold). A row holding a NaN
// (with a target): loss and the whole dlogits row are the canonical quiet NaN 0x7fc00000.
// No value crosses rows, so rows, threads and ISA paths cannot change a bit.
#ifndef DETINFER_KERNELS_CROSS_ENTROPY_H_
#define DETINFER_KERNELS_CROSS_ENTROPY_H_

#include <cstdint>
#include <span>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/context.h"

namespace detinfer {

// logits: [T, V] f32; targets: T entries, each -1 or in [0, V) (anything else is OutOfRange
// naming the row; nothing is written then); scale: finite; loss: [T] f32; dlogits: [T, V] f32,
// which may be logits itself (in place: the logits are then replaced by their gradient) but may
// not otherwise overlap it. loss may not overlap logits or dlogits.
Status CrossEntropyForwardBackward(const KernelContext& ctx, const TensorView& logits,
                                   std::span<const int32_t> targets, float scale,
                                   const TensorView& loss, const TensorView& dlogits);

}  // namespace detinfer

#endif  // DETINFER_KERNELS_CROSS_ENTROPY_H_
