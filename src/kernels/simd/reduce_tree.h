// The fixed combining tree of the canonical 16-lane row reduction (reduction_order.h), written
// once as plain fp32 code on a float[16] so the scalar, AVX2 and AVX-512 paths share it
// literally (each path stores its 16 lane partials and calls these). They run once per row,
// so they are not worth a per-ISA shuffle sequence.
//
// Only `static inline` functions (internal linkage): safe in per-ISA translation units.
#ifndef DETINFER_KERNELS_SIMD_REDUCE_TREE_H_
#define DETINFER_KERNELS_SIMD_REDUCE_TREE_H_

namespace detinfer::kernels::reduce_tree {

// The max combine used by every row max in detinfer: a > b ? a : b, which is exactly what
// x86 (v)maxps(a, b) computes (b when either is NaN, b for +0 vs -0). Writing it this way in
// scalar code is what makes the scalar path agree with the SIMD one on NaN and signed zeros.
static inline float MaxCombine(float a, float b) { return a > b ? a : b; }

// p[j] (+) p[j+8] for j < 8, then (+) p[j+4] for j < 4, (+) p[j+2] for j < 2, p[0] (+) p[1].
static inline float TreeSum16(float* p) {
  for (int j = 0; j < 8; ++j) p[j] = p[j] + p[j + 8];
  for (int j = 0; j < 4; ++j) p[j] = p[j] + p[j + 4];
  for (int j = 0; j < 2; ++j) p[j] = p[j] + p[j + 2];
  return p[0] + p[1];
}

static inline float TreeMax16(float* p) {
  for (int j = 0; j < 8; ++j) p[j] = MaxCombine(p[j], p[j + 8]);
  for (int j = 0; j < 4; ++j) p[j] = MaxCombine(p[j], p[j + 4]);
  for (int j = 0; j < 2; ++j) p[j] = MaxCombine(p[j], p[j + 2]);
  return MaxCombine(p[0], p[1]);
}

}  // namespace detinfer::kernels::reduce_tree

#endif  // DETINFER_KERNELS_SIMD_REDUCE_TREE_H_
