// Shared set-up for detinfer's benchmarks.
#ifndef DETINFER_BENCH_BENCH_COMMON_H_
#define DETINFER_BENCH_BENCH_COMMON_H_

#include "core/isa.h"
#include "core/thread_pool.h"

namespace detinfer::bench {

// The ISA path the kernel benchmarks and the probes run on: DETINFER_ISA, else the best.
Isa BenchIsa();

// The read-stream probe (BM_ProbeReadBandwidth, fma:0) as a function: GB/s of `rounds` passes
// over a 256 MiB buffer (allocated on first use and kept) on `pool`. A benchmark whose figure
// is quoted against the read bandwidth calls it right before and after its timed loop, so the
// ratio compares two measurements seconds apart, not minutes: this machine's bandwidth moves
// by 45 % within one run (probe_bench.cc).
double ReadProbeGbs(ThreadPool& pool, int rounds);

}  // namespace detinfer::bench

#endif  // DETINFER_BENCH_BENCH_COMMON_H_
