// Shared set-up for detinfer's benchmarks.
#ifndef DETINFER_BENCH_BENCH_COMMON_H_
#define DETINFER_BENCH_BENCH_COMMON_H_

#include "core/isa.h"
#include "core/thread_pool.h"

namespace detinfer::bench {

// The ISA path the kernel benchmarks and the probes run on: DETINFER_ISA, else the best.
Isa BenchIsa();

}  // namespace detinfer::bench

#endif  // DETINFER_BENCH_BENCH_COMMON_H_
