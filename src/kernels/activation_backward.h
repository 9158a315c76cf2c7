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
//
// GeGluTanhBackward: gradients of GeGluTanh (activation.h), out = gelu(a) * u with the tanh
// GELU gelu(a) = 0.5 a (1 + tanh(inner)), inner = k0 (a + k1 a^3), k0 = 0.7978845608f
// (sqrt(2/pi)), k1 = 0.044715f, and
//   gelu'(a) = 0.5 (1 + t) + 0.5 a (1 - t^2) k0 (1 + 3 k1 a^2),   t = tanh(inner).
// Per element, in this order (fp32, TanhF from kernels/math.h; the first lines are the
// forward's own operations, so t and gelu are the forward's bits):
//   a2     = a * a;   x3 = a2 * a                      (the forward's (a * a) * a)
//   inner  = 0.7978845608f * (a + 0.044715f * x3)
//   t      = TanhF(inner)
//   opt    = 1 + t;   half_a = 0.5f * a
//   gelu   = half_a * opt;  gelu = (a == -Inf) ? -0 : gelu      (the forward's value)
//   sech2  = fma(-t, t, 1)                             (1 - t^2, one rounding)
//   dinner = 0.7978845608f * fma(0.134145f, a2, 1)     (d inner / da; 0.134145f = 3 k1)
//   dgelu  = sech2 == 0 ? 0.5f * opt : fma(half_a, sech2 * dinner, 0.5f * opt)
//   dup    = dout * gelu
//   dgate  = (dout * u) * dgelu
//   any NaN result is the canonical quiet NaN 0x7fc00000 (as the forward)
// Limits: sech2 is exactly 0 once |inner| is so large that TanhF rounds to +-1 (|a| >~ 5);
// the second term is then dropped (its true value underflows), which also avoids 0 * Inf where
// a2 or x3 overflow. So dgelu(+Inf) = 1 and dgelu(-Inf) = +0, as the true limits; gelu(+Inf) =
// +Inf and gelu(-Inf) = -0 (the forward). NaN inputs give canonical NaNs. Rounding near
// t = -1 (a <~ -3) loses relative accuracy in 1 + t, as in the forward; the absolute error of
// dgelu stays at a few ulp of 1.
// Elementwise, one portable code path for every ISA (as SwiGluBackward).
//
// SoftCapBackward: gradient of SoftCap (activation.h), out = cap * tanh(x / cap), for which
// d out / dx = 1 - tanh^2(x / cap). Per element, in this order (fp32):
//   t     = TanhF(x / cap)           (the forward's correctly rounded division and TanhF)
//   sech2 = fma(-t, t, 1)            (1 - t^2, one rounding)
//   dx    = dout * sech2
//   any NaN result is the canonical quiet NaN 0x7fc00000
// Limits: x = +-Inf (or |x / cap| large enough that TanhF rounds to +-1) gives sech2 = 0, so
// dx = dout * 0 = +-0 (the sign of dout); dout = +-Inf there gives NaN (0 * Inf), canonical.
// Elementwise, one portable code path for every ISA.
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

// gate, up, dout, dgate, dup: [M, F] f32 of one shape; aliasing as SwiGluBackward.
Status GeGluTanhBackward(const KernelContext& ctx, const TensorView& gate, const TensorView& up,
                         const TensorView& dout, const TensorView& dgate, const TensorView& dup);

// x, dout, dx: [M, N] f32 of one shape; cap finite and > 0 (as the forward). dx is overwritten;
// it may be x itself or dout itself (exact aliasing) but may not otherwise overlap them.
Status SoftCapBackward(const KernelContext& ctx, const TensorView& x, float cap,
                       const TensorView& dout, const TensorView& dx);

}  // namespace detinfer

#endif  // DETINFER_KERNELS_ACTIVATION_BACKWARD_H_
