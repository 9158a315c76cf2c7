#include "core/storage_format.h"

#include <cctype>

namespace detinfer {

namespace {

constexpr StorageFormat kFormats[kNumDTypes] = {
    {DType::kF32, "f32", "F32", 0, 1, 4, "the value itself"},
    {DType::kBF16, "bf16", "BF16", 30, 1, 2, "the 16 bits become the top half of an f32 (exact)"},
    {DType::kF16, "f16", "F16", 1, 1, 2, "IEEE half to single (exact)"},
    {DType::kQ8_0, "q8_0", "Q8_0", 8, 32, 34, "d * q, q int8 (exact)"},
    {DType::kQ4_0, "q4_0", "Q4_0", 2, 32, 18, "d * (q - 8), q 4-bit (exact)"},
    {DType::kQ4_1, "q4_1", "Q4_1", 3, 32, 20, "d * q + m, q 4-bit (one fp32 addition, RNE)"},
    {DType::kQ5_0, "q5_0", "Q5_0", 6, 32, 22, "d * (q - 16), q 5-bit (exact)"},
    {DType::kQ5_1, "q5_1", "Q5_1", 7, 32, 24, "d * q + m, q 5-bit (one fp32 addition, RNE)"},
    {DType::kQ4_K, "q4_k", "Q4_K", 12, 256, 144,
     "(d * sc_j) * q - dmin * m_j, 8 sub-blocks of 32, 6-bit sc/m (one fp32 subtraction, RNE)"},
    {DType::kQ5_K, "q5_k", "Q5_K", 13, 256, 176,
     "(d * sc_j) * q - dmin * m_j, 8 sub-blocks of 32, q 5-bit (one fp32 subtraction, RNE)"},
    {DType::kQ6_K, "q6_k", "Q6_K", 14, 256, 210,
     "(d * sc_j) * (q - 32), 16 sub-blocks of 16, int8 sc_j, q 6-bit (exact)"},
};

bool EqualNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::span<const StorageFormat> AllStorageFormats() { return kFormats; }

const StorageFormat& FormatOf(DType dtype) {
  const auto i = static_cast<size_t>(dtype);
  return kFormats[i < std::size(kFormats) ? i : 0];
}

const StorageFormat* FormatOfGgmlType(uint32_t ggml_type) {
  for (const StorageFormat& f : kFormats) {
    if (f.ggml_type == ggml_type) return &f;
  }
  return nullptr;
}

const StorageFormat* FormatOfName(std::string_view name) {
  for (const StorageFormat& f : kFormats) {
    if (EqualNoCase(f.name, name)) return &f;
  }
  return nullptr;
}

}  // namespace detinfer
