// RoPE frequency scaling as Hugging Face defines it (rope_scaling / rope_parameters in
// config.json), reduced to the per-frequency divisors the RoPE table takes (config.h,
// RopeScaling). Supported: "linear" (every frequency / factor) and "llama3" (Llama-3.1/3.2:
// long wavelengths / factor, short ones unchanged, a smooth blend between). Other kinds
// ("dynamic", "yarn", "longrope", ...) are refused by name, never ignored.
#ifndef DETINFER_MODEL_ROPE_SCALING_H_
#define DETINFER_MODEL_ROPE_SCALING_H_

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"
#include "model/config.h"

namespace detinfer {

// From a config.json rope_scaling object (or rope_parameters, whose rope_theta the caller has
// taken out): kind and parameters, and the divisors for head_dim / theta. "default" gives kNone.
// Errors name `src` and the field.
Result<RopeScaling> ParseHfRopeScaling(const nlohmann::json& obj, int64_t head_dim, double theta,
                                       const std::string& src);

// The divisors of `s` for a model of head_dim and theta, in double, each rounded to fp32 once:
//   linear: d_i = factor
//   llama3: with inv_i = theta^(-2i/head_dim), wavelen_i = 2 pi / inv_i and the original context
//     L: d_i = 1 where wavelen_i < L / high_freq_factor; factor where wavelen_i > L /
//     low_freq_factor; else 1 / ((1 - s_i) / factor + s_i) with s_i = (L / wavelen_i -
//     low_freq_factor) / (high_freq_factor - low_freq_factor)   (transformers'
//     _compute_llama3_parameters, written as the divisor of inv_i).
Status ComputeRopeDivisors(int64_t head_dim, double theta, RopeScaling* s);

// The rope_scaling object config.json carries for `s` (null for kNone). A GGUF file's
// frequency factors have no config.json form: Unsupported.
Result<nlohmann::json> HfRopeScalingJson(const RopeScaling& s);

}  // namespace detinfer

#endif  // DETINFER_MODEL_ROPE_SCALING_H_
