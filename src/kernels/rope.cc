// RoPE: the cos/sin table, operand validation and dispatch to the ISA path.
#include "kernels/rope.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "core/portable_math.h"
#include "kernels/rope_isa.h"
#include "kernels/registry.h"

namespace detinfer {

namespace {

// Tokens of about this many elements form one task. Every (token, head) is rotated by one task
// with the same arithmetic, so the chunking only affects speed, never a bit (SPEC §A6).
constexpr int64_t kRopeElementsPerTask = 16384;
// Bound on positions * rotary_dim / 2 (per table): 2^28 floats = 1 GiB each for cos and sin.
constexpr int64_t kMaxTableEntries = int64_t{1} << 28;
// Largest angle PortableSinCos takes.
constexpr double kMaxAngle = 0x1p27;

using HeadsFn = void (*)(float*, int64_t, int64_t, int64_t, const float*, const float*, int);

HeadsFn SelectHeads(Isa isa) {
  static const auto kRegistry =
      CpuOpRegistry<HeadsFn>("rope", kernels::scalar::RopeHeads
          DETINFER_SIMD_PATHS(kernels::avx2::RopeHeads, kernels::avx512::RopeHeads,
                              kernels::neon::RopeHeads));
  return kRegistry.For(Device::kCpu, isa).value();  // every CPU path is registered
}

}  // namespace

Result<RopeTable> RopeTable::Create(int head_dim, int rotary_dim, double theta,
                                    int max_positions, std::span<const float> divisors) {
  if (head_dim <= 0) {
    return Status::InvalidArgument("rope: head_dim must be > 0, got " + std::to_string(head_dim));
  }
  if (rotary_dim <= 0 || rotary_dim > head_dim || rotary_dim % 2 != 0) {
    return Status::InvalidArgument("rope: rotary_dim must be even and in (0, head_dim=" +
                                   std::to_string(head_dim) + "], got " +
                                   std::to_string(rotary_dim));
  }
  if (!std::isfinite(theta) || theta <= 0.0) {
    return Status::InvalidArgument("rope: theta must be finite and > 0, got " +
                                   std::to_string(theta));
  }
  const int64_t half = rotary_dim / 2;
  if (!divisors.empty() && static_cast<int64_t>(divisors.size()) != half) {
    return Status::InvalidArgument("rope: " + std::to_string(divisors.size()) +
                                   " frequency divisors for rotary_dim " +
                                   std::to_string(rotary_dim) + " (expected " +
                                   std::to_string(half) + ")");
  }
  for (size_t i = 0; i < divisors.size(); ++i) {
    if (!(std::isfinite(divisors[i]) && divisors[i] > 0.0f)) {
      return Status::InvalidArgument("rope: frequency divisor " + std::to_string(i) + " is " +
                                     std::to_string(divisors[i]) + " (must be finite and > 0)");
    }
  }
  if (max_positions <= 0 || int64_t{max_positions} * half > kMaxTableEntries) {
    return Status::InvalidArgument("rope: max_positions must be in [1, " +
                                   std::to_string(kMaxTableEntries / half) + "] for rotary_dim " +
                                   std::to_string(rotary_dim) + ", got " +
                                   std::to_string(max_positions));
  }
  RopeTable t;
  t.head_dim_ = head_dim;
  t.rotary_dim_ = rotary_dim;
  t.theta_ = theta;
  t.max_positions_ = max_positions;
  // Double precision throughout, rounded to fp32 once at the end: the table is the same on
  // every ISA path because it is data, computed here by plain scalar code — and the same on
  // every machine because pow/sin/cos are our own (core/portable_math.h), not the C library's.
  std::vector<double> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    inv_freq[size_t(i)] = PortablePow(theta, -double(2 * i) / double(rotary_dim));
    if (!divisors.empty()) inv_freq[size_t(i)] /= double(divisors[size_t(i)]);
    if (!std::isfinite(inv_freq[size_t(i)]) ||
        double(max_positions - 1) * inv_freq[size_t(i)] > kMaxAngle) {
      char theta_text[32];
      std::snprintf(theta_text, sizeof theta_text, "%.17g", theta);
      return Status::InvalidArgument(std::string("rope: theta ") + theta_text +
                                     " gives frequencies whose angles over " +
                                     std::to_string(max_positions) +
                                     " positions leave the supported range (2^27 rad)");
    }
  }
  t.cos_.resize(size_t(max_positions * half));
  t.sin_.resize(t.cos_.size());
  for (int64_t p = 0; p < max_positions; ++p) {
    for (int64_t i = 0; i < half; ++i) {
      const double angle = double(p) * inv_freq[size_t(i)];
      double s = 0.0, c = 0.0;
      PortableSinCos(angle, &s, &c);
      t.cos_[size_t(p * half + i)] = static_cast<float>(c);
      t.sin_[size_t(p * half + i)] = static_cast<float>(s);
    }
  }
  return t;
}

Status ApplyRope(const KernelContext& ctx, const RopeTable& table, RopeStyle style, TensorView x,
                 const int32_t* positions) {
  DETINFER_RETURN_IF_ERROR(CheckTensor(x, "rope: x", 3, DType::kF32));
  if (x.dim(2) != table.head_dim()) {
    return Status::InvalidArgument("rope: x has shape " + x.ShapeString() +
                                   " but the table's head_dim is " +
                                   std::to_string(table.head_dim()));
  }
  const int64_t tokens = x.dim(0), heads = x.dim(1);
  if (tokens == 0) return Status::Ok();
  if (positions == nullptr) {
    return Status::InvalidArgument("rope: positions is null for " + std::to_string(tokens) +
                                   " tokens");
  }
  // Every position is checked before anything is modified, so an error leaves x untouched.
  for (int64_t t = 0; t < tokens; ++t) {
    if (positions[t] < 0 || positions[t] >= table.max_positions()) {
      return Status::OutOfRange("rope: position " + std::to_string(positions[t]) + " (token " +
                                std::to_string(t) + ") is outside the table's range [0, " +
                                std::to_string(table.max_positions()) + ")");
    }
  }
  if (heads == 0) return Status::Ok();

  const HeadsFn fn = SelectHeads(ctx.isa);
  const int st = style == RopeStyle::kInterleaved ? kernels::kRopeInterleaved
                                                  : kernels::kRopeRotateHalf;
  const int64_t tokens_per_task = std::max<int64_t>(1, kRopeElementsPerTask / (heads * x.dim(2)));
  const int64_t tasks = (tokens + tokens_per_task - 1) / tokens_per_task;
  ctx.ParallelFor(tasks, [&](int64_t task) {
    const int64_t t0 = task * tokens_per_task;
    const int64_t t1 = std::min(tokens, t0 + tokens_per_task);
    for (int64_t t = t0; t < t1; ++t) {
      fn(x.row<float>(t), x.stride[1], heads, table.rotary_dim(), table.cos_row(positions[t]),
         table.sin_row(positions[t]), st);
    }
  });
  return Status::Ok();
}

}  // namespace detinfer
