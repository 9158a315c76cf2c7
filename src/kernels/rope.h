// Rotary position embedding (RoPE).
//
// The cos/sin table is data, built once in double precision and rounded to fp32, so every ISA
// path reads the same numbers:
//   inv_freq_i = theta^(-2i / rotary_dim) / d_i           (double, PortablePow; d_i = 1
//                                                         unless frequency scaling gives them)
//   angle      = double(pos) * inv_freq_i                 (double)
//   cos[pos][i] = float(cos(angle)), sin[pos][i] = float(sin(angle))   (PortableSinCos)
// (core/portable_math.h: the engine's own functions, so the table is the same on every machine)
// for pos in [0, max_positions), i in [0, rotary_dim/2).
//
// Applying it to one pair (x0, x1) with (c, s) = (cos[pos][i], sin[pos][i]), in fp32:
//   y0 = (x0 * c) - (x1 * s)
//   y1 = (x0 * s) + (x1 * c)
// Two rounded products, then one rounded subtraction / addition; no FMA on any path (an FMA
// would round differently, and the contract is the same bits on every path, not the fewest
// roundings). Elements past rotary_dim pass through unchanged. NaN/Inf in x propagate through
// the same arithmetic (an Inf paired with a zero table entry gives NaN); which NaN payload
// comes out is not part of the contract.
#ifndef DETINFER_KERNELS_ROPE_H_
#define DETINFER_KERNELS_ROPE_H_

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/context.h"

namespace detinfer {

enum class RopeStyle {
  kRotateHalf,   // pairs (i, i + rotary_dim/2): Hugging Face Llama / Qwen ("rotate_half")
  kInterleaved,  // pairs (2i, 2i+1): llama2.c, GGUF llama (ggml "normal" mode)
};

class RopeTable {
 public:
  // head_dim > 0; rotary_dim even, in (0, head_dim]; theta finite and > 0;
  // max_positions > 0; `divisors` empty or rotary_dim/2 finite values > 0 (RoPE frequency
  // scaling: model/rope_scaling.h). Errors name the bad argument.
  static Result<RopeTable> Create(int head_dim, int rotary_dim, double theta, int max_positions,
                                  std::span<const float> divisors = {});
  // An empty table (no positions): every ApplyRope with it is OutOfRange.
  RopeTable() = default;

  int head_dim() const { return head_dim_; }
  int rotary_dim() const { return rotary_dim_; }
  double theta() const { return theta_; }
  int max_positions() const { return max_positions_; }
  // rotary_dim/2 values for position `pos` (no bounds check; ApplyRope checks).
  const float* cos_row(int64_t pos) const { return cos_.data() + pos * (rotary_dim_ / 2); }
  const float* sin_row(int64_t pos) const { return sin_.data() + pos * (rotary_dim_ / 2); }

 private:
  int head_dim_ = 0, rotary_dim_ = 0, max_positions_ = 0;
  double theta_ = 0;
  std::vector<float> cos_, sin_;
};

// Rotates x [T, H, head_dim] f32 in place; token t uses table row positions[t].
// A position outside [0, max_positions) is OutOfRange (nothing is modified then).
Status ApplyRope(const KernelContext& ctx, const RopeTable& table, RopeStyle style, TensorView x,
                 const int32_t* positions);

}  // namespace detinfer

#endif  // DETINFER_KERNELS_ROPE_H_
