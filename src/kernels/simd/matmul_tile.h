// The matmul tile loop shared by the AVX2 and AVX-512 paths, written once over a "panel
// register" type P that holds one 16-column panel row (one zmm, or two ymm).
//
// Included only by *_avx2.cc / *_avx512.cc; everything here has internal linkage (anonymous
// namespace), per the rule in cmake/Flags.cmake.
//
// Why the loops are ordered as they are (the arithmetic per output never changes, see
// matmul.h; only speed does):
//  - a micro-tile keeps MR rows x NP panels of accumulators in registers; per k it loads NP
//    weight vectors and broadcasts MR activations, then issues MR*NP FMAs;
//  - over k the tile runs in blocks of kKBlock: the partial accumulators go to y and come
//    back unchanged, so an MR-row slice of x (MR * kKBlock floats) stays in L1 while the
//    tile walks across the task's panels, whose kKBlock-deep slices stay in L2;
//  - small M (decode) takes the whole K in one block: nothing is reused, weights stream once;
//    where a.prefetch_bytes is set (kernels/cpu_tuning.h: bf16 / f16 weights on Intel) the
//    tile then prefetches each of its panel streams that far ahead, one line per 64 bytes.
//
// bf16 weights follow matmul_bf16.h, by P::kBf16Mode:
//   kBf16Flush: the fp32 FMA loop with MXCSR's FTZ and DAZ set around the tiles (x holds the
//               activations rounded to bf16, as f32);
//   kBf16Pairs: vdpbf16ps over pairs of k (x holds bf16 pairs), the AVX512_BF16 path;
//   kBf16None:  the caller runs another loop (the NEON path runs the scalar one).
// Either way the bias is added after the tiles, outside the flushing mode (step 3).
#ifndef DETINFER_KERNELS_SIMD_MATMUL_TILE_H_
#define DETINFER_KERNELS_SIMD_MATMUL_TILE_H_

#include <cstdint>

#include "kernels/matmul_isa.h"

namespace detinfer::kernels {
namespace {

constexpr int64_t kKBlock = 256;  // even: a k block never splits a bf16 pair

enum Bf16Mode { kBf16None, kBf16Flush, kBf16Pairs };

template <typename P, DType DT, int MR, int NP, bool kPrefetch>
void MicroTile(const MatmulArgs& a, int64_t m, int64_t p, int64_t k0, int64_t k1) {
  typename P::Reg acc[MR][NP];
  typename P::Mask mask[NP];
  const int64_t panel_stride = (a.w_rows != 0 ? a.w_rows : a.k) * 16;
#pragma GCC unroll 8
  for (int q = 0; q < NP; ++q) {
    const int64_t valid = a.n - (p + q) * 16;
    mask[q] = P::ValidMask(valid >= 16 ? 16 : static_cast<int>(valid));
  }
  const bool first = k0 == 0;
  const bool last = k1 == a.k;
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 8
    for (int q = 0; q < NP; ++q) {
      acc[r][q] = first ? P::Zero() : P::LoadY(a.y + (m + r) * a.ldy + (p + q) * 16, mask[q]);
    }
  }
  const float* xr[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) xr[r] = a.x + (m + r) * a.ldx;
  const int64_t w0 = (p - a.w_p0) * panel_stride - a.w_k0 * 16;  // + k * 16: row k
  if constexpr (DT == DType::kBF16 && P::kBf16Mode == kBf16Pairs) {
    // Pairs (k, k + 1) by one vdpbf16ps each; an odd K's last k pairs with the -0 product.
    for (int64_t k = k0; k < k1; k += 2) {
      typename P::Reg w[NP];
      const bool tail = k + 1 == k1;
#pragma GCC unroll 8
      for (int q = 0; q < NP; ++q) {
        w[q] = tail ? P::LoadBf16Tail(a.w, w0 + q * panel_stride + k * 16)
                    : P::LoadBf16Pair(a.w, w0 + q * panel_stride + k * 16);
      }
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const typename P::Reg xb = P::BroadcastPair(xr[r] + k / 2);
#pragma GCC unroll 8
        for (int q = 0; q < NP; ++q) acc[r][q] = P::DotBf16(xb, w[q], acc[r][q]);
      }
    }
  } else {
    for (int64_t k = k0; k < k1; ++k) {
      if constexpr (kPrefetch) {  // 16-bit weights only: one 64-byte line per two panel rows
        if (k % 2 == 0) {
#pragma GCC unroll 8
          for (int q = 0; q < NP; ++q) {
            __builtin_prefetch(static_cast<const char*>(a.w) + (w0 + q * panel_stride + k * 16) * 2 +
                                   a.prefetch_bytes, 0, 3);
          }
        }
      }
      typename P::Reg w[NP];
#pragma GCC unroll 8
      for (int q = 0; q < NP; ++q) w[q] = P::template LoadW<DT>(a.w, w0 + q * panel_stride + k * 16);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const typename P::Bcast xb = P::Broadcast(xr[r][k]);
#pragma GCC unroll 8
        for (int q = 0; q < NP; ++q) acc[r][q] = P::Fma(xb, w[q], acc[r][q]);
      }
    }
  }
  if (last && a.bias != nullptr) {
#pragma GCC unroll 8
    for (int q = 0; q < NP; ++q) {
      const typename P::Reg b = P::LoadY(a.bias + (p + q) * 16, mask[q]);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) acc[r][q] = P::Add(acc[r][q], b);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 8
    for (int q = 0; q < NP; ++q) P::StoreY(a.y + (m + r) * a.ldy + (p + q) * 16, mask[q], acc[r][q]);
  }
}

