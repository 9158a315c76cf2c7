// Block-format matmul: activation quantisation and the split into tasks (kernels/qmatmul.h).
#include "kernels/qmatmul.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "kernels/cpu_tuning.h"
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

Status QuantMatmul(const KernelContext& ctx, const TensorView& x, const PackedMatrix& w,
                   const TensorView* bias, const TensorView& y, const CpuTuning& tuning) {
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
                         y.as<float>(), y.stride[0], QuantPrefetchBytes(tuning, ctx.isa, m)};
  // Decode (a few rows) streams the weight once. Short tasks cost it nothing: each thread takes
  // a contiguous share of them in order (core/thread_pool.h), so its stream runs on from one
  // task into the next, as the prefetchers expect (qmatmul_tile.h).
  ParallelTiles(ctx, m, w.num_panels(), kQuantRowsPerTask, kPanelsPerTask,
                [&](int64_t m0, int64_t m1, int64_t p0, int64_t p1) { tile(args, m0, m1, p0, p1); });
  return Status::Ok();
}

}  // namespace kernels
}  // namespace detinfer
