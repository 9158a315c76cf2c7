// DType: every storage format detinfer reads, in one enum (declaration only).
//
// This header has no includes and no functions so that the per-ISA kernel files, which may
// include only declaration-only headers (cmake/Flags.cmake), can name a format too. What each
// format is — block size, bytes per block, how a block widens to fp32 — is described once, in
// core/storage_format.h; the block layouts of the quantised formats in core/quant_blocks.h.
#ifndef DETINFER_CORE_DTYPE_ID_H_
#define DETINFER_CORE_DTYPE_ID_H_

#include <cstdint>

namespace detinfer {

// Element formats (f32, bf16, f16) hold one value per element; block formats (the GGUF
// quantised types) hold a block of 32 or 256 values with shared scales. Activations and
// accumulators are always fp32 (SPEC §K5); every other format exists only as storage.
enum class DType : uint8_t {
  kF32 = 0,
  kBF16 = 1,
  kF16 = 2,
  kQ8_0 = 3,
  kQ4_0 = 4,
  kQ4_1 = 5,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ4_K = 8,
  kQ5_K = 9,
  kQ6_K = 10,
};
inline constexpr int kNumDTypes = 11;

}  // namespace detinfer

#endif  // DETINFER_CORE_DTYPE_ID_H_
