// The softmax family over the last dimension of x [M, N] f32 (SPEC §K2): LogSumExp,
// LogSoftmax, Softmax and Argmax. Every row is computed alone, by one task, with one operation
// order that depends only on N, so a row's bits never depend on M, on the other rows, on the
// thread count or on the ISA path.
//
// Per row x[0, N), in this order (fp32 throughout, ExpF/LogF from kernels/math.h):
//   m     = max_j x_j        canonical 16-lane order of reduction_order.h: lanes start at -Inf,
//                            combine a > b ? a : b (x86 maxps), fixed tree p[j]#p[j+8], +4, +2, +1
//   d_j   = (x_j == m) ? +0 : x_j - m              (one rounded subtraction; see "Specials")
//   s     = sum_j exp(d_j)   canonical 16-lane order, lanes start at +0, same fixed tree
//   log_s = log(s)
//   lse           = m + log_s
//   log_softmax_j = d_j - log_s
//   softmax_j     = exp(d_j) / s                     (one correctly rounded division)
//   argmax        = the lowest j with x_j == m       (+0 and -0 compare equal)
//
// Specials (documented and tested; identical on every path):
//   - N == 0: lse = -Inf (the log of an empty sum); log_softmax/softmax write nothing; Argmax
//     rejects N == 0.
//   - A NaN anywhere in a row: lse and every log_softmax/softmax entry of that row are the
//     canonical quiet NaN 0x7fc00000 (payloads are not propagated, so no path's choice of NaN
//     operand can show); argmax returns the index of the first NaN.
//   - -Inf entries (masked logits): d_j = -Inf, exp = 0, so log_softmax_j = -Inf, softmax_j = 0.
//   - +Inf entries: m = +Inf; the c entries equal to +Inf get d_j = 0 (not Inf - Inf = NaN), the
//     others d_j = -Inf. So lse = +Inf, log_softmax = -log(c) on the +Inf entries and -Inf
//     elsewhere, softmax = 1/c and 0: the limit of a row whose top c entries grow equally.
//   - All entries -Inf (N > 0): by the same rule d_j = 0 for all j, so lse = -Inf (exact),
//     log_softmax_j = -log(N), softmax_j = 1/N (the row is treated as N equal values), and
//     argmax = 0. No NaN.
//   - Finite rows: s >= 1 (the max contributes exp(0) = 1), so log_s is finite and >= 0 and no
//     NaN or overflow can arise.
#ifndef DETINFER_KERNELS_SOFTMAX_H_
#define DETINFER_KERNELS_SOFTMAX_H_

#include <cstdint>
#include <span>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/context.h"

namespace detinfer {

// x: [M, N] f32; lse: [M] f32 (must not overlap x).
Status LogSumExp(const KernelContext& ctx, TensorView x, TensorView lse);
// x: [M, N] f32; out: [M, N] f32, may be x itself (in place) but may not otherwise overlap it.
Status LogSoftmax(const KernelContext& ctx, TensorView x, TensorView out);
Status Softmax(const KernelContext& ctx, TensorView x, TensorView out);
// x: [M, N] f32 with N >= 1 (when M > 0) and N <= INT32_MAX; idx: M entries (must not overlap x).
Status Argmax(const KernelContext& ctx, TensorView x, std::span<int32_t> idx);

}  // namespace detinfer

#endif  // DETINFER_KERNELS_SOFTMAX_H_
