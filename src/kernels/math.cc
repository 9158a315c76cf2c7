// Scalar exp/log (the reference every SIMD path reproduces bit for bit) and the dispatcher of
// the elementwise Exp/Log ops.
#include "kernels/math.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "kernels/math_isa.h"
#include "kernels/simd/math_constants.h"
#include "kernels/operand_checks.h"
#include "kernels/registry.h"

namespace detinfer {

namespace mc = kernels::math_constants;

namespace {

float FloatFromBits(uint32_t u) { return std::bit_cast<float>(u); }
uint32_t BitsFromFloat(float f) { return std::bit_cast<uint32_t>(f); }

// 2^k for k in [-126, 127], built from its exponent field.
float Pow2(int32_t k) {
  return FloatFromBits(static_cast<uint32_t>(k + mc::kFloatExpBias) << 23);
}

}  // namespace

// Every statement below has a one-to-one counterpart in Exp8/Exp16; see math.h for the
// sequence and why each step is exact or rounds exactly once.
float ExpF(float x) {
  if (std::isnan(x)) return x + x;  // SIMD: the same x + x, blended in at the end
  // The clamp as x86 max/min would do it (identical for every non-NaN x).
  float xc = x > mc::kExpLo ? x : mc::kExpLo;
  xc = xc < mc::kExpHi ? xc : mc::kExpHi;
  const float t = xc * mc::kLog2e;
  const float kf = (t + mc::kRoundMagic) - mc::kRoundMagic;
  float r = std::fma(-kf, mc::kLn2Hi, xc);
  r = std::fma(-kf, mc::kLn2Lo, r);
  float p = mc::kExpP0;
  p = std::fma(p, r, mc::kExpP1);
  p = std::fma(p, r, mc::kExpP2);
  p = std::fma(p, r, mc::kExpP3);
  p = std::fma(p, r, mc::kExpP4);
  p = std::fma(p, r, mc::kExpP5);
  const float z = r * r;
  float y = std::fma(p, z, r);
  y = y + 1.0f;
  const int32_t k = static_cast<int32_t>(kf);  // kf is an integer in [-150, 128]: exact
  const int32_t k1 = k >> 1;                   // floor(k / 2): arithmetic shift (C++20)
  const int32_t k2 = k - k1;
  return (y * Pow2(k1)) * Pow2(k2);
}

float LogF(float x) {
  if (std::isnan(x)) return x + x;
  if (x < 0.0f) return FloatFromBits(mc::kQuietNaNBits);
  if (x == 0.0f) return FloatFromBits(mc::kNegInfBits);
  if (x == FloatFromBits(mc::kPosInfBits)) return x;
  int32_t adjust = 0;
  if (x < mc::kFloatMinNormal) {  // subnormal: scale into the normal range (exact)
    x = x * mc::kTwo23;
    adjust = mc::kTwo23Exponent;
  }
  const uint32_t u = BitsFromFloat(x);
  const int32_t e = static_cast<int32_t>(u >> 23) - mc::kLogExpOffset - adjust;
  float m = FloatFromBits((u & mc::kMantissaMask) | mc::kHalfExponentBits);
  float fe = static_cast<float>(e);
  if (m < mc::kSqrtHalf) {
    fe = fe - 1.0f;
    m = m + m;
  }
  const float f = m - 1.0f;  // exact: Sterbenz
  float p = mc::kLogP0;
  p = std::fma(p, f, mc::kLogP1);
  p = std::fma(p, f, mc::kLogP2);
  p = std::fma(p, f, mc::kLogP3);
  p = std::fma(p, f, mc::kLogP4);
  p = std::fma(p, f, mc::kLogP5);
  p = std::fma(p, f, mc::kLogP6);
  p = std::fma(p, f, mc::kLogP7);
  p = std::fma(p, f, mc::kLogP8);
  const float z = f * f;
  float y = (p * f) * z;
  y = std::fma(fe, mc::kLn2Lo, y);
  y = std::fma(z, -0.5f, y);
  float r = f + y;
  r = std::fma(fe, mc::kLn2Hi, r);
  return r;
}

// tanh's Taylor coefficients x^3 .. x^17 (math.h), rounded to float.
float TanhF(float x) {
  namespace mc = kernels::math_constants;
  if (std::isnan(x)) return x + x;
  const float a = std::fabs(x);
  if (a < mc::kTanhSmall) {
    const float x2 = a * a;
    float p = mc::kTanhC17;
    for (const float c : {mc::kTanhC15, mc::kTanhC13, mc::kTanhC11, mc::kTanhC9, mc::kTanhC7,
                          mc::kTanhC5, mc::kTanhC3}) {
      p = std::fma(p, x2, c);
    }
    return std::copysign(std::fma(a * x2, p, a), x);
  }
  const float e = ExpF(-(a + a));
  const float t = (1.0f - e) / (1.0f + e);
  return std::copysign(t, x);
}

namespace {

using RowsFn = void (*)(const float*, int64_t, float*, int64_t, int64_t, int64_t);

Status Elementwise(const KernelContext& ctx, const char* op, TensorView x, TensorView out,
                   const OpRegistry<RowsFn>& registry) {
  const std::string o(op);
  if (x.rank != 1 && x.rank != 2) {
    return Status::InvalidArgument(o + ": x must have rank 1 or 2, got " + x.ShapeString());
  }
  const int rank = x.rank;
  DETINFER_RETURN_IF_ERROR(CheckTensor(x, o + ": x", rank, DType::kF32));
  DETINFER_RETURN_IF_ERROR(CheckTensor(out, o + ": out", rank, DType::kF32));
  DETINFER_RETURN_IF_ERROR(kernels::CheckSameShape(op, out, "out", x, "x"));
  DETINFER_RETURN_IF_ERROR(kernels::CheckInPlaceOrDisjoint(op, out, "out", x, "x"));
  const int64_t m = rank == 2 ? x.dim(0) : 1;
  const int64_t n = x.dim(rank - 1);
  if (m == 0 || n == 0) return Status::Ok();
  const int64_t xs = rank == 2 ? x.stride[0] : n;
  const int64_t os = rank == 2 ? out.stride[0] : n;

  DETINFER_ASSIGN_OR_RETURN(const RowsFn fn, registry.For(Device::kCpu, ctx.isa));
  const float* xp = x.as<const float>();
  float* op_ = out.as<float>();

  // Elementwise: an element's bits depend only on its own value, so long rows may also be cut
  // into column chunks; chunk boundaries are multiples of 16 only for speed.
  constexpr int64_t kChunk = kernels::kElementsPerTask;
  if (n > kChunk) {
    const int64_t per_row = (n + kChunk - 1) / kChunk;
    ctx.ParallelFor(m * per_row, [&](int64_t t) {
      const int64_t row = t / per_row, c0 = (t % per_row) * kChunk;
      const int64_t len = n - c0 < kChunk ? n - c0 : kChunk;
      fn(xp + row * xs + c0, xs, op_ + row * os + c0, os, len, 1);
    });
    return Status::Ok();
  }
  const int64_t rpt = kernels::RowsPerTask(n);
  ctx.ParallelFor((m + rpt - 1) / rpt, [&](int64_t t) {
    const int64_t r0 = t * rpt;
    const int64_t rows = m - r0 < rpt ? m - r0 : rpt;
    fn(xp + r0 * xs, xs, op_ + r0 * os, os, n, rows);
  });
  return Status::Ok();
}

}  // namespace

Status Exp(const KernelContext& ctx, TensorView x, TensorView out) {
  static const auto kRegistry = CpuOpRegistry<RowsFn>(
      "exp", kernels::scalar::ExpRows
          DETINFER_SIMD_PATHS(kernels::avx2::ExpRows, kernels::avx512::ExpRows,
                              kernels::neon::ExpRows));
  return Elementwise(ctx, "exp", x, out, kRegistry);
}

Status Log(const KernelContext& ctx, TensorView x, TensorView out) {
  static const auto kRegistry = CpuOpRegistry<RowsFn>(
      "log", kernels::scalar::LogRows
          DETINFER_SIMD_PATHS(kernels::avx2::LogRows, kernels::avx512::LogRows,
                              kernels::neon::LogRows));
  return Elementwise(ctx, "log", x, out, kRegistry);
}

}  // namespace detinfer
