// The canonical order of every row reduction in detinfer (SPEC §K2).
//
// A row of length n is reduced as 16 strided lanes: lane j accumulates elements
// j, j+16, j+32, ... strictly in increasing index order (element n-1's lane included; a
// lane with no more elements is left untouched, never fed a padding zero, so the sign of a
// zero partial is the same on every path). The 16 partials are then combined by one fixed
// tree:
//     p[j] = p[j] (+) p[j+8]   for j < 8
//     p[j] = p[j] (+) p[j+4]   for j < 4
//     p[j] = p[j] (+) p[j+2]   for j < 2
//     total = p[0] (+) p[1]
// where (+) is the reduction's combine (add for sums, max for maxima).
// This is exactly one 512-bit register of fp32 lanes, or two 256-bit registers (lanes 0-7 and
// 8-15), or 16 scalar accumulators, so the scalar, AVX2 and AVX-512 paths reproduce it
// bit for bit; it depends only on n, never on the batch, the thread count or the ISA.
#ifndef DETINFER_KERNELS_REDUCTION_ORDER_H_
#define DETINFER_KERNELS_REDUCTION_ORDER_H_

namespace detinfer {

inline constexpr int kReductionLanes = 16;

}  // namespace detinfer

#endif  // DETINFER_KERNELS_REDUCTION_ORDER_H_
