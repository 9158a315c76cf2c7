// detinfer's own exp and log (SPEC §K4): the same IEEE operations, in the same order, on the
// scalar, AVX2 and AVX-512 paths, so they return identical bits on every path.
//
// ExpF(x), every path (scalar here, Exp8 in simd/math_avx2.h, Exp16 in simd/math_avx512.h,
// Exp4 in simd/math_neon.h):
//   NaN              -> x + x (the input NaN, quieted; payload kept)
//   xc = min(max(x, -104), 89)      (max/min with the x86 semantics a > b ? a : b)
//   t  = xc * log2(e)
//   kf = (t + 1.5*2^23) - 1.5*2^23  (round to nearest integer, ties to even; exact)
//   r  = fma(-kf, ln2_hi, xc);  r = fma(-kf, ln2_lo, r)           (Cody-Waite, |r| <= ~0.347)
//   p  = P0; p = fma(p, r, P1) ... fma(p, r, P5)                   (Horner, Cephes expf)
//   y  = fma(p, r*r, r) + 1
//   k  = int(kf); k1 = k >> 1 (floor); k2 = k - k1
//   result = (y * 2^k1) * 2^k2
// The first scaling is exact (k1 >= -75 keeps y * 2^k1 normal); the second rounds once, so a
// subnormal result is y * 2^k correctly rounded, and k = 128 (results near FLT_MAX) works.
// Specials: exp(-Inf) = +0, exp(+Inf) = +Inf, exp(x) = +Inf for x >~ 88.7228, +0 for x <~ -103.97.
//
// LogF(x), every path:
//   NaN -> x + x;  x < 0 (incl. -Inf) -> +qNaN (0x7fc00000);  +-0 -> -Inf;  +Inf -> +Inf
//   subnormal x: x *= 2^23, e -= 23 (exact)
//   e = exponent field - 126, m = mantissa with the exponent of 0.5, so x = m * 2^e, m in [0.5, 1)
//   fe = float(e); if m < sqrt(1/2): fe = fe - 1, m = m + m;  f = m - 1   (all exact)
//   p = P0; p = fma(p, f, P1) ... fma(p, f, P8)                    (Horner, Cephes logf)
//   z = f*f;  y = (p * f) * z
//   y = fma(fe, ln2_lo, y);  y = fma(z, -0.5, y);  r = f + y;  r = fma(fe, ln2_hi, r)
//
// TanhF(x) (simd/math_avx2.h's Tanh8 and math_avx512.h's Tanh16 are the same steps per lane):
//   NaN -> x + x
//   |x| < 0.5:  a = |x|; x2 = a * a; p = C17; p = fma(p, x2, C15) ... fma(p, x2, C3);
//               result = copysign(fma(a * x2, p, a), x)   (Taylor series to x^17, C_k = its
//               coefficients rounded to float: -1/3, 2/15, -17/315, 62/2835, -1382/155925,
//               21844/6081075, -929569/638512875, 6404582/10854718875)
//   otherwise:  e = ExpF(-(|x| + |x|)); t = (1 - e) / (1 + e); result = copysign(t, x)
// Specials: tanh(+-0) = +-0, tanh(+-Inf) = +-1; odd (TanhF(-x) = -TanhF(x) bit for bit). Every
// step is one IEEE operation (std::fma is exact-then-rounded everywhere), so every machine and
// path gets the same bits. Within 2.02 ulp of the double tanh (tests/kernels/gemma_kernels_test.cc).
//
// Accuracy against double-precision libm (measured by tests/kernels/math_test.cc, recorded in
// docs/kernels.md): see there; both are within 1 ulp for normal results.
#ifndef DETINFER_KERNELS_MATH_H_
#define DETINFER_KERNELS_MATH_H_

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/context.h"

namespace detinfer {

// Scalar reference implementations (the scalar path of every kernel calls these).
float ExpF(float x);
float LogF(float x);
float TanhF(float x);

// Elementwise out = exp(x) / log(x) over a 1-D [N] or 2-D [M, N] f32 view, on the context's
// ISA path. out must have x's shape; it may be x itself (in place) but may not otherwise
// overlap it. Tails (N not a multiple of the vector width) use masked loads and stores, so an
// element's bits never depend on its position.
Status Exp(const KernelContext& ctx, TensorView x, TensorView out);
Status Log(const KernelContext& ctx, TensorView x, TensorView out);

}  // namespace detinfer

#endif  // DETINFER_KERNELS_MATH_H_
