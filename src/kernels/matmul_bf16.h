// The matmul rule for bf16 weights (SPEC §K1 for this dtype): the arithmetic of the x86
// AVX512_BF16 dot product (vdpbf16ps), stated so that every path can reproduce it exactly.
//
// Reduction order, per output (m, n):
//  1. The activation row is rounded to bf16 once, element by element (Bf16Activation below:
//     round to nearest even; subnormal inputs become zero of the same sign; NaN stays NaN).
//  2. acc = +0; for k = 0, 1, ..., K-1 in order:
//        acc = FTZ(fma(xb[k], DAZ(w[n,k]), acc))
//     where fma rounds once (the bf16 x bf16 product is exact in fp32 unless it underflows,
//     and then fma keeps it exact), DAZ reads a subnormal bf16 weight as zero of its sign, and
//     FTZ replaces a result that is tiny (below 2^-126 in magnitude once rounded to 24 bits
//     with an unbounded exponent: x86's rule) by zero of its sign.
//  3. y = bias ? acc + bias[n] : acc          (plain IEEE add, no flushing)
//
// Why this order: vdpbf16ps does 32 such multiply-adds per instruction (two per fp32 lane, the
// odd-indexed pair element first, each rounded and flushed as above; measured on this machine
// against Bf16Fma over 32M random edge-heavy lanes: no difference), about twice the fp32 FMA
// rate and with no widening, which is what bf16 prefill needs. The AVX-512 path places k in
// the odd slot and k + 1 in the even one, so its pairs run in ascending k; for an odd K the
// last pair's second slot holds +0 x -0, whose product -0 leaves any acc unchanged. Paths
// without the instruction run the same fma chain with the x86 MXCSR flags FTZ and DAZ set
// (the same tininess rule, by definition of x86); the scalar path states it in C (Bf16Fma).
// Nothing depends on M, the other rows, threads or path. Against the fp32 rule the cost is
// rounding the activations to 8 significant bits (what PyTorch's and llama.cpp's bf16 matmuls
// do as well); tests bound it with a double-precision product.
#ifndef DETINFER_KERNELS_MATMUL_BF16_H_
#define DETINFER_KERNELS_MATMUL_BF16_H_

#include <cmath>
#include <cstdint>
#include <cstring>

namespace detinfer {

// The rule by name, for the schedule id (engine/schedule_id.cc).
inline constexpr const char* kBf16MatmulRule = "act-bf16-rne-ftz/fma-ftz-daz-per-k";

namespace kernels {

// Step 1 for one element: vcvtneps2bf16's rounding.
inline uint16_t Bf16Activation(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) == 0) return static_cast<uint16_t>((u >> 16) & 0x8000u);  // ±0, subnormal
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even; may carry into the exponent / Inf
  return static_cast<uint16_t>(u >> 16);
}

// A bf16 value as fp32 with DAZ: subnormals read as zero of their sign.
inline float Bf16DazToF32(uint16_t h) {
  if ((h & 0x7f80u) == 0) h &= 0x8000u;
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Step 2 for one k: FTZ(fma(x, w, acc)) with x86's tininess rule. A result at or below
// 2^-126 in magnitude may be tiny: the exact sum, to double precision (enough to compare it
// with the threshold exactly, docs/kernels.md), decides. Below 2^-126 - 2^-151 it rounds to
// 24 bits under 2^-126 and is flushed; from there up it rounds to 2^-126 (ties to even).
inline float Bf16Fma(float acc, float x, float w) {
  const float r = std::fma(x, w, acc);
  if (std::fabs(r) <= 0x1p-126f) {
    const double exact = std::fma(static_cast<double>(x), static_cast<double>(w),
                                  static_cast<double>(acc));
    if (std::fabs(exact) < 0x1p-126 - 0x1p-151) return std::copysign(0.0f, r);
  }
  return r;
}

}  // namespace kernels
}  // namespace detinfer

#endif  // DETINFER_KERNELS_MATMUL_BF16_H_
