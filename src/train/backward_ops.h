// The backward kernels the trainer calls, with the signatures agreed for issue #7
// (kernels/*_backward.h, kernels/cross_entropy.h). TEMPORARY: until those headers land on main,
// the declarations live here and train/backward_stub.cc implements them with plain scalar
// loops in the agreed orders; then this file only includes the kernel headers.
#ifndef DETINFER_TRAIN_BACKWARD_OPS_H_
#define DETINFER_TRAIN_BACKWARD_OPS_H_

#include <cstdint>
#include <span>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/attention_backward.h"
#include "kernels/context.h"
#include "kernels/rope.h"

namespace detinfer {

Status MatmulBackwardInput(const KernelContext& ctx, const TensorView& dy, const TensorView& w,
                           const TensorView& dx);
Status MatmulBackwardWeight(const KernelContext& ctx, const TensorView& dy, const TensorView& x,
                            const TensorView& dw);
Status RmsNormBackward(const KernelContext& ctx, const TensorView& x, const TensorView& weight,
                       float eps, const TensorView& dy, const TensorView& dx,
                       const TensorView& dweight);
Status RopeBackwardInPlace(const KernelContext& ctx, const RopeTable& table, RopeStyle style,
                           const TensorView& dx, const int32_t* positions);
Status SwiGluBackward(const KernelContext& ctx, const TensorView& gate, const TensorView& up,
                      const TensorView& dout, const TensorView& dgate, const TensorView& dup);
Status EmbeddingBackward(const KernelContext& ctx, std::span<const int32_t> tokens,
                         const TensorView& dy, const TensorView& dtable);
Status CrossEntropyForwardBackward(const KernelContext& ctx, const TensorView& logits,
                                   std::span<const int32_t> targets, float scale,
                                   const TensorView& loss, const TensorView& dlogits);

}  // namespace detinfer

#endif  // DETINFER_TRAIN_BACKWARD_OPS_H_
