// Activations. SwiGLU (Llama/Qwen MLP): out = silu(gate) * up, elementwise over [M, F] f32.
//
// Per element, on every path, in this order (fp32, ExpF / Exp8 / Exp16 from kernels/math.h):
//   e   = exp(-a)                       a = gate element; -a is an exact sign flip
//   den = 1 + e
//   s   = a / den                       (one correctly rounded division)
//   s   = (a == -Inf) ? -0 : s          (the limit; a / den would be -Inf / Inf = NaN)
//   v   = s * u                         u = up element
//   out = isnan(v) ? qNaN 0x7fc00000 : v
// Specials: silu(+Inf) = +Inf; silu(a) = -0 for a <~ -88.7 (exp(-a) overflows to +Inf) and for
// a = -Inf; any NaN output (a NaN input, or 0 * Inf) is the canonical quiet NaN 0x7fc00000, so
// no path's choice of NaN operand can show in the bits.
// Each element depends only on its own gate and up values: rows, threads and tails (masked
// vector loads/stores) cannot change it.
#ifndef DETINFER_KERNELS_ACTIVATION_H_
#define DETINFER_KERNELS_ACTIVATION_H_

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/context.h"

namespace detinfer {

// gate, up, out: [M, F] f32 of one shape. out may be gate itself or up itself (in place: every
// element is read before it is written, by the same task) but may not otherwise overlap either.
// gate and up may overlap each other freely (both are only read).
Status SwiGlu(const KernelContext& ctx, TensorView gate, TensorView up, TensorView out);

// GeGLU with the tanh GELU (Gemma's MLP, transformers' gelu_pytorch_tanh): out = gelu(gate) * up,
// elementwise over [M, F] f32, operands as for SwiGlu. Per element, in this order (fp32; the
// AVX2 / AVX-512 loops run the same operations per lane, TanhF's included, so every path gives
// the scalar bits):
//   x3    = (a * a) * a                           a = gate element
//   inner = 0.7978845608f * (a + 0.044715f * x3)  (sqrt(2/pi) and kappa as PyTorch's kernel)
//   t     = TanhF(inner)                          (kernels/math.h)
//   g     = (0.5f * a) * (1 + t);  g = (a == -Inf) ? -0 : g   (the limit; -Inf * 0 is NaN)
//   v     = g * u                                 u = up element
//   out   = isnan(v) ? qNaN 0x7fc00000 : v
Status GeGluTanh(const KernelContext& ctx, TensorView gate, TensorView up, TensorView out);

// Soft-capping (Gemma 2's final logits): out = cap * TanhF(x / cap) elementwise over [M, N] f32
// (one correctly rounded division, TanhF, one multiply; the same scalar code on every path).
// cap must be finite and > 0; out may be x itself or disjoint from it.
Status SoftCap(const KernelContext& ctx, TensorView x, float cap, TensorView out);

}  // namespace detinfer

#endif  // DETINFER_KERNELS_ACTIVATION_H_
