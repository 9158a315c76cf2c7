// RoPE frequency scaling as Hugging Face defines it (rope_scaling / rope_parameters in
// config.json), reduced to the per-frequency divisors the RoPE table takes (config.h,
// RopeScaling). Supported: "linear" (every frequency / factor), "llama3" (Llama-3.1/3.2:
// long wavelengths / factor, short ones unchanged, a smooth blend between), "longrope"
// ("su" in older Phi-3 files) and "yarn". Other kinds are refused by name, never ignored:
// "dynamic" (NTK) rescales the frequencies as a sequence grows past the trained context, so a
// token's bits would depend on how long its sequence had grown when it was computed.
//
// yarn, as transformers' _compute_yarn_parameters defines it: with the original context L
// (rope_scaling's original_max_position_embeddings, which then also makes factor the ratio
// max_position_embeddings / L; else the config's max_position_embeddings) and rotary dim D,
// the ramp runs between low = floor(D ln(L / (2 pi beta_fast)) / (2 ln theta)) and high =
// ceil(the same with beta_slow) (not rounded when truncate is false), clamped to [0, D - 1];
// ramp_i = clamp((i - low) / (high - low), 0, 1) and each frequency is divided by
// 1 / (ramp_i / factor + 1 - ramp_i). cos and sin are multiplied by attention_factor (given;
// else 0.1 ln(factor) + 1 for factor > 1, or that ratio for mscale / mscale_all_dim).
// Logarithms are PortableLn, so the bounds are the same on every machine (SPEC §A9).
//
// longrope, as transformers' _compute_longrope_parameters defines it: each frequency divided by
// short_factor[i] or long_factor[i], cos and sin multiplied by attention_factor (given, else
// sqrt(1 + ln(factor) / ln(original)) with factor = max_position_embeddings / original when
// factor > 1, else 1). Transformers picks the long factors only while the current sequence is
// longer than original_max_position_embeddings, so a token's bits would depend on how long its
// sequence has grown. detinfer fixes the choice per model instead (llama.cpp's rule too): the
// long factors when the context it runs (max_position_embeddings, after any cap) exceeds
// original_max_position_embeddings, the short ones otherwise — for every position and every
// sequence length alike (docs/formats.md).
#ifndef DETINFER_MODEL_ROPE_SCALING_H_
#define DETINFER_MODEL_ROPE_SCALING_H_

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"
#include "model/config.h"

namespace detinfer {

// From a config.json rope_scaling object (or rope_parameters, whose rope_theta the caller has
// taken out): kind and parameters, and the divisors for rotary_dim (head_dim unless partial) /
// theta. "default" gives kNone. longrope also reads the context (max_positions) and the
// config's top-level original_max_position_embeddings (0 when absent). Errors name `src` and
// the field.
Result<RopeScaling> ParseHfRopeScaling(const nlohmann::json& obj, int64_t head_dim, double theta,
                                       const std::string& src, int64_t max_positions = 0,
                                       int64_t config_original_max_positions = 0);

// The divisors of `s` for a model of head_dim and theta, in double, each rounded to fp32 once:
//   linear: d_i = factor
//   llama3: with inv_i = theta^(-2i/head_dim), wavelen_i = 2 pi / inv_i and the original context
//     L: d_i = 1 where wavelen_i < L / high_freq_factor; factor where wavelen_i > L /
//     low_freq_factor; else 1 / ((1 - s_i) / factor + s_i) with s_i = (L / wavelen_i -
//     low_freq_factor) / (high_freq_factor - low_freq_factor)   (transformers'
//     _compute_llama3_parameters, written as the divisor of inv_i).
//   longrope: d_i = (max_positions > original ? long_factor : short_factor)[i]
//   yarn: d_i = 1 / (ramp_i / factor + 1 - ramp_i), ramp_i as above
Status ComputeRopeDivisors(int64_t head_dim, double theta, RopeScaling* s,
                           int64_t max_positions = 0);

// ln(x) for finite x > 0 from IEEE double add/multiply/divide only (a fixed series), so that a
// longrope attention factor derived from it is the same on every machine (SPEC §A9).
double PortableLn(double x);

// The rope_scaling object config.json carries for `s` (null for kNone). A GGUF file's
// frequency factors have no config.json form: Unsupported.
Result<nlohmann::json> HfRopeScalingJson(const RopeScaling& s);

}  // namespace detinfer

#endif  // DETINFER_MODEL_ROPE_SCALING_H_