using MicroFn = void (*)(const MatmulArgs&, int64_t, int64_t, int64_t, int64_t);

// kTable[mr-1][np-1] for 1 <= mr <= MRMax, 1 <= np <= NPMax.
template <typename P, DType DT, int MRMax, int NPMax, bool kPrefetch>
struct MicroTable {
  MicroFn fn[MRMax][NPMax];
  constexpr MicroTable() : fn() { Fill<1>(); }
  template <int MR>
  constexpr void Fill() {
    if constexpr (MR <= MRMax) {
      FillRow<MR, 1>();
      Fill<MR + 1>();
    }
  }
  template <int MR, int NP>
  constexpr void FillRow() {
    if constexpr (NP <= NPMax) {
      fn[MR - 1][NP - 1] = &MicroTile<P, DT, MR, NP, kPrefetch>;
      FillRow<MR, NP + 1>();
    }
  }
};

// y[m0:m1, panels p0:p1] += bias (matmul_bf16.h step 3).
template <typename P>
void AddBias(const MatmulArgs& a, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t valid = a.n - p * 16;
    const typename P::Mask mask = P::ValidMask(valid >= 16 ? 16 : static_cast<int>(valid));
    const typename P::Reg b = P::LoadY(a.bias + p * 16, mask);
    for (int64_t m = m0; m < m1; ++m) {
      float* y = a.y + m * a.ldy + p * 16;
      P::StoreY(y, mask, P::Add(P::LoadY(y, mask), b));
    }
  }
}

// Rows dealt into equal tiles (8 rows with MRMax 6 -> 4 + 4, not 6 + 2): a thin tail tile
// would convert and load every weight vector for too few FMAs.
template <int MRMax>
int64_t TileRows(int64_t m0, int64_t m1) {
  const int64_t tiles = (m1 - m0 + MRMax - 1) / MRMax;
  return (m1 - m0 + tiles - 1) / tiles;
}

// Prefill (more rows than one tile) with 16-bit weights: every row tile would widen the same
// weights again, which costs a third of the FMA ports' time (a widening per panel row per tile,
// beside its MR FMAs). So each k block of each panel group is widened once, exactly, into an
// fp32 copy, and every row tile runs the f32 tile over it. The values the FMAs see are the
// same (a bf16 subnormal stays subnormal and still reads as zero in the flushing mode), and so
// is the order: for each row tile and panel group the k blocks still come in ascending order,
// each continuing the accumulators the last one stored. Only the loop nest differs (panel
// group outside the row tiles).
template <typename P, DType DT, int MRMax, int NPMax>
void WidenedTileLoop(const MatmulArgs& a, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  static constexpr MicroTable<P, DType::kF32, MRMax, NPMax, false> kTable;
  alignas(64) float wide[kKBlock * 16 * NPMax];
  const typename P::Mask all = P::ValidMask(16);
  const int64_t tile_rows = TileRows<MRMax>(m0, m1);
  for (int64_t k0 = 0; k0 < a.k; k0 += kKBlock) {
    const int64_t k1 = k0 + kKBlock < a.k ? k0 + kKBlock : a.k;
    for (int64_t p = p0; p < p1; p += NPMax) {
      const int64_t np = p1 - p < NPMax ? p1 - p : NPMax;
      for (int64_t q = 0; q < np; ++q) {
        for (int64_t k = k0; k < k1; ++k) {
          P::StoreY(wide + (q * (k1 - k0) + k - k0) * 16, all,
                    P::template LoadW<DT>(a.w, ((p + q) * a.k + k) * 16));
        }
      }
      MatmulArgs wa = a;
      wa.w = wide;
      wa.w_dtype = DType::kF32;
      wa.w_p0 = p, wa.w_k0 = k0, wa.w_rows = k1 - k0;
      for (int64_t m = m0; m < m1; m += tile_rows) {
        const int64_t mr = m1 - m < tile_rows ? m1 - m : tile_rows;
        kTable.fn[mr - 1][np - 1](wa, m, p, k0, k1);
      }
    }
  }
}

