#include "model/layer_spec.h"

#include <cmath>

#include "model/arch.h"

namespace detinfer {

Result<RopeTable> LayerRopeTable(const ModelConfig& c) {
  return RopeTable::Create(static_cast<int>(c.head_dim), static_cast<int>(c.RotaryDim()),
                           c.rope_theta, static_cast<int>(c.max_seq_len), c.rope_scaling.divisors);
}

Result<RopeTable> LocalRopeTable(const ModelConfig& c) {
  return RopeTable::Create(static_cast<int>(c.head_dim), static_cast<int>(c.RotaryDim()),
                           c.rope_local_theta, static_cast<int>(c.max_seq_len), {});
}

bool LayerSlides(const ModelConfig& c, int64_t layer) {
  const int64_t p = GetArchInfo(c.arch).sliding_pattern;
  return p <= 1 || (layer + 1) % p != 0;
}

AttentionOptions LayerAttentionOptions(const ModelConfig& c, int64_t layer) {
  AttentionOptions o;  // causal, scale 0 = 1/sqrt(head_dim)
  o.window = LayerSlides(c, layer) ? c.sliding_window : 0;
  o.softcap = c.attn_logit_softcap;
  if (c.query_pre_attn_scalar > 0) {
    // transformers' query_pre_attn_scalar**-0.5 in double, rounded to fp32; as 1/sqrt (two
    // correctly rounded operations) so that every machine gets the same float.
    o.scale = static_cast<float>(1.0 / std::sqrt(c.query_pre_attn_scalar));
    return o;
  }
  const double m = c.rope_scaling.attention_factor;
  if (m != 1.0) {
    o.scale = static_cast<float>(m * m / std::sqrt(static_cast<double>(c.head_dim)));
  }
  return o;
}

}  // namespace detinfer
