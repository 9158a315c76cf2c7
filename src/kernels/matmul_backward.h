// Matmul backward: the two gradients of y[M,N] = x[M,K] · w[N,K]^T (matmul.h), f32 throughout.
//
//   MatmulBackwardInput:   dx[m,k]  = sum_n dy[m,n] * w[n,k]      (dx is overwritten)
//   MatmulBackwardWeight:  dw[n,k] += sum_m dy[m,n] * x[m,k]      (dw is accumulated into)
//
// Reduction order (the whole contract, identical on the scalar, AVX2 and AVX-512 paths):
//   dx[m,k]: acc = +0;        for n = 0, 1, ..., N-1: acc = fma(dy[m,n], w[n,k], acc); dx = acc
//   dw[n,k]: acc = dw[n,k];   for m = 0, 1, ..., M-1: acc = fma(dy[m,n], x[m,k], acc); dw = acc
// Every output element is ONE sequential fused-multiply-add chain (one rounding per step).
// SIMD lanes hold different k (different outputs, never different terms of one output);
// threads own disjoint output tiles; the chain is never split across tasks or blocks. So no
// bit depends on the ISA path, the thread count, or (for dx) on the other rows of the call.
//
// Why dw accumulates, and what that buys: the chain starts from the value already in dw and
// runs over m ascending, so
//     MatmulBackwardWeight(dy[0:a], x[0:a], dw); MatmulBackwardWeight(dy[a:M], x[a:M], dw)
// gives exactly the bits of one call over all M rows (the chain is the same chain, only paused
// in memory, which stores fp32 exactly). A trainer that calls it once per sequence in ascending
// sequence order therefore gets the same bits as one call over the packed batch, and a
// sequence's contribution is always "continue the chain over my rows" — it never depends on
// how the batch was split into calls, on the thread count or on the ISA. (Sequences are NOT
// summed separately and then added: that is a different, also fixed, order the contract does
// not use.)
//
// Layouts: all operands are row-major with unit stride in their last dimension (row strides
// may be larger). The weight is the plain [N, K] f32 tensor (not a PackedMatrix): its rows are
// already contiguous in k, which is what the k-lanes of both gradients read.
// Special values follow IEEE fma: NaN/Inf propagate; nothing is canonicalised.
//
// BiasBackward: the gradient of a bias added to the matmul's output (y[m,n] += b[n]), i.e. the
// column sums of dy, accumulated into dbias like dw:
//   dbias[n]: acc = dbias[n]; for m = 0, 1, ..., M-1: acc = acc + dy[m,n]; dbias[n] = acc
// One sequential chain of correctly rounded additions per column (no fma, no lanes within a
// column), continued from the value already in dbias, so one call per sequence in ascending
// order gives the bits of one call over the concatenated rows, exactly as dw. Threads split
// the columns only; a column's chain is never split. One portable path for every ISA (it
// vectorises across columns, which are independent outputs). NaN/Inf follow IEEE addition.
#ifndef DETINFER_KERNELS_MATMUL_BACKWARD_H_
#define DETINFER_KERNELS_MATMUL_BACKWARD_H_

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/context.h"

namespace detinfer {

// dx[M,K] = dy[M,N] · w[N,K]. dx must not overlap dy or w. M, N or K may be 0 (N = 0 gives
// dx = +0).
Status MatmulBackwardInput(const KernelContext& ctx, const TensorView& dy, const TensorView& w,
                           const TensorView& dx);

// dw[N,K] += dy[M,N]^T · x[M,K]. dw must not overlap dy or x. M = 0 leaves dw unchanged.
Status MatmulBackwardWeight(const KernelContext& ctx, const TensorView& dy, const TensorView& x,
                            const TensorView& dw);

// dy: [M, N] f32; dbias: [N] f32, accumulated into (M = 0 leaves it unchanged). dbias must not
// overlap dy.
Status BiasBackward(const KernelContext& ctx, const TensorView& dy, const TensorView& dbias);

}  // namespace detinfer

#endif  // DETINFER_KERNELS_MATMUL_BACKWARD_H_
