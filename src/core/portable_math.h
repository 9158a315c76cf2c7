// pow, sin and cos in double precision that give the same bits on every machine — every x86-64
// and every aarch64 CPU alike.
//
// Why: SPEC §A9 asks for the same bits on any machine with the same ISA path, and issue #22 for
// the same bits across processor families. The C library's pow/sin/cos are not specified to the
// last bit and differ between libm versions and vendors, so tables built with them (the RoPE
// cos/sin table, the training schedule) could differ by one ulp between two hosts; long double
// differs between families (64 significant bits on x86, 113 on aarch64). These functions use
// only IEEE double add, subtract, multiply and divide (each correctly rounded, the same
// everywhere) on double-double numbers (about 106 bits), with fixed constants and a fixed order
// of operations: the result is a pure function of the arguments. Each is accurate to far below
// a double ulp before the final rounding, so it equals the correctly rounded double in all but
// rare cases — and, where it does not, it still does so identically everywhere. (The fp32 RoPE
// tables equal those of the earlier x87 long double version on all 62 million entries checked:
// thetas 1e4..1e6, head dims 32..256, 32768 positions.)
#ifndef DETINFER_CORE_PORTABLE_MATH_H_
#define DETINFER_CORE_PORTABLE_MATH_H_

namespace detinfer {

// base^exponent for finite base > 0 and finite exponent with |exponent * ln(base)| < 700
// (RoPE: base = theta, exponent in (-1, 0]). Outside that domain: NaN.
double PortablePow(double base, double exponent);

// sin(x) and cos(x) for finite |x| <= 2^27 (angles of up to 2^27 radians; RoPE angles are
// positions times frequencies <= 1). Outside that domain: NaN.
void PortableSinCos(double x, double* sin_x, double* cos_x);
double PortableCos(double x);

}  // namespace detinfer

#endif  // DETINFER_CORE_PORTABLE_MATH_H_
