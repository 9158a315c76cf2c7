// AVX-512 path of the softmax-family row kernels. The 16 canonical reduction lanes
// (reduction_order.h) are exactly one zmm register: lane j of the accumulator sees elements
// j, j+16, ... in order. The tail is one masked vector whose inactive lanes are left
// untouched (merge-masked max/add), never fed padding, as the canonical order requires.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/simd/math_avx512.h"
#include "kernels/simd/reduce_tree.h"
#include "kernels/softmax_isa.h"

namespace detinfer::kernels::avx512 {

namespace {

using avx512_math::kAll16;
using avx512_math::TailMask16;

inline __m512 NegInf() { return _mm512_set1_ps(-__builtin_inff()); }

// d = x == m ? +0 : x - m (see softmax_scalar.cc): zero-masking the lanes that equal m.
inline __m512 Shifted(__m512 x, __m512 m) {
  const __mmask16 ne = static_cast<__mmask16>(~_mm512_cmp_ps_mask(x, m, _CMP_EQ_OQ));
  return _mm512_maskz_sub_ps(ne, x, m);
}

inline float TreeMax(__m512 acc) {
  alignas(64) float p[16];
  _mm512_store_ps(p, acc);
  return reduce_tree::TreeMax16(p);
}

// Index of the first lane set in `mask` (mask != 0).
inline int64_t FirstLane(__mmask16 mask) {
  return __builtin_ctz(static_cast<unsigned>(mask));
}

}  // namespace

float RowMax(const float* x, int64_t n) {
  // maskz_max(all, acc, v) is maxps(acc, v) = acc > v ? acc : v, the scalar MaxCombine.
  __m512 acc = NegInf();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) acc = _mm512_maskz_max_ps(kAll16, acc, _mm512_loadu_ps(x + i));
  if (i < n) {
    const __mmask16 mask = TailMask16(n - i);
    acc = _mm512_mask_max_ps(acc, mask, acc, _mm512_maskz_loadu_ps(mask, x + i));
  }
  return TreeMax(acc);
}

float RowSumExp(const float* x, int64_t n, float m, float* e_out) {
  const __m512 vm = _mm512_set1_ps(m);
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 e = avx512_math::Exp16(Shifted(_mm512_loadu_ps(x + i), vm));
    if (e_out != nullptr) _mm512_storeu_ps(e_out + i, e);
    acc = _mm512_add_ps(acc, e);
  }
  if (i < n) {
    const __mmask16 mask = TailMask16(n - i);
    const __m512 e = avx512_math::Exp16(Shifted(_mm512_maskz_loadu_ps(mask, x + i), vm));
    if (e_out != nullptr) _mm512_mask_storeu_ps(e_out + i, mask, e);
    acc = _mm512_mask_add_ps(acc, mask, acc, e);
  }
  alignas(64) float p[16];
  _mm512_store_ps(p, acc);
  return reduce_tree::TreeSum16(p);
}

void LogSoftmaxRow(const float* x, int64_t n, float m, float log_s, float* out) {
  const __m512 vm = _mm512_set1_ps(m), vl = _mm512_set1_ps(log_s);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(out + i, _mm512_sub_ps(Shifted(_mm512_loadu_ps(x + i), vm), vl));
  }
  if (i < n) {
    const __mmask16 mask = TailMask16(n - i);
    const __m512 d = Shifted(_mm512_maskz_loadu_ps(mask, x + i), vm);
    _mm512_mask_storeu_ps(out + i, mask, _mm512_sub_ps(d, vl));
  }
}

void DivideRow(const float* e, int64_t n, float s, float* out) {
  const __m512 vs = _mm512_set1_ps(s);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, _mm512_div_ps(_mm512_loadu_ps(e + i), vs));
  if (i < n) {
    const __mmask16 mask = TailMask16(n - i);
    _mm512_mask_storeu_ps(out + i, mask, _mm512_div_ps(_mm512_maskz_loadu_ps(mask, e + i), vs));
  }
}

int64_t ArgmaxRow(const float* x, int64_t n) {
  // Pass 1: the row max and whether any NaN occurs. Without NaN the max is one value (+0 and
  // -0 compare equal), so the lanes' order cannot change which index pass 2 finds.
  __m512 acc = NegInf();
  __mmask16 any_nan = 0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    any_nan = static_cast<__mmask16>(any_nan | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q));
    acc = _mm512_maskz_max_ps(kAll16, acc, v);
  }
  if (i < n) {
    const __mmask16 mask = TailMask16(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(mask, x + i);
    any_nan = static_cast<__mmask16>(any_nan | _mm512_mask_cmp_ps_mask(mask, v, v, _CMP_UNORD_Q));
    acc = _mm512_mask_max_ps(acc, mask, acc, v);
  }
  // Pass 2: the first lane that is NaN (if any) or equals the max.
  const __m512 vm = _mm512_set1_ps(TreeMax(acc));
  const int predicate = any_nan != 0 ? _CMP_UNORD_Q : _CMP_EQ_OQ;
  for (i = 0; i < n; i += 16) {
    const __mmask16 mask = n - i >= 16 ? kAll16 : TailMask16(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(mask, x + i);
    const __mmask16 hit = predicate == _CMP_UNORD_Q
                              ? _mm512_mask_cmp_ps_mask(mask, v, v, _CMP_UNORD_Q)
                              : _mm512_mask_cmp_ps_mask(mask, v, vm, _CMP_EQ_OQ);
    if (hit != 0) return i + FirstLane(hit);
  }
  return 0;  // unreachable for n >= 1: some element equals the max
}

}  // namespace detinfer::kernels::avx512
