// AVX2 path of the softmax-family row kernels. The 16 canonical reduction lanes
// (reduction_order.h) are two ymm registers: lo holds lanes 0-7, hi lanes 8-15, and each step
// consumes 16 elements (x[i..i+8) into lo, x[i+8..i+16) into hi). The tail is masked: inactive
// lanes keep their accumulator (blend), never fed padding.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/simd/math_avx2.h"
#include "kernels/simd/reduce_tree.h"
#include "kernels/softmax_isa.h"

namespace detinfer::kernels::avx2 {

namespace {

using avx2_math::TailMask8;

inline __m256 NegInf() { return _mm256_set1_ps(-__builtin_inff()); }

// d = x == m ? +0 : x - m (see softmax_scalar.cc).
inline __m256 Shifted(__m256 x, __m256 m) {
  return _mm256_andnot_ps(_mm256_cmp_ps(x, m, _CMP_EQ_OQ), _mm256_sub_ps(x, m));
}

// maxps(acc, v) = acc > v ? acc : v, the scalar MaxCombine.
inline __m256 MaskedMax(__m256 acc, __m256 v, __m256i mask) {
  return _mm256_blendv_ps(acc, _mm256_max_ps(acc, v), _mm256_castsi256_ps(mask));
}

inline float Tree(__m256 lo, __m256 hi, bool is_max) {
  float p[16];
  _mm256_storeu_ps(p, lo);
  _mm256_storeu_ps(p + 8, hi);
  return is_max ? reduce_tree::TreeMax16(p) : reduce_tree::TreeSum16(p);
}

inline __m256 Load(const float* x, int64_t i) { return _mm256_loadu_ps(x + i); }

}  // namespace

float RowMax(const float* x, int64_t n) {
  __m256 lo = NegInf(), hi = NegInf();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    lo = _mm256_max_ps(lo, Load(x, i));
    hi = _mm256_max_ps(hi, Load(x, i + 8));
  }
  if (i < n) {
    const __m256i mlo = TailMask8(n - i), mhi = TailMask8(n - i - 8);
    lo = MaskedMax(lo, _mm256_maskload_ps(x + i, mlo), mlo);
    hi = MaskedMax(hi, _mm256_maskload_ps(x + i + 8, mhi), mhi);
  }
  return Tree(lo, hi, true);
}

float RowSumExp(const float* x, int64_t n, float m, float* e_out) {
  const __m256 vm = _mm256_set1_ps(m);
  __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 elo = avx2_math::Exp8(Shifted(Load(x, i), vm));
    const __m256 ehi = avx2_math::Exp8(Shifted(Load(x, i + 8), vm));
    if (e_out != nullptr) {
      _mm256_storeu_ps(e_out + i, elo);
      _mm256_storeu_ps(e_out + i + 8, ehi);
    }
    lo = _mm256_add_ps(lo, elo);
    hi = _mm256_add_ps(hi, ehi);
  }
  if (i < n) {
    const __m256i mlo = TailMask8(n - i), mhi = TailMask8(n - i - 8);
    const __m256 elo = avx2_math::Exp8(Shifted(_mm256_maskload_ps(x + i, mlo), vm));
    const __m256 ehi = avx2_math::Exp8(Shifted(_mm256_maskload_ps(x + i + 8, mhi), vm));
    if (e_out != nullptr) {
      _mm256_maskstore_ps(e_out + i, mlo, elo);
      _mm256_maskstore_ps(e_out + i + 8, mhi, ehi);
    }
    lo = _mm256_blendv_ps(lo, _mm256_add_ps(lo, elo), _mm256_castsi256_ps(mlo));
    hi = _mm256_blendv_ps(hi, _mm256_add_ps(hi, ehi), _mm256_castsi256_ps(mhi));
  }
  return Tree(lo, hi, false);
}

void LogSoftmaxRow(const float* x, int64_t n, float m, float log_s, float* out) {
  const __m256 vm = _mm256_set1_ps(m), vl = _mm256_set1_ps(log_s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_sub_ps(Shifted(Load(x, i), vm), vl));
  if (i < n) {
    const __m256i mask = TailMask8(n - i);
    const __m256 d = Shifted(_mm256_maskload_ps(x + i, mask), vm);
    _mm256_maskstore_ps(out + i, mask, _mm256_sub_ps(d, vl));
  }
}

void DivideRow(const float* e, int64_t n, float s, float* out) {
  const __m256 vs = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_div_ps(Load(e, i), vs));
  if (i < n) {
    const __m256i mask = TailMask8(n - i);
    _mm256_maskstore_ps(out + i, mask, _mm256_div_ps(_mm256_maskload_ps(e + i, mask), vs));
  }
}

int64_t ArgmaxRow(const float* x, int64_t n) {
  // Pass 1: max and "any NaN" (see the AVX-512 path for why any lane order works here).
  __m256 lo = NegInf(), hi = NegInf(), nan_seen = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a = Load(x, i), b = Load(x, i + 8);
    nan_seen = _mm256_or_ps(nan_seen, _mm256_cmp_ps(a, b, _CMP_UNORD_Q));
    lo = _mm256_max_ps(lo, a);
    hi = _mm256_max_ps(hi, b);
  }
  if (i < n) {
    const __m256i mlo = TailMask8(n - i), mhi = TailMask8(n - i - 8);
    const __m256 a = _mm256_maskload_ps(x + i, mlo), b = _mm256_maskload_ps(x + i + 8, mhi);
    nan_seen = _mm256_or_ps(nan_seen, _mm256_cmp_ps(a, b, _CMP_UNORD_Q));  // padding is 0
    lo = MaskedMax(lo, a, mlo);
    hi = MaskedMax(hi, b, mhi);
  }
  const bool any_nan = _mm256_movemask_ps(nan_seen) != 0;
  const __m256 vm = _mm256_set1_ps(Tree(lo, hi, true));
  // Pass 2: the first element that is NaN (if any) or equals the max.
  for (i = 0; i < n; i += 8) {
    const __m256i mask = TailMask8(n - i);
    const __m256 v = _mm256_maskload_ps(x + i, mask);
    const __m256 hit = any_nan ? _mm256_cmp_ps(v, v, _CMP_UNORD_Q) : _mm256_cmp_ps(v, vm, _CMP_EQ_OQ);
    const int bits = _mm256_movemask_ps(_mm256_and_ps(hit, _mm256_castsi256_ps(mask)));
    if (bits != 0) return i + __builtin_ctz(static_cast<unsigned>(bits));
  }
  return 0;  // unreachable for n >= 1: some element equals the max
}

}  // namespace detinfer::kernels::avx2
