// Storage dtypes and their exact conversions.
//
// Activations and accumulators are always fp32 (SPEC §K5); bf16 and f16 exist only as storage
// (weights, K/V cache). Widening bf16/f16 -> f32 is exact (an f16 NaN comes out quiet with
// its payload kept, as F16C's vcvtph2ps does; bf16 widening is a plain 16-bit shift). Narrowing f32 -> bf16/f16 rounds to
// nearest, ties to even, exactly as IEEE 754 roundTiesToEven would for the target format:
//   - NaN stays NaN (sign kept, made quiet; payload bits kept where they fit),
//   - values beyond the largest finite number round to +-Inf (per RNE, i.e. only once they
//     reach the rounding midpoint above the largest finite value),
//   - f16 subnormals are produced exactly (with RNE at the subnormal spacing).
#ifndef DETINFER_CORE_DTYPE_H_
#define DETINFER_CORE_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/dtype_id.h"
#include "core/status.h"

namespace detinfer {

// Bytes per element of an element format (f32 4, bf16/f16 2); 0 for a block format, whose
// sizes come from StorageBytes (core/storage_format.h).
size_t DTypeSize(DType dtype);
std::string_view DTypeName(DType dtype);             // "f32", "bf16", "q4_k", ...
Result<DType> ParseDType(std::string_view name);     // inverse of DTypeName (+ aliases)

uint16_t F32ToBF16(float value);
float BF16ToF32(uint16_t bits);
uint16_t F32ToF16(float value);
float F16ToF32(uint16_t bits);

// Converts n elements between dtypes (src and dst must not overlap). f32 -> f32 is a copy.
// For a block format n must be a multiple of its block size: widening follows the format's
// rule (core/quant_blocks.h), narrowing is QuantizeBlocks' fixed row-local rule.
void ConvertToF32(DType src_dtype, const void* src, float* dst, size_t n);
void ConvertFromF32(const float* src, DType dst_dtype, void* dst, size_t n);

}  // namespace detinfer

#endif  // DETINFER_CORE_DTYPE_H_
