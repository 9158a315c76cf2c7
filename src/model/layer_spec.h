// What a decoder layer's RoPE and attention are for a config, in one place for the layer routine
// (model/decoder_layer.cc, run by inference and training) and the training backward
// (train/sequence_pass.cc), so that an architecture's RoPE variant (partial rotary, frequency
// scaling, longrope's attention factor) reaches both passes the same way.
#ifndef DETINFER_MODEL_LAYER_SPEC_H_
#define DETINFER_MODEL_LAYER_SPEC_H_

#include "core/status.h"
#include "kernels/attention.h"
#include "kernels/rope.h"
#include "model/config.h"

namespace detinfer {

// The table for every position of the context: rotary_dim of head_dim rotated (Phi-3's
// partial rotary), theta, and the scaling's per-frequency divisors.
Result<RopeTable> LayerRopeTable(const ModelConfig& config);
// Gemma 3's local layers' table: base rope_local_theta, no frequency scaling (transformers'
// rotary_emb_local is a default RoPE). Only for configs with rope_local_theta > 0.
Result<RopeTable> LocalRopeTable(const ModelConfig& config);

// Causal attention with scale 1/sqrt(head_dim), times attention_factor^2 when the RoPE
// scaling has one (longrope multiplies cos and sin by it, i.e. q and k each, so q.k by its
// square; applying it to the scale instead leaves the RoPE table the same kind of data as every
// other model's). That is the same only when all of head_dim rotates: ModelConfig::Validate
// refuses a factor with partial rotary. Without one the scale is the kernel's own default,
// unchanged bits.
// Layer `layer`'s window is the config's sliding_window on the layers that slide
// (LayerSlides: every layer of Mistral, Phi-3, Mixtral; Gemma 2's even layers); Gemma 2's
// scale is query_pre_attn_scalar^-0.5 (computed in double, rounded once to fp32, as
// transformers does) and its scores are soft-capped.
AttentionOptions LayerAttentionOptions(const ModelConfig& config, int64_t layer);

// Whether layer `layer` uses the sliding window (model/arch.h's sliding_pattern).
bool LayerSlides(const ModelConfig& config, int64_t layer);

}  // namespace detinfer

#endif  // DETINFER_MODEL_LAYER_SPEC_H_
