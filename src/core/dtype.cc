#include "core/dtype.h"

#include <bit>
#include <cstring>
#include <string>

#include "core/quant_blocks.h"
#include "core/storage_format.h"

namespace detinfer {

namespace {

uint32_t FloatBits(float f) { return std::bit_cast<uint32_t>(f); }
float BitsFloat(uint32_t u) { return std::bit_cast<float>(u); }

}  // namespace

size_t DTypeSize(DType dtype) {
  const StorageFormat& f = FormatOf(dtype);
  return f.quantised() ? 0 : f.block_bytes;
}

std::string_view DTypeName(DType dtype) { return FormatOf(dtype).name; }

Result<DType> ParseDType(std::string_view name) {
  if (name == "fp32" || name == "float32") return DType::kF32;
  if (name == "bfloat16") return DType::kBF16;
  if (name == "fp16" || name == "float16") return DType::kF16;
  if (const StorageFormat* f = FormatOfName(name)) return f->dtype;
  std::string all;
  for (const StorageFormat& f : AllStorageFormats()) all += (all.empty() ? "" : ", ") + std::string(f.name);
  return Status::InvalidArgument("unknown dtype '" + std::string(name) + "' (expected one of " +
                                 all + ")");
}

uint16_t F32ToBF16(float value) {
  uint32_t u = FloatBits(value);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    // NaN: keep sign and the top payload bits, force the quiet bit so the result is NaN
    // even when every kept payload bit is zero.
    return static_cast<uint16_t>((u >> 16) | 0x0040u);
  }
  // Round to nearest even on the 16 dropped bits. Overflow into the exponent is correct
  // (it rounds up to the next binade, or to Inf from the largest finite value).
  uint32_t lsb = (u >> 16) & 1u;
  u += 0x7fffu + lsb;
  return static_cast<uint16_t>(u >> 16);
}

float BF16ToF32(uint16_t bits) { return BitsFloat(static_cast<uint32_t>(bits) << 16); }

uint16_t F32ToF16(float value) {
  const uint32_t u = FloatBits(value);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) {  // NaN: quiet, keep the top 9 payload bits
    return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
  }
  if (abs >= 0x477ff000u) {  // >= 65520 (midpoint above 65504 ties to even = Inf) or Inf
    return static_cast<uint16_t>(sign | 0x7c00u);
  }
  const int32_t exp = static_cast<int32_t>(abs >> 23) - 127;
  if (exp >= -14) {  // normal f16
    uint32_t mant = abs & 0x7fffffu;
    uint32_t h = (static_cast<uint32_t>(exp + 15) << 10) | (mant >> 13);
    const uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // may carry into exponent: fine
    return static_cast<uint16_t>(sign | h);
  }
  if (exp < -25) return sign;  // below half the smallest subnormal (2^-25): rounds to zero
  // Subnormal f16: the result counts units of 2^-24. With the implicit bit restored,
  // value = full * 2^(exp-23), i.e. full * 2^(exp+1) units: shift right by -(exp+1),
  // which is in [14, 24] here, then round the dropped bits to nearest even.
  const uint32_t full = (abs & 0x7fffffu) | 0x800000u;
  const int shift = -exp - 1;
  const uint32_t m = full >> shift;
  const uint32_t rem = full & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1);
  uint32_t h = m;
  if (rem > half || (rem == half && (m & 1u))) ++h;  // may become the smallest normal: fine
  return static_cast<uint16_t>(sign | h);
}

float F16ToF32(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exp = (bits >> 10) & 0x1fu;
  const uint32_t mant = bits & 0x3ffu;
  if (exp == 0x1f) {
    // Inf, or NaN made quiet (bit 22) with its payload kept: exactly what F16C's vcvtph2ps
    // returns, so the scalar and SIMD widening paths agree on every one of the 65536 patterns.
    const uint32_t quiet = mant != 0 ? 0x400000u : 0u;
    return BitsFloat(sign | 0x7f800000u | quiet | (mant << 13));
  }
  if (exp != 0) return BitsFloat(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return BitsFloat(sign);
  // Subnormal: mant * 2^-24, exactly representable as a normal f32.
  float v = static_cast<float>(mant) * 5.9604644775390625e-8f;  // 2^-24, exact product
  return sign ? -v : v;
}

void ConvertToF32(DType src_dtype, const void* src, float* dst, size_t n) {
  switch (src_dtype) {
    case DType::kF32:
      if (n > 0) std::memcpy(dst, src, n * sizeof(float));  // n == 0 may come with null pointers
      return;
    case DType::kBF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = BF16ToF32(s[i]);
      return;
    }
    case DType::kF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = F16ToF32(s[i]);
      return;
    }
    default: {
      const StorageFormat& f = FormatOf(src_dtype);
      WidenQuantBlocks(src_dtype, static_cast<const uint8_t*>(src),
                       static_cast<int64_t>(n) / f.block_elems, dst);
      return;
    }
  }
}

void ConvertFromF32(const float* src, DType dst_dtype, void* dst, size_t n) {
  switch (dst_dtype) {
    case DType::kF32:
      if (n > 0) std::memcpy(dst, src, n * sizeof(float));  // n == 0 may come with null pointers
      return;
    case DType::kBF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = F32ToBF16(src[i]);
      return;
    }
    case DType::kF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = F32ToF16(src[i]);
      return;
    }
    default: {
      const StorageFormat& f = FormatOf(dst_dtype);
      QuantizeBlocks(dst_dtype, src, static_cast<int64_t>(n) / f.block_elems,
                     static_cast<uint8_t*>(dst));
      return;
    }
  }
}

}  // namespace detinfer
