// Portable scalar block-format matmul: the reference statement of the order in qmatmul.h.
#include <cmath>

#include "core/dtype.h"
#include "kernels/qmatmul.h"
#include "kernels/qmatmul_isa.h"
#include "kernels/simd/qmatmul_layout.h"

namespace detinfer::kernels::scalar {

void QMatmulTile(const QMatmulArgs& a, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  const QLayout l = LayoutOf(a.w_dtype);
  const int64_t records = a.k / l.block_k;
  for (int64_t m = m0; m < m1; ++m) {
    for (int64_t p = p0; p < p1; ++p) {
      const uint8_t* panel = a.w + static_cast<size_t>(p) * a.panel_bytes;
      for (int c = 0; c < 16; ++c) {
        const int64_t n = p * 16 + c;
        if (n >= a.n) break;
        float acc = 0.0f;
        for (int64_t rb = 0; rb < records; ++rb) {
          const uint8_t* rec = panel + static_cast<size_t>(rb) * l.record_bytes();
          const float d = F16ToF32(HeaderD(rec, c));
          const float dmin = l.has_min ? F16ToF32(HeaderMin(rec, c)) : 0.0f;
          for (int gi = 0; gi < l.groups(); ++gi) {
            const int64_t g = rb * l.groups() + gi;
            const uint8_t* grp = rec + l.header_bytes + static_cast<size_t>(gi) * l.group_bytes;
            const int8_t* xq = a.xq + m * a.ldq + 32 * g;
            const int32_t bs_a = a.xs[m * a.lds + 2 * g], bs_b = a.xs[m * a.lds + 2 * g + 1];
            int32_t dot_a = 0, dot_b = 0;
            for (int kk = 0; kk < 16; ++kk) dot_a += GetU(l, grp, c, kk) * xq[kk];
            for (int kk = 16; kk < 32; ++kk) dot_b += GetU(l, grp, c, kk) * xq[kk];
            int32_t p_int;
            float s = d;
            if (l.q6_scales) {
              p_int = HeaderSc(l, rec, 2 * gi, c) * (dot_a - l.offset * bs_a) +
                      HeaderSc(l, rec, 2 * gi + 1, c) * (dot_b - l.offset * bs_b);
            } else {
              p_int = dot_a + dot_b - l.offset * (bs_a + bs_b);
              if (l.k_scales) s = d * static_cast<float>(HeaderSc(l, rec, gi, c));
            }
            const float dx = a.xd[m * a.ldd + g];
            acc = std::fma(dx * s, static_cast<float>(p_int), acc);
            if (l.has_min) {
              const float mn = l.k_scales ? -(dmin * static_cast<float>(HeaderM(rec, gi, c))) : dmin;
              acc = std::fma(dx * mn, static_cast<float>(bs_a + bs_b), acc);
            }
          }
        }
        a.y[m * a.ldy + n] = a.bias ? acc + a.bias[n] : acc;
      }
    }
  }
}

void QuantizeRows(const float* x, int64_t ldx, int64_t r0, int64_t r1, int64_t k, int8_t* q,
                  float* dx, int32_t* s16) {
  for (int64_t r = r0; r < r1; ++r) {
    QuantizeActivationRow(x + r * ldx, k, q + r * k, dx + r * (k / 32), s16 + r * (k / 16));
  }
}

}  // namespace detinfer::kernels::scalar
