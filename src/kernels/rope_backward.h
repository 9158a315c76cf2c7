// RopeBackwardInPlace: the gradient of ApplyRope (rope.h) with respect to its input.
//
// RoPE rotates each pair by the angle of the token's position, an orthogonal map, so its
// gradient is the transpose, i.e. the rotation by minus that angle, with the same table:
//   dx0 = (dy0 * c) + (dy1 * s)
//   dx1 = (dy1 * c) - (dy0 * s)
// in fp32, two rounded products then one rounded addition/subtraction, no FMA (as the forward).
// It is computed by running the forward's own per-ISA kernels with the table row's sine
// negated: x1 * (-s) = -(x1 * s) and a - (-b) = a + b exactly in IEEE arithmetic, so the
// forward's operations on (c, -s) ARE the two lines above, bit for bit, on every path. Elements
// past rotary_dim pass through (their gradient is dy itself). Each (token, head) is
// independent: no reduction, nothing depends on the thread count, the ISA or the batch.
#ifndef DETINFER_KERNELS_ROPE_BACKWARD_H_
#define DETINFER_KERNELS_ROPE_BACKWARD_H_

#include <cstdint>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/context.h"
#include "kernels/rope.h"

namespace detinfer {

// Mirrors ApplyRope's argument list exactly: dx [T, H, head_dim] f32 holds dL/dy on entry and
// dL/dx on return; token t uses table row positions[t] (the positions the forward used).
// A position outside [0, max_positions) is OutOfRange and nothing is modified.
Status RopeBackwardInPlace(const KernelContext& ctx, const RopeTable& table, RopeStyle style,
                           TensorView dx, const int32_t* positions);

}  // namespace detinfer

#endif  // DETINFER_KERNELS_ROPE_BACKWARD_H_
