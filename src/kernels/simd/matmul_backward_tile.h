// The matmul-backward chain tile (matmul_backward_isa.h) shared by the AVX2 and AVX-512 paths,
// written once over a vector-traits type P (W fp32 lanes: 8 for a ymm, 16 for a zmm).
//
// Included only by *_avx2.cc / *_avx512.cc; everything here has internal linkage (anonymous
// namespace), per the rule in cmake/Flags.cmake.
//
// Why the loops are ordered as they are (the arithmetic per output never changes, see
// matmul_backward.h; only speed does):
//  - lanes are W consecutive output columns c; a micro-tile keeps MR rows x NV vectors of
//    accumulators in registers; per step s it loads NV vectors of b's row s and broadcasts MR
//    values of a, then issues MR*NV FMAs;
//  - steps run in blocks of kStepBlock: partial accumulators go to `out` and come back
//    unchanged (fp32 stores are exact), so a tile's slice of b (kStepBlock x NV*W floats) stays
//    in L1/L2 while the tile walks down the task's rows;
//  - the last vector of a tile may be partial: it uses masked loads/stores (the masked-off
//    lanes are never read or written), so a column's bits never depend on where it sits.
#ifndef DETINFER_KERNELS_SIMD_MATMUL_BACKWARD_TILE_H_
#define DETINFER_KERNELS_SIMD_MATMUL_BACKWARD_TILE_H_

#include <cstdint>

#include "kernels/matmul_backward_isa.h"

namespace detinfer::kernels {
namespace {

constexpr int64_t kStepBlock = 256;

template <typename P, int MR, int NV, bool TAIL>
void ChainMicroTile(const ChainArgs& a, int64_t r, int64_t c, int64_t c_end, int64_t s0,
                    int64_t s1) {
  typename P::Reg acc[MR][NV];
  const typename P::Mask tail =
      P::TailMask(static_cast<int>(TAIL ? c_end - (c + (NV - 1) * P::kWidth) : P::kWidth));
  const bool load = s0 > 0 || a.accumulate;
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    float* o = a.out + (r + i) * a.ldo + c;
#pragma GCC unroll 8
    for (int q = 0; q < NV; ++q) {
      if (!load) {
        acc[i][q] = P::Zero();
      } else if (TAIL && q == NV - 1) {
        acc[i][q] = P::LoadMasked(o + q * P::kWidth, tail);
      } else {
        acc[i][q] = P::Load(o + q * P::kWidth);
      }
    }
  }
  const float* ar[MR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) ar[i] = a.a + (r + i) * a.a_row_stride;
  for (int64_t s = s0; s < s1; ++s) {
    const float* brow = a.b + s * a.ldb + c;
    typename P::Reg bv[NV];
#pragma GCC unroll 8
    for (int q = 0; q < NV; ++q) {
      bv[q] = (TAIL && q == NV - 1) ? P::LoadMasked(brow + q * P::kWidth, tail)
                                    : P::Load(brow + q * P::kWidth);
    }
    const int64_t as = s * a.a_step_stride;
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const typename P::Reg x = P::Broadcast(ar[i][as]);
#pragma GCC unroll 8
      for (int q = 0; q < NV; ++q) acc[i][q] = P::Fma(x, bv[q], acc[i][q]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    float* o = a.out + (r + i) * a.ldo + c;
#pragma GCC unroll 8
    for (int q = 0; q < NV; ++q) {
      if (TAIL && q == NV - 1) {
        P::StoreMasked(o + q * P::kWidth, tail, acc[i][q]);
      } else {
        P::Store(o + q * P::kWidth, acc[i][q]);
      }
    }
  }
}

using ChainMicroFn = void (*)(const ChainArgs&, int64_t, int64_t, int64_t, int64_t, int64_t);

// fn[tail][mr-1][nv-1] for 1 <= mr <= MRMax, 1 <= nv <= NVMax.
template <typename P, int MRMax, int NVMax>
struct ChainMicroTable {
  ChainMicroFn fn[2][MRMax][NVMax];
  constexpr ChainMicroTable() : fn() { Fill<1>(); }
  template <int MR>
  constexpr void Fill() {
    if constexpr (MR <= MRMax) {
      FillRow<MR, 1>();
      Fill<MR + 1>();
    }
  }
  template <int MR, int NV>
  constexpr void FillRow() {
    if constexpr (NV <= NVMax) {
      fn[0][MR - 1][NV - 1] = &ChainMicroTile<P, MR, NV, false>;
      fn[1][MR - 1][NV - 1] = &ChainMicroTile<P, MR, NV, true>;
      FillRow<MR, NV + 1>();
    }
  }
};

// Rows [r0, r1) x columns [c0, c1), tiles of up to MRMax rows x NVMax vectors.
template <typename P, int MRMax, int NVMax>
void ChainTileLoop(const ChainArgs& a, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  static constexpr ChainMicroTable<P, MRMax, NVMax> kTable;
  constexpr int64_t kTileCols = int64_t{NVMax} * P::kWidth;
  int64_t s0 = 0;
  do {  // at least once, so steps == 0 still writes the +0 (or keeps dw) of every output
    const int64_t s1 = a.steps - s0 > kStepBlock ? s0 + kStepBlock : a.steps;
    for (int64_t c = c0; c < c1; c += kTileCols) {
      const int64_t cols = c1 - c < kTileCols ? c1 - c : kTileCols;
      const int64_t nv = (cols + P::kWidth - 1) / P::kWidth;
      const int tail = cols % P::kWidth != 0 ? 1 : 0;
      for (int64_t r = r0; r < r1; r += MRMax) {
        const int64_t mr = r1 - r < MRMax ? r1 - r : MRMax;
        kTable.fn[tail][mr - 1][nv - 1](a, r, c, c + cols, s0, s1);
      }
    }
    s0 = s1;
  } while (s0 < a.steps);
}

}  // namespace
}  // namespace detinfer::kernels

#endif  // DETINFER_KERNELS_SIMD_MATMUL_BACKWARD_TILE_H_
