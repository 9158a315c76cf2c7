// NEON path of the softmax-family row kernels (aarch64). The 16 canonical reduction lanes
// (reduction_order.h) are four q registers (lanes 0-3, 4-7, 8-11, 12-15), and each step
// consumes 16 elements, x[i + 4q .. i + 4q + 4) into register q. In the tail, lanes past the
// row keep their accumulator (a select), never fed padding; the shared tree combines them.
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "kernels/simd/math_neon.h"
#include "kernels/simd/reduce_tree.h"
#include "kernels/softmax_isa.h"

namespace detinfer::kernels::neon {

namespace {

namespace nm = neon_math;

// d = x == m ? +0 : x - m (see softmax_scalar.cc).
inline float32x4_t Shifted(float32x4_t x, float32x4_t m) {
  return vreinterpretq_f32_u32(
      vbicq_u32(vreinterpretq_u32_f32(vsubq_f32(x, m)), vceqq_f32(x, m)));
}

inline float Tree(const float32x4_t acc[4], bool is_max) {
  float p[16];
  for (int q = 0; q < 4; ++q) vst1q_f32(p + 4 * q, acc[q]);
  return is_max ? reduce_tree::TreeMax16(p) : reduce_tree::TreeSum16(p);
}

}  // namespace

float RowMax(const float* x, int64_t n) {
  const float32x4_t neg_inf = vdupq_n_f32(-__builtin_inff());
  float32x4_t acc[4] = {neg_inf, neg_inf, neg_inf, neg_inf};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int q = 0; q < 4; ++q) acc[q] = nm::Max4(acc[q], vld1q_f32(x + i + 4 * q));
  }
  if (i < n) {
    for (int q = 0; q < 4; ++q) {
      const int64_t cnt = n - i - 4 * q;
      const float32x4_t v = nm::LoadTail4(x + i + 4 * q, cnt);
      acc[q] = vbslq_f32(nm::TailMask4(cnt), nm::Max4(acc[q], v), acc[q]);
    }
  }
  return Tree(acc, true);
}

float RowSumExp(const float* x, int64_t n, float m, float* e_out) {
  const float32x4_t vm = vdupq_n_f32(m);
  float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f),
                        vdupq_n_f32(0.0f)};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int q = 0; q < 4; ++q) {
      const float32x4_t e = nm::Exp4(Shifted(vld1q_f32(x + i + 4 * q), vm));
      if (e_out != nullptr) vst1q_f32(e_out + i + 4 * q, e);
      acc[q] = vaddq_f32(acc[q], e);
    }
  }
  if (i < n) {
    for (int q = 0; q < 4; ++q) {
      const int64_t cnt = n - i - 4 * q;
      const float32x4_t e = nm::Exp4(Shifted(nm::LoadTail4(x + i + 4 * q, cnt), vm));
      if (e_out != nullptr) nm::StoreTail4(e_out + i + 4 * q, cnt, e);
      acc[q] = vbslq_f32(nm::TailMask4(cnt), vaddq_f32(acc[q], e), acc[q]);
    }
  }
  return Tree(acc, false);
}

void LogSoftmaxRow(const float* x, int64_t n, float m, float log_s, float* out) {
  const float32x4_t vm = vdupq_n_f32(m), vl = vdupq_n_f32(log_s);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(out + i, vsubq_f32(Shifted(vld1q_f32(x + i), vm), vl));
  if (i < n) {
    nm::StoreTail4(out + i, n - i, vsubq_f32(Shifted(nm::LoadTail4(x + i, n - i), vm), vl));
  }
}

void DivideRow(const float* e, int64_t n, float s, float* out) {
  const float32x4_t vs = vdupq_n_f32(s);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(out + i, vdivq_f32(vld1q_f32(e + i), vs));
  if (i < n) nm::StoreTail4(out + i, n - i, vdivq_f32(nm::LoadTail4(e + i, n - i), vs));
}

int64_t ArgmaxRow(const float* x, int64_t n) {
  // Pass 1: the max and "any NaN". Without a NaN the max is the same value in any lane order
  // (+0 and -0 may swap, but both compare equal to either in pass 2).
  const float32x4_t neg_inf = vdupq_n_f32(-__builtin_inff());
  float32x4_t acc[4] = {neg_inf, neg_inf, neg_inf, neg_inf};
  uint32x4_t nan_seen = vdupq_n_u32(0);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int q = 0; q < 4; ++q) {
      const float32x4_t v = vld1q_f32(x + i + 4 * q);
      nan_seen = vorrq_u32(nan_seen, nm::IsNan4(v));
      acc[q] = nm::Max4(acc[q], v);
    }
  }
  if (i < n) {
    for (int q = 0; q < 4; ++q) {
      const int64_t cnt = n - i - 4 * q;
      const float32x4_t v = nm::LoadTail4(x + i + 4 * q, cnt);  // padding is 0: never NaN
      nan_seen = vorrq_u32(nan_seen, nm::IsNan4(v));
      acc[q] = vbslq_f32(nm::TailMask4(cnt), nm::Max4(acc[q], v), acc[q]);
    }
  }
  const bool any_nan = vmaxvq_u32(nan_seen) != 0;
  const float32x4_t vm = vdupq_n_f32(Tree(acc, true));
  // Pass 2: the first element that is NaN (if any) or equals the max.
  for (i = 0; i < n; i += 4) {
    const int64_t cnt = n - i;
    const float32x4_t v = cnt >= 4 ? vld1q_f32(x + i) : nm::LoadTail4(x + i, cnt);
    const uint32x4_t hit = vandq_u32(any_nan ? nm::IsNan4(v) : vceqq_f32(v, vm), nm::TailMask4(cnt));
    if (vmaxvq_u32(hit) != 0) {
      uint32_t h[4];
      vst1q_u32(h, hit);
      for (int j = 0; j < 4; ++j) {
        if (h[j] != 0) return i + j;
      }
    }
  }
  return 0;  // unreachable for n >= 1: some element equals the max
}

}  // namespace detinfer::kernels::neon
