// Block formats (core/quant_blocks.h) against an oracle written here from the formats'
// definitions (llama.cpp's ggml-common.h block structs and dequantize_row_* loops, as published
// in gguf-py's quants.py): element by element, reading each bit where the definition puts it.
#include "core/quant_blocks.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/storage_format.h"
#include "test_util.h"

namespace detinfer {
namespace {

constexpr DType kBlockFormats[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0,
                                   DType::kQ5_1, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

float Half(const uint8_t* p) { return F16ToF32(static_cast<uint16_t>(p[0] | p[1] << 8)); }

// The oracle: element i of one block, as the published dequantisers compute it.
float OracleElement(DType f, const uint8_t* b, int i) {
  switch (f) {
    case DType::kQ8_0: return Half(b) * static_cast<float>(static_cast<int8_t>(b[2 + i]));
    case DType::kQ4_0: {
      const int nib = i < 16 ? b[2 + i] & 0x0F : b[2 + i - 16] >> 4;
      return Half(b) * static_cast<float>(nib - 8);
    }
    case DType::kQ4_1: {
      const int nib = i < 16 ? b[4 + i] & 0x0F : b[4 + i - 16] >> 4;
      return Half(b) * static_cast<float>(nib) + Half(b + 2);
    }
    case DType::kQ5_0:
    case DType::kQ5_1: {
      const bool one = f == DType::kQ5_1;
      uint32_t qh;
      std::memcpy(&qh, b + (one ? 4 : 2), 4);
      const uint8_t* qs = b + (one ? 8 : 6);
      const int nib = i < 16 ? qs[i] & 0x0F : qs[i - 16] >> 4;
      const int q = nib | static_cast<int>((qh >> i) & 1u) << 4;
      return one ? Half(b) * static_cast<float>(q) + Half(b + 2)
                 : Half(b) * static_cast<float>(q - 16);
    }
    case DType::kQ4_K:
    case DType::kQ5_K: {
      const bool five = f == DType::kQ5_K;
      const uint8_t* s = b + 4;
      const int j = i / 32;  // sub-block
      int sc, m;
      if (j < 4) {
        sc = s[j] & 63;
        m = s[j + 4] & 63;
      } else {
        sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
        m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
      }
      const uint8_t* qs = b + (five ? 48 : 16);
      const int chunk = i / 64, l = i % 32;
      int q = (j % 2 == 0) ? qs[32 * chunk + l] & 0xF : qs[32 * chunk + l] >> 4;
      if (five) q += ((b[16 + l] >> j) & 1) << 4;
      const float d1 = Half(b) * static_cast<float>(sc), m1 = Half(b + 2) * static_cast<float>(m);
      return d1 * static_cast<float>(q) - m1;
    }
    case DType::kQ6_K: {
      const int half = i / 128, r = i % 128, t = r / 32, l = r % 32;
      const uint8_t* ql = b + 64 * half;
      const uint8_t* qh = b + 128 + 32 * half;
      const int lo = t == 0 ? ql[l] & 0xF : t == 1 ? ql[l + 32] & 0xF : t == 2 ? ql[l] >> 4 : ql[l + 32] >> 4;
      const int q = (lo | ((qh[l] >> (2 * t)) & 3) << 4) - 32;
      const auto sc = static_cast<int8_t>(b[192 + i / 16]);
      return Half(b + 208) * static_cast<float>(sc) * static_cast<float>(q);
    }
    default: return 0.0f;
  }
}

// Offsets of the f16 scale fields of a block.
std::vector<size_t> ScaleOffsets(DType f) {
  switch (f) {
    case DType::kQ4_1: case DType::kQ5_1: case DType::kQ4_K: case DType::kQ5_K: return {0, 2};
    case DType::kQ6_K: return {208};
    default: return {0};
  }
}

// Random blocks with finite scales, among them the extremes: the largest f16, the smallest
// subnormal, zero, negative.
std::vector<uint8_t> RandomBlocks(DType f, int n, uint64_t seed) {
  const StorageFormat& fmt = FormatOf(f);
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> bytes(fmt.block_bytes * static_cast<size_t>(n));
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  const uint16_t specials[] = {0x7bff, 0xfbff, 0x0001, 0x0000, 0x8000, 0x3c00, 0x2e66};
  for (int k = 0; k < n; ++k) {
    for (size_t at : ScaleOffsets(f)) {
      uint16_t h = static_cast<uint16_t>(rng());
      if (k < 7) h = specials[(k + at) % 7];
      if ((h & 0x7c00) == 0x7c00) h &= 0xbfff;  // make it finite
      std::memcpy(&bytes[k * fmt.block_bytes + at], &h, 2);
    }
  }
  return bytes;
}

class QuantBlocksTest : public ::testing::TestWithParam<DType> {};

TEST_P(QuantBlocksTest, WideningMatchesTheDefinitionBitForBit) {
  const DType f = GetParam();
  const StorageFormat& fmt = FormatOf(f);
  constexpr int kBlocks = 64;
  const auto bytes = RandomBlocks(f, kBlocks, 11);
  std::vector<float> got(static_cast<size_t>(kBlocks * fmt.block_elems));
  ConvertToF32(f, bytes.data(), got.data(), got.size());
  for (int k = 0; k < kBlocks; ++k) {
    for (int i = 0; i < fmt.block_elems; ++i) {
      const float want = OracleElement(f, bytes.data() + k * fmt.block_bytes, i);
      ASSERT_EQ(testing::Bits(got[k * fmt.block_elems + i]), testing::Bits(want))
          << fmt.name << " block " << k << " element " << i;
    }
  }
}

// The formats without an additive min (those with one round once by definition).
class ExactQuantBlocksTest : public ::testing::TestWithParam<DType> {};

TEST_P(ExactQuantBlocksTest, WidenExactly) {
  // d * q (and (d * sc) * q) have at most 23 significant bits: the fp32 value equals the real
  // product, computed here in double.
  const DType f = GetParam();
  const StorageFormat& fmt = FormatOf(f);
  const auto bytes = RandomBlocks(f, 32, 12);
  std::vector<float> got(static_cast<size_t>(32 * fmt.block_elems));
  ConvertToF32(f, bytes.data(), got.data(), got.size());
  for (int k = 0; k < 32; ++k) {
    QuantInts b;
    DecodeQuantBlock(f, bytes.data() + k * fmt.block_bytes, &b);
    for (int i = 0; i < fmt.block_elems; ++i) {
      double scale = F16ToF32(b.d_bits);
      if (f == DType::kQ6_K) scale *= b.sc[i / 16];
      ASSERT_EQ(static_cast<double>(got[k * fmt.block_elems + i]), scale * b.q[i]);
    }
  }
}

TEST_P(QuantBlocksTest, DecodeEncodeRoundTripsEveryByte) {
  const DType f = GetParam();
  const StorageFormat& fmt = FormatOf(f);
  const auto bytes = RandomBlocks(f, 64, 13);
  std::vector<uint8_t> again(fmt.block_bytes);
  for (int k = 0; k < 64; ++k) {
    QuantInts b;
    DecodeQuantBlock(f, bytes.data() + k * fmt.block_bytes, &b);
    EncodeQuantBlock(f, b, again.data());
    ASSERT_EQ(0, std::memcmp(again.data(), bytes.data() + k * fmt.block_bytes, fmt.block_bytes))
        << fmt.name << " block " << k;
  }
}

// The error bound of each format's quantiser for one block of x (see quant_blocks.cc).
double ErrorBound(DType f, const float* x, const QuantInts& b, int i) {
  const StorageFormat& fmt = FormatOf(f);
  double amax = 0, lo = x[0], hi = x[0];
  for (int j = 0; j < fmt.block_elems; ++j) {
    amax = std::max(amax, std::fabs(double(x[j])));
    lo = std::min(lo, double(x[j]));
    hi = std::max(hi, double(x[j]));
  }
  // The f16 rounding of the scales: relative 2^-11 of each, and near zero the absolute
  // resolution of f16 (2^-25 per unit of the largest integer the scale multiplies).
  const double max_int[] = {0, 0, 0, 127, 8, 15, 16, 31, 63 * 15 + 63, 63 * 31 + 63, 127 * 32};
  const double f16 = amax * std::ldexp(1.0, -10) +
                     max_int[static_cast<int>(f)] * std::ldexp(1.0, -25);
  const double d = F16ToF32(b.d_bits), dmin = F16ToF32(b.dmin_bits);
  switch (f) {
    case DType::kQ8_0: return 0.5 * amax / 127 + f16;
    case DType::kQ4_0: return amax / 8 + f16;     // the positive end clips at +7 steps
    case DType::kQ5_0: return amax / 16 + f16;
    case DType::kQ4_1: return 0.5 * (hi - lo) / 15 + f16;
    case DType::kQ5_1: return 0.5 * (hi - lo) / 31 + f16;
    case DType::kQ4_K: case DType::kQ5_K:
      return 0.5 * d * b.sc[i / 32] + 0.5 * dmin + f16;
    // The other end of the range clips one step short (q in [-32, 31]).
    case DType::kQ6_K: return std::fabs(d * b.sc[i / 16]) + 16 * d + f16;
    default: return 0;
  }
}

TEST_P(QuantBlocksTest, QuantiseThenWidenStaysWithinTheFormatsBound) {
  const DType f = GetParam();
  const StorageFormat& fmt = FormatOf(f);
  constexpr int kBlocks = 200;
  const int64_t n = kBlocks * fmt.block_elems;
  auto x = testing::RandomFloats(static_cast<size_t>(n), 21, -2.0f, 2.0f);
  // Some hard blocks: all zero, constant, one outlier, all negative, tiny values.
  for (int64_t i = 0; i < fmt.block_elems; ++i) {
    x[i] = 0.0f;
    x[fmt.block_elems + i] = 0.75f;
    x[2 * fmt.block_elems + i] = i == 5 ? 100.0f : 0.01f * float(i % 7);
    x[3 * fmt.block_elems + i] = -1.0f - 0.01f * float(i);
    x[4 * fmt.block_elems + i] = 1e-6f * float(i % 5 - 2);
  }
  std::vector<uint8_t> bytes(StorageBytes(f, n));
  ConvertFromF32(x.data(), f, bytes.data(), static_cast<size_t>(n));
  std::vector<float> back(static_cast<size_t>(n));
  ConvertToF32(f, bytes.data(), back.data(), back.size());
  for (int k = 0; k < kBlocks; ++k) {
    QuantInts b;
    DecodeQuantBlock(f, bytes.data() + k * fmt.block_bytes, &b);
    const float* xb = x.data() + k * fmt.block_elems;
    for (int i = 0; i < fmt.block_elems; ++i) {
      const double err = std::fabs(double(back[k * fmt.block_elems + i]) - xb[i]);
      ASSERT_LE(err, ErrorBound(f, xb, b, i) * (1 + 1e-6) + 1e-30)
          << fmt.name << " block " << k << " element " << i << " x " << xb[i];
    }
  }
  // Zero blocks stay exactly zero.
  for (int i = 0; i < fmt.block_elems; ++i) ASSERT_EQ(back[i], 0.0f);
}

TEST_P(QuantBlocksTest, QuantisingIsRowLocalAndRepeatable) {
  const DType f = GetParam();
  const StorageFormat& fmt = FormatOf(f);
  const int64_t n = 8 * fmt.block_elems;
  const auto x = testing::RandomFloats(static_cast<size_t>(n), 22);
  std::vector<uint8_t> all(StorageBytes(f, n)), one(StorageBytes(f, n));
  ConvertFromF32(x.data(), f, all.data(), static_cast<size_t>(n));
  for (int k = 0; k < 8; ++k) {  // block by block gives the same bytes
    ConvertFromF32(x.data() + k * fmt.block_elems, f, one.data() + k * fmt.block_bytes,
                   static_cast<size_t>(fmt.block_elems));
  }
  EXPECT_EQ(all, one);
}

TEST_P(QuantBlocksTest, NonFiniteScalesAreFound) {
  const DType f = GetParam();
  const StorageFormat& fmt = FormatOf(f);
  auto bytes = RandomBlocks(f, 16, 14);
  EXPECT_EQ(FirstNonFiniteScale(f, bytes.data(), 16), -1);
  for (size_t at : ScaleOffsets(f)) {
    auto bad = bytes;
    const uint16_t nan = 0x7e00;
    std::memcpy(&bad[9 * fmt.block_bytes + at], &nan, 2);
    EXPECT_EQ(FirstNonFiniteScale(f, bad.data(), 16), 9) << fmt.name << " scale at " << at;
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, QuantBlocksTest, ::testing::ValuesIn(kBlockFormats),
                         [](const auto& p) { return std::string(FormatOf(p.param).ggml_name); });

INSTANTIATE_TEST_SUITE_P(Formats, ExactQuantBlocksTest,
                         ::testing::Values(DType::kQ8_0, DType::kQ4_0, DType::kQ5_0, DType::kQ6_K),
                         [](const auto& p) { return std::string(FormatOf(p.param).ggml_name); });

TEST(StorageFormatTest, TableMatchesGgufTypeIdsAndSizes) {
  // ggml's type ids and block sizes (ggml.h / gguf-py constants.py GGML_QUANT_SIZES).
  struct Want { const char* name; uint32_t id; int64_t elems; size_t bytes; };
  const Want want[] = {{"F32", 0, 1, 4},     {"F16", 1, 1, 2},      {"BF16", 30, 1, 2},
                       {"Q8_0", 8, 32, 34},  {"Q4_0", 2, 32, 18},   {"Q4_1", 3, 32, 20},
                       {"Q5_0", 6, 32, 22},  {"Q5_1", 7, 32, 24},   {"Q4_K", 12, 256, 144},
                       {"Q5_K", 13, 256, 176}, {"Q6_K", 14, 256, 210}};
  for (const Want& w : want) {
    const StorageFormat* f = FormatOfGgmlType(w.id);
    ASSERT_NE(f, nullptr) << w.name;
    EXPECT_EQ(f->ggml_name, w.name);
    EXPECT_EQ(f->block_elems, w.elems) << w.name;
    EXPECT_EQ(f->block_bytes, w.bytes) << w.name;
    EXPECT_EQ(FormatOfName(f->name), f);
  }
  for (uint32_t unsupported : {9u, 10u, 11u, 15u, 16u, 20u, 23u, 35u}) {
    EXPECT_EQ(FormatOfGgmlType(unsupported), nullptr) << unsupported;
  }
  EXPECT_DOUBLE_EQ(FormatOf(DType::kQ4_K).bits_per_weight(), 4.5);
  EXPECT_DOUBLE_EQ(FormatOf(DType::kQ6_K).bits_per_weight(), 6.5625);
}

}  // namespace
}  // namespace detinfer
