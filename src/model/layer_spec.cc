#include "model/layer_spec.h"

#include <cmath>

namespace detinfer {

Result<RopeTable> LayerRopeTable(const ModelConfig& c) {
  return RopeTable::Create(static_cast<int>(c.head_dim), static_cast<int>(c.RotaryDim()),
                           c.rope_theta, static_cast<int>(c.max_seq_len), c.rope_scaling.divisors);
}

AttentionOptions LayerAttentionOptions(const ModelConfig& c, int64_t /*layer*/) {
  AttentionOptions o;  // causal, scale 0 = 1/sqrt(head_dim)
  o.window = c.sliding_window;
  const double m = c.rope_scaling.attention_factor;
  if (m != 1.0) {
    o.scale = static_cast<float>(m * m / std::sqrt(static_cast<double>(c.head_dim)));
  }
  return o;
}

}  // namespace detinfer
