// The CPU-dependent speed choices (cpu_tuning.h). Each number here was measured on 2 threads of
// the CPU named, two builds or settings alternated run by run (docs/kernels.md has the tables).
#include "kernels/cpu_tuning.h"

namespace detinfer::kernels {

CpuTuning TuningFor(const CpuFeatures& cpu) {
  CpuTuning t;
  if (cpu.vendor == "GenuineIntel") {
    // Xeon (Emerald Rapids, 2 MiB L2 per core). vdpbf16ps: a 512 x 768 x 2048 bf16 matmul takes
    // 8.3-9.0 ms against 5.2 ms by the flushed FMA loop. Software prefetch T0 ahead of the
    // panel stream at decode: block formats 4 KiB (an M = 1 stream over 768 x 32000 weights
    // 1.2x to 1.6x faster; 1B Q4_0 decode 1.35x, Q4_K_M 1.5x), bf16 / f16 1 KiB (1B decode
    // 1.15-1.25x); f32 weights gained nothing, and prefill lost with them.
    t.bf16_pairs = false;
    t.quant_decode_prefetch = 4096;
    t.half_decode_prefetch = 1024;
  }
  // AMD Zen 4 (and the rest): vdpbf16ps makes bf16 prefill faster than f32's; the hardware
  // prefetcher follows each thread's panel run, and software prefetches 2-16 KiB ahead only cost
  // (block-format decode 10-24 % slower at 16 KiB).
  return t;
}

const CpuTuning& ThisCpuTuning() {
  static const CpuTuning kTuning = TuningFor(DetectCpuFeatures());
  return kTuning;
}

size_t QuantPrefetchBytes(const CpuTuning& t, Isa isa, int64_t m) {
  switch (isa) {
    case Isa::kAvx2:  // every call (measured on Zen 4: Q6_K 10 % faster with it)
    case Isa::kNeon:
      return 16384;
    case Isa::kAvx512:
    case Isa::kAvx512Bf16:
      return m <= kDecodeRows ? t.quant_decode_prefetch : 0;
    case Isa::kScalar:
      return 0;
  }
  return 0;
}

size_t DensePrefetchBytes(const CpuTuning& t, Isa isa, DType dtype, int64_t m) {
  const bool avx512 = isa == Isa::kAvx512 || isa == Isa::kAvx512Bf16;
  const bool half = dtype == DType::kBF16 || dtype == DType::kF16;
  return avx512 && half && m <= kDecodeRows ? t.half_decode_prefetch : 0;
}

}  // namespace detinfer::kernels
