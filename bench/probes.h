// Probes of the machine's own limits, measured in the same run as the kernels so every
// kernel figure can be quoted as a fraction of what this machine can do right now.
#ifndef DETINFER_BENCH_PROBES_H_
#define DETINFER_BENCH_PROBES_H_

#include <cstddef>
#include <cstdint>

namespace detinfer::bench {

// Sums n floats (n a multiple of 8 * 16, p 64-byte aligned) as 8 concurrent streams, one per
// vector accumulator; returns the sum so the loads cannot be optimised away.
float ReadStreamAvx2(const float* p, size_t n);
float ReadStreamAvx512(const float* p, size_t n);
// The same streams, each 64 bytes loaded feeding 8 fp32 FMAs (decode attention's arithmetic
// per byte): the bandwidth such a kernel keeps when loads and FMAs overlap.
float StreamFmaAvx2(const float* p, size_t n);
float StreamFmaAvx512(const float* p, size_t n);
// a[i] = b[i] + s * c[i] (the STREAM triad), n a multiple of 16.
void TriadAvx2(float* a, const float* b, const float* c, float s, size_t n);
void TriadAvx512(float* a, const float* b, const float* c, float s, size_t n);
// Runs `iters` rounds of 12 independent FMA chains; returns the fp32 FMAs issued per lane-set
// (flops = 2 * lanes * 12 * iters).
float FmaPeakAvx2(int64_t iters);
float FmaPeakAvx512(int64_t iters);

}  // namespace detinfer::bench

#endif  // DETINFER_BENCH_PROBES_H_
