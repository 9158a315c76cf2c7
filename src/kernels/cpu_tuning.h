// Speed choices that follow the CPU, never the bits. Each is either a prefetch hint or a choice
// between two loops that the kernel headers prove bit-identical (and the tests hold to the same
// oracle on every machine, whatever its own choice). They depend on the vendor because the same
// instructions behave differently: measured in docs/kernels.md, "Choices that follow the CPU".
#ifndef DETINFER_KERNELS_CPU_TUNING_H_
#define DETINFER_KERNELS_CPU_TUNING_H_

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/isa.h"

namespace detinfer::kernels {

struct CpuTuning {
  // avx512bf16 path, bf16 weights: vdpbf16ps over pairs of k (true) or the avx512 path's flushed
  // fp32 FMA loop (matmul_bf16.h: the same bits).
  bool bf16_pairs = true;
  // AVX-512 paths, calls of at most kDecodeRows rows (decode): bytes ahead of each panel stream
  // that the tile prefetches, 0 for none. Block formats (qmatmul.h), and bf16 / f16 weights.
  size_t quant_decode_prefetch = 0;
  size_t half_decode_prefetch = 0;
};

// Rows up to which a call counts as decode: one tile of rows, so each panel is read once.
inline constexpr int64_t kDecodeRows = 4;

// The choices for a CPU (by its vendor).
CpuTuning TuningFor(const CpuFeatures& cpu);
// TuningFor(DetectCpuFeatures()), computed once per process.
const CpuTuning& ThisCpuTuning();

// Bytes ahead of its panel stream a block-format tile of an m-row call prefetches on this path.
size_t QuantPrefetchBytes(const CpuTuning& t, Isa isa, int64_t m);
// The same for the dense tile (f32, bf16, f16 weights).
size_t DensePrefetchBytes(const CpuTuning& t, Isa isa, DType dtype, int64_t m);

}  // namespace detinfer::kernels

#endif  // DETINFER_KERNELS_CPU_TUNING_H_
