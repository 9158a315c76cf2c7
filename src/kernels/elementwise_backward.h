// EmbeddingBackward: the gradient of EmbeddingGather (elementwise.h) with respect to the table.
//
// y[t, :] = table[tokens[t], :], so dtable[v, :] += sum over the t with tokens[t] == v of dy[t, :].
// Order (the contract): for every element dtable[v, d] the chain is
//   acc = dtable[v, d] (the value already there); for t = 0, 1, ..., T-1 ascending with
//   tokens[t] == v: acc = acc + dy[t, d]; dtable[v, d] = acc
// one rounded fp32 addition per occurrence. Threads split the columns d, never a chain, so
// nothing depends on the thread count or ISA (one portable code path serves every ISA: it is an
// addition per input element). Because the chain continues from dtable's value, one call per
// sequence in ascending sequence order gives the bits of one call over the concatenation.
// (The residual Add of elementwise.h needs no backward kernel: its gradient is dy for both
// inputs, which the caller adds into its running gradients.)
#ifndef DETINFER_KERNELS_ELEMENTWISE_BACKWARD_H_
#define DETINFER_KERNELS_ELEMENTWISE_BACKWARD_H_

#include <cstdint>
#include <span>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/context.h"

namespace detinfer {

// tokens: T ids in [0, V) (anything else is OutOfRange naming the id and its index; nothing is
// written then); dy: [T, D] f32; dtable: [V, D] f32, accumulated into, not overlapping dy.
Status EmbeddingBackward(const KernelContext& ctx, std::span<const int32_t> tokens,
                         const TensorView& dy, const TensorView& dtable);

}  // namespace detinfer

#endif  // DETINFER_KERNELS_ELEMENTWISE_BACKWARD_H_
