// Block-format matmul: activation quantisation and the split into tasks (kernels/qmatmul.h).
#include "kernels/qmatmul.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "kernels/qmatmul_isa.h"
#include "kernels/registry.h"
#include "kernels/simd/qmatmul_layout.h"

namespace detinfer {

void QuantizeActivationRow(const float* x, int64_t k, int8_t* q, float* dx, int32_t* s16) {
  for (int64_t g = 0; g < k / 32; ++g) {
    const float* xg = x + 32 * g;
    int8_t* qg = q + 32 * g;
    bool finite = true;
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) {
      finite = finite && std::isfinite(xg[i]);
      amax = std::max(amax, std::fabs(xg[i]));
    }
    if (!finite) {
      dx[g] = std::numeric_limits<float>::quiet_NaN();
      std::fill(qg, qg + 32, int8_t{0});
    } else {
      dx[g] = amax / 127.0f;
      const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
      for (int i = 0; i < 32; ++i) {
        // A NaN product (0 * Inf, when amax is so small that 127 / amax overflows) counts as 0.
        const float v = xg[i] * inv;
        const float r = std::isnan(v) ? 0.0f : std::nearbyint(v);  // ties to even (default mode)
        qg[i] = static_cast<int8_t>(std::clamp(r, -127.0f, 127.0f));
      }
    }
    for (int h = 0; h < 2; ++h) {
      int32_t s = 0;
      for (int i = 0; i < 16; ++i) s += qg[16 * h + i];
      s16[2 * g + h] = s;
    }
  }
}

namespace kernels {

namespace {

// A task is a block of rows x a block of panels; only who computes what (qmatmul.h).
constexpr int64_t kQuantRowsPerTask = 64;
constexpr int64_t kPanelsPerTask = 8;

}  // namespace

// How far ahead of its panel stream a tile prefetches (QMatmulArgs::prefetch_bytes). Only the
// speed depends on it, so it may follow the CPU. Measured on 110M decode (2 threads, variants
// alternated run by run; docs/kernels.md):
//  - AVX-512 on AMD Zen 4: each thread streams one contiguous share of the panels and the
//    hardware prefetcher follows it on its own; prefetches 16 KiB ahead cost Q8_0 17 %, Q4_K_M
//    10 %, Q5_K_M 20 %, Q6_K 24 % (Q4_0 within noise), and 2-8 KiB did no better.
//  - AVX-512 on Intel Xeon (Emerald Rapids, 2 MiB L2 per core): the opposite. An M = 1 stream
//    over 768 x 32000 weights reads 1.2x (Q8_0) to 1.6x (Q4_K, Q6_K) faster with T0 prefetches
//    4 KiB ahead, and decode gains Q8_0 3-8 %, Q4_0 12-18 %, Q4_K_M 22-26 %, Q6_K 25-32 % (2 and
//    8 KiB about alike, T1 and T2 worse). Prefill lost up to 10 % with them (a task re-reads its
//    panels from L2 for each tile of rows), so only calls of at most one tile of rows prefetch.
//  - AVX2 (measured on Zen 4: Q6_K 10 % faster) and NEON: 16 KiB, every call.
size_t PanelPrefetchBytes(Isa isa, int64_t m) {
  switch (isa) {
    case Isa::kAvx2:
    case Isa::kNeon:
      return 16384;
    case Isa::kAvx512:
    case Isa::kAvx512Bf16: {
      static const bool kIntel = DetectCpuFeatures().vendor == "GenuineIntel";
      return kIntel && m <= 4 ? 4096 : 0;
    }
    case Isa::kScalar:
      return 0;
  }
  return 0;
}

Status QuantMatmul(const KernelContext& ctx, const TensorView& x, const PackedMatrix& w,
                   const TensorView* bias, const TensorView& y) {
  const int64_t m = x.shape[0], k = x.shape[1], n = w.n();
  static const auto kRegistry =
      CpuOpRegistry("quantised matmul", &scalar::QMatmulTile
          DETINFER_SIMD_PATHS_BF16(&avx2::QMatmulTile, &avx512::QMatmulTile,
                                   &avx512bf16::QMatmulTile, &neon::QMatmulTile));
  static const auto kQuantizeRegistry =
      CpuOpRegistry("activation quantisation", &scalar::QuantizeRows
          DETINFER_SIMD_PATHS(&avx2::QuantizeRows, &avx512::QuantizeRows,
                              &neon::QuantizeRows));
  DETINFER_ASSIGN_OR_RETURN(auto tile, kRegistry.For(Device::kCpu, ctx.isa));
  DETINFER_ASSIGN_OR_RETURN(auto quantize, kQuantizeRegistry.For(Device::kCpu, ctx.isa));
  // Step 1, row by row (each row's result is its own, whoever computes it). Every element of
  // the buffers is written before it is read: no zero fill.
  const auto xq = std::make_unique_for_overwrite<int8_t[]>(static_cast<size_t>(m * k));
  const auto xd = std::make_unique_for_overwrite<float[]>(static_cast<size_t>(m * (k / 32)));
  const auto xs = std::make_unique_for_overwrite<int32_t[]>(static_cast<size_t>(m * (k / 16)));
  const int64_t rows = std::max<int64_t>(1, 16384 / std::max<int64_t>(k, 1));
  ctx.ParallelFor((m + rows - 1) / rows, [&](int64_t t) {
    quantize(x.as<const float>(), x.stride[0], t * rows, std::min(m, (t + 1) * rows), k,
             xq.get(), xd.get(), xs.get());
  });
  const QMatmulArgs args{xq.get(), xd.get(), xs.get(), k, k / 32, k / 16, m, k, n,
                         w.dtype(), static_cast<const uint8_t*>(w.data()),
                         QPanelBytes(w.dtype(), k), bias ? bias->as<const float>() : nullptr,
                         y.as<float>(), y.stride[0], PanelPrefetchBytes(ctx.isa, m)};
  // Decode (a few rows) streams the weight once. Short tasks cost it nothing: each thread takes
  // a contiguous share of them in order (core/thread_pool.h), so its stream runs on from one
  // task into the next, as the prefetchers expect (qmatmul_tile.h).
  ParallelTiles(ctx, m, w.num_panels(), kQuantRowsPerTask, kPanelsPerTask,
                [&](int64_t m0, int64_t m1, int64_t p0, int64_t p1) { tile(args, m0, m1, p0, p1); });
  return Status::Ok();
}

}  // namespace kernels
}  // namespace detinfer
