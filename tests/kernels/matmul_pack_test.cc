// Weight packing (kernels/matmul_pack*.cc). The oracle is the layout formula of matmul.h,
// written out here on the raw source bits: packed element (n, k) of the fused [sum N_i, K]
// weight sits at (n / 16 * K + k) * 16 + n % 16, every other byte is zero. Every ISA path
// and thread count must produce exactly those bytes (memcmp), on shapes that exercise the
// partial panels (N not a multiple of 16, parts straddling a panel), the k tails of the SIMD
// blocks (K not a multiple of 16 or 32) and row strides wider than K.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/matmul.h"
#include "test_util.h"

namespace detinfer {
namespace {

// A source weight: rows x k elements of `elem` bytes, row stride `ld` >= k, random bits.
struct Source {
  int64_t rows, k, ld;
  DType dtype;
  std::vector<uint8_t> bytes;

  Source(int64_t rows_, int64_t k_, int64_t ld_, DType dt, uint64_t seed)
      : rows(rows_), k(k_), ld(ld_), dtype(dt) {
    bytes.resize(static_cast<size_t>(rows * ld) * DTypeSize(dt) + 64);
    std::mt19937_64 rng(seed);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  }
  TensorView View() {
    TensorView v = TensorView::Contiguous(bytes.data(), dtype, {rows, k});
    v.stride[0] = ld;
    return v;
  }
};

// The packed bytes the layout formula of matmul.h says PackRows(parts) must hold.
std::vector<uint8_t> Expected(std::vector<Source>& parts) {
  const int64_t k = parts[0].k;
  const size_t elem = DTypeSize(parts[0].dtype);
  int64_t n_total = 0;
  for (const Source& s : parts) n_total += s.rows;
  const int64_t panels = (n_total + 15) / 16;
  std::vector<uint8_t> out(static_cast<size_t>(panels * 16 * k) * elem, 0);
  int64_t n = 0;
  for (const Source& s : parts) {
    for (int64_t r = 0; r < s.rows; ++r, ++n) {
      for (int64_t kk = 0; kk < k; ++kk) {
        const size_t to = static_cast<size_t>((n / 16 * k + kk) * 16 + n % 16) * elem;
        const size_t from = static_cast<size_t>(r * s.ld + kk) * elem;
        std::memcpy(out.data() + to, s.bytes.data() + from, elem);
      }
    }
  }
  return out;
}

bool SameBytes(const PackedMatrix& p, const std::vector<uint8_t>& want) {
  return p.bytes() == want.size() && std::memcmp(p.data(), want.data(), want.size()) == 0;
}

struct PackShape {
  std::vector<int64_t> rows;  // one entry per part
  int64_t k, extra_ld;        // row stride = k + extra_ld
};

const PackShape kPackShapes[] = {
    {{16}, 32, 0},          // one full panel, one SIMD block
    {{37}, 33, 0},          // partial last panel; k tail past a block of 32 / 16
    {{5}, 1, 0},            // fewer rows than a panel, K = 1
    {{48}, 47, 3},          // full panels, k tails, wider row stride
    {{17, 9, 30}, 40, 0},   // parts straddling panels
    {{32, 16, 64}, 100, 5}, // parts on panel boundaries, odd K, stride
    {{8, 8, 8, 8, 8}, 64, 64},  // every panel made of two parts (rotate-half views)
    {{3, 0, 29}, 15, 1},    // an empty part, K below one AVX2 block
};

TEST(MatmulPackTest, EveryIsaAndThreadCountWritesTheLayoutFormulaBytes) {
  uint64_t seed = 1;
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (const PackShape& shape : kPackShapes) {
      std::vector<Source> sources;
      for (int64_t rows : shape.rows) {
        sources.emplace_back(rows, shape.k, shape.k + shape.extra_ld, dtype, seed++);
      }
      std::vector<TensorView> views;
      for (Source& s : sources) views.push_back(s.View());
      const std::vector<uint8_t> want = Expected(sources);
      for (Isa isa : testing::TestableIsas()) {
        for (int threads : {1, 2, 3}) {
          auto h = testing::MakeContext(isa, threads);
          auto packed = PackedMatrix::PackRows(views, h.ctx);
          ASSERT_TRUE(packed.ok()) << packed.status().ToString();
          EXPECT_TRUE(SameBytes(*packed, want))
              << DTypeName(dtype) << " K=" << shape.k << " parts=" << shape.rows.size()
              << " isa=" << IsaName(isa) << " threads=" << threads;
        }
      }
    }
  }
}

// Large enough for several tasks (2 MiB each: 4 here), so that with several threads the
// panels really are written by different threads.
TEST(MatmulPackTest, ManyTasksGiveTheSameBytesOnEveryThreadCount) {
  Source a(1000, 2048, 2050, DType::kBF16, 7), b(533, 2048, 2048, DType::kBF16, 8);
  std::vector<Source> both;
  both.push_back(a);
  both.push_back(b);
  const TensorView views[2] = {both[0].View(), both[1].View()};
  const std::vector<uint8_t> want = Expected(both);
  for (Isa isa : testing::TestableIsas()) {
    for (int threads : {1, 2, 4}) {
      auto h = testing::MakeContext(isa, threads);
      auto packed = PackedMatrix::PackRows(views, h.ctx);
      ASSERT_TRUE(packed.ok()) << packed.status().ToString();
      EXPECT_TRUE(SameBytes(*packed, want)) << IsaName(isa) << " threads=" << threads;
    }
  }
}

}  // namespace
}  // namespace detinfer
