// SwiGluBackward: gradients of SwiGlu (activation.h), out = silu(a) * u, elementwise over
// [M, F] f32, with silu(a) = a * sigmoid(a) and silu'(a) = sig * (1 + a * (1 - sig)).
//
// Per element, in this order (fp32, ExpF from kernels/math.h, the forward's first steps):
//   e     = exp(-a);   den = 1 + e
//   sig   = 1 / den                     (correctly rounded division)
//   silu  = a / den;   silu = (a == -Inf) ? -0 : silu          (the forward's value)
//   dsilu = sig * fma(a, 1 - sig, 1)    (1 - sig rounds once, the fma once, the product once)
//   dsilu = a == +Inf ? 1 : a == -Inf ? +0 : dsilu            (the limits; the formula gives NaN)
//   dup   = dout * silu
//   dgate = (dout * u) * dsilu
//   any NaN result is the canonical quiet NaN 0x7fc00000 (as the forward)
// No reduction: each element depends only on its own a, u and dout, so rows, threads and the
// ISA cannot change a bit (one portable code path serves every ISA; it is cheap next to the
// matmuls around it).
#ifndef DETINFER_KERNELS_ACTIVATION_BACKWARD_H_
#define DETINFER_KERNELS_ACTIVATION_BACKWARD_H_

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/context.h"

namespace detinfer {

// gate, up, dout, dgate, dup: [M, F] f32 of one shape. Each output is overwritten; it may be
// exactly one of the inputs (in place) but may not otherwise overlap them, and dgate and dup
// may not overlap each other.
Status SwiGluBackward(const KernelContext& ctx, const TensorView& gate, const TensorView& up,
                      const TensorView& dout, const TensorView& dgate, const TensorView& dup);

}  // namespace detinfer

#endif  // DETINFER_KERNELS_ACTIVATION_BACKWARD_H_