// Rows [m0, m1) x panels [p0, p1), tiles of up to MRMax x NPMax.
template <typename P, DType DT, int MRMax, int NPMax>
void TileLoop(const MatmulArgs& args, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  static constexpr MicroTable<P, DT, MRMax, NPMax, false> kTable;
  MatmulArgs a = args;
  [[maybe_unused]] unsigned csr = 0;
  if constexpr (DT == DType::kBF16) {
    a.bias = nullptr;  // added after the tiles
    if constexpr (P::kBf16Mode == kBf16Flush) csr = P::EnterFlushMode();
  }
  const bool small_m = (m1 - m0) <= MRMax;
  const int64_t kblock = small_m ? a.k : kKBlock;
  if constexpr (DT != DType::kF32 && !(DT == DType::kBF16 && P::kBf16Mode == kBf16Pairs)) {
    if (!small_m && a.k > 0) {
      WidenedTileLoop<P, DT, MRMax, NPMax>(a, m0, m1, p0, p1);
      if constexpr (DT == DType::kBF16) {
        if constexpr (P::kBf16Mode == kBf16Flush) P::LeaveFlushMode(csr);
        if (args.bias != nullptr) AddBias<P>(args, m0, m1, p0, p1);
      }
      return;
    }
  }
  // The prefetching tiles: a template argument, so the other tiles carry no test for it; and
  // only for the 16-bit weights, the only ones that asked for it (kernels/cpu_tuning.h).
  [[maybe_unused]] const MicroTable<P, DT, MRMax, NPMax, true>* prefetching = nullptr;
  if constexpr (DT != DType::kF32) {
    static constexpr MicroTable<P, DT, MRMax, NPMax, true> kPrefetchTable;
    if (small_m && a.prefetch_bytes != 0) prefetching = &kPrefetchTable;
  }
  for (int64_t k0 = 0; k0 < a.k || k0 == 0; k0 += kblock) {
    const int64_t k1 = k0 + kblock < a.k ? k0 + kblock : a.k;
    const int64_t tile_rows = TileRows<MRMax>(m0, m1);
    for (int64_t m = m0; m < m1; m += tile_rows) {
      const int64_t mr = m1 - m < tile_rows ? m1 - m : tile_rows;
      for (int64_t p = p0; p < p1; p += NPMax) {
        const int64_t np = p1 - p < NPMax ? p1 - p : NPMax;
        (prefetching != nullptr ? prefetching->fn : kTable.fn)[mr - 1][np - 1](a, m, p, k0, k1);
      }
    }
    if (a.k == 0) break;
  }
  if constexpr (DT == DType::kBF16) {
    // The micro tiles ran through the function table, so no FP operation of theirs can be
    // moved across these mode changes.
    if constexpr (P::kBf16Mode == kBf16Flush) P::LeaveFlushMode(csr);
    if (args.bias != nullptr) AddBias<P>(args, m0, m1, p0, p1);
  }
}

template <typename P, int MRMax, int NPMax>
void TileDispatch(const MatmulArgs& a, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  switch (a.w_dtype) {
    case DType::kF32: TileLoop<P, DType::kF32, MRMax, NPMax>(a, m0, m1, p0, p1); break;
    case DType::kBF16:
      if constexpr (P::kBf16Mode != kBf16None) TileLoop<P, DType::kBF16, MRMax, NPMax>(a, m0, m1, p0, p1);
      break;
    case DType::kF16: TileLoop<P, DType::kF16, MRMax, NPMax>(a, m0, m1, p0, p1); break;
    default: break;  // block formats take the quantised kernel (qmatmul.h)
  }
}

}  // namespace
}  // namespace detinfer::kernels

#endif  // DETINFER_KERNELS_SIMD_MATMUL_TILE_H_
