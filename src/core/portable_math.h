// pow, sin and cos in double precision that give the same bits on every x86-64 machine.
//
// Why: SPEC §A9 asks for the same bits on any machine with the same ISA path. The C library's
// pow/sin/cos are not specified to the last bit and differ between libm versions and vendors,
// so tables built with them (the RoPE cos/sin table, the training schedule) could differ by one
// ulp between two hosts. These functions use only the basic IEEE operations of the x87 80-bit
// long double (add, subtract, multiply, divide, all correctly rounded with a 64-bit
// significand), with fixed constants and a fixed order of operations: the result is a pure
// function of the arguments. Each is accurate to a few ulps of long double (2^-63 relative)
// before the single rounding to double, so it equals the correctly rounded double in all but
// rare cases — and, where it does not, it still does so identically everywhere.
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
