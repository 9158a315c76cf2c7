// The decoder layer, written once. The inference forward (model/transformer.cc: a batch of
// segments over the paged KV cache) and the training forward (train/sequence_pass.cc: one whole
// sequence, its activations kept for the backward pass) both run RunDecoderLayer on the same
// DecoderParams, so an architecture's layer is written here once, both passes get it, and a
// sequence's training logits are the inference bits (tests/train/sequence_pass_test.cc).
//
// Per layer (as llama2.c reads):
//   h = RmsNorm(x, attn_norm)
//   [q | k | v] = h · [Wq | Wk | Wv]^T (+ bias)         one matmul over the fused weight
//   q, k = RmsNormHeads(q, q_norm), RmsNormHeads(k, k_norm)          (Qwen3, Gemma 3)
//   q, k = RoPE(q, pos), RoPE(k, pos)                     rotate-half pairs, the layer's table
//   a = attend(q, k, v)                                   the caller's (LayerHooks::attend)
//   o = a · Wo^T;  o = RmsNorm(o, post_attn_norm)         (post norms: Gemma 2/3)
//   x = x + o
//   h = RmsNorm(x, ffn_norm)
//   [g | u] = h · [Wgate | Wup]^T;  f = SwiGlu(g, u) or GeGluTanh(g, u)
//     or, for a mixture of experts, f = MoeFfn(h)        (model/moe_ffn.h)
//   o = f · Wdown^T;  o = RmsNorm(o, post_ffn_norm)       (post norms)
//   x = x + o
// and around the layers: x = Embedding[ids] (× embed_scale: Gemma), and
// logits = RmsNorm(x, final_norm) · lm_head^T (soft-capped: Gemma 2).
// Gemma's norms multiply by 1 + w, rounded to fp32 once when the params are built; its sliding
// layers use their window and (Gemma 3) their own RoPE table (model/layer_spec.h).
//
// Why a row's bits never depend on the other rows: every kernel computes a row (or a (query,
// head)) alone, in an order fixed by the model's shapes (kernels/*.h); fusing weights along
// their output dimension leaves every column's arithmetic as it was.
#ifndef DETINFER_MODEL_DECODER_LAYER_H_
#define DETINFER_MODEL_DECODER_LAYER_H_

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/buffer.h"
#include "core/status.h"
#include "kernels/attention.h"
#include "kernels/context.h"
#include "kernels/matmul.h"
#include "kernels/matmul_pack.h"
#include "kernels/rope.h"
#include "model/forward_probe.h"
#include "model/weights.h"

namespace detinfer {

// A layer's weights as the forward reads them.
struct LayerParams {
  FusedMatrix qkv, gate_up;
  PackedMatrix wo, down;
  std::vector<float> qkv_bias;  // empty when the model has none
  TensorView q_norm, k_norm;    // Qwen3 / Gemma 3; in the internal (rotate-half) layout
  // The norms as the pass multiplies by them: the weights' own views, or for Gemma's (1 + w)
  // norms f32 copies holding 1 + w (post norms: Gemma 2/3 only, else absent).
  TensorView attn_norm, ffn_norm, post_attn_norm, post_ffn_norm;
  // Mixture of experts (gate_up / down then unused): the router and per expert [gate | up]
  // and down.
  PackedMatrix router;
  std::vector<FusedMatrix> expert_gate_up;
  std::vector<PackedMatrix> expert_down;
};

// Everything the forward reads but the embedding table.
struct DecoderParams {
  std::vector<LayerParams> layers;
  PackedMatrix lm_head;
  TensorView final_norm;     // as the pass multiplies by it (see LayerParams' norms)
  float embed_scale = 1.0f;  // Gemma: sqrt(dim) rounded to the embedding's dtype
  RopeTable rope;
  RopeTable rope_local;      // Gemma 3's sliding layers' table (rope_local_theta > 0)
  bool has_local_rope = false;
  RopeStyle rope_style = RopeStyle::kRotateHalf;  // the layout of the packed q/k rows
  std::vector<AlignedBuffer> owned;               // (1 + w) norms, reordered q/k norms

  const RopeTable& LayerRope(const ModelConfig& c, int64_t layer) const;
};

// Queues every matrix of `w` on `packer` (the PackedMatrix slots of *out are filled when the
// packer runs, so *out must stay in place until then) and builds the rest of *out: norms as the
// pass multiplies by them, f32 biases, the RoPE tables, the embedding scale. In a file in the
// interleaved RoPE convention (llama2.c, GGUF llama) q/k rows are queued reordered to
// rotate-half (views in the packer's order, no copy): RoPE rotates the same pairs with the same
// table entries either way, but the q.k dot product sums over head_dim in storage order, so only
// one layout makes the same weights give the same bits whatever file they came from.
Status QueueDecoderParams(const ModelWeights& w, MatrixPacker* packer, DecoderParams* out);

// What the backward pass needs from a layer's forward; every array row-major over the T rows,
// contiguous. Filled by RunDecoderLayer when LayerHooks::record is set.
struct LayerRecord {
  std::vector<float> x_in, h1;      // [T, dim] residual input, attn_norm output
  std::vector<float> q_pre, k_pre;  // [T, Hq|Hkv, hd] q, k before their norms (qk_norm only)
  std::vector<float> q, k, v;       // [T, Hq|Hkv, hd] after RoPE (q, k)
  std::vector<float> attn, lse;     // [T, Hq, hd], [T, Hq]
  std::vector<float> attn_out;      // [T, dim] a · Wo^T before the post norm (post norms only)
  std::vector<float> x_mid, h2;     // [T, dim] after the attention residual, ffn_norm output
  std::vector<float> gate, up;      // [T, ffn] (dense)
  std::vector<float> act;           // [T, ffn] the gated activation (dense)
  std::vector<float> ffn_out;       // [T, dim] f · Wdown^T before the post norm (post norms)
  // Mixture of experts: router probabilities [T, n_experts], the chosen experts and their
  // weights [T, k] (ascending expert id), and per (token, slot) = row t * k + j its expert's
  // gate, up, activation [T * k, expert_ffn] and output [T * k, dim].
  std::vector<float> router_probs;
  std::vector<int32_t> chosen;
  std::vector<float> expert_weights;
  std::vector<float> slot_gate, slot_up, slot_act, slot_out;
};

struct LayerHooks {
  // Attention for the layer's rows: q [T, Hq, hd] and this step's k, v [T, Hkv, hd] (views into
  // the fused projection's rows) in, attn [T, Hq, hd] and lse [T, Hq] out. Inference writes k, v
  // to its cache and attends over it; training attends within the sequence.
  std::function<Status(int64_t layer, const TensorView& q, const TensorView& k,
                       const TensorView& v, const AttentionOptions& opts, const TensorView& attn,
                       const TensorView& lse)>
      attend;
  // Verification taps (model/forward_probe.h); empty: none.
  std::function<void(int64_t layer, TapOp op, const float* data, int64_t stride, int64_t width,
                     int64_t head_dim)>
      tap;
  LayerRecord* record = nullptr;  // training: keep what the backward pass reads
};

// Buffers one layer uses, reused layer after layer (sized on first use). Two hold every
// intermediate, each value written only once the last read of the one before it in the same
// buffer is done:
//   a: h (attention norm) → attention output → h (FFN norm) → FFN output (down projection)
//   g: [q | k | v] → attention output projection → [gate | up] of a block of rows (the gate
//      half becomes the activation in place; FfnBlockRows in decoder_layer.cc) or the MoE output
// 6 MiB at a 512-token chunk of the 110M shape, where six buffers took 17. Which buffer holds a
// value changes no arithmetic, so no bit.
struct LayerScratch {
  std::vector<float> a, g, lse;
};

// Runs layer `layer` over the T rows of x ([T, dim] f32, updated in place) at `positions`.
Status RunDecoderLayer(const KernelContext& ctx, const ModelConfig& c, const DecoderParams& p,
                       int64_t layer, std::span<const int32_t> positions, std::vector<float>* x,
                       LayerScratch* scratch, const LayerHooks& hooks);

// x = embedding[ids] (× embed_scale: one fp32 multiply per element), [T, dim].
Status EmbedTokens(const KernelContext& ctx, const ModelConfig& c, const TensorView& embedding,
                   const DecoderParams& p, std::span<const int32_t> ids, std::vector<float>* x);

// rows [n, dim]: normalised in place by the final norm; logits [n, vocab] = rows · lm_head^T,
// soft-capped when the model caps them (then *uncapped, when set, receives them before).
Status RunHead(const KernelContext& ctx, const ModelConfig& c, const DecoderParams& p,
               std::vector<float>* rows, std::vector<float>* logits,
               std::vector<float>* uncapped = nullptr);

}  // namespace detinfer

#endif  // DETINFER_MODEL_DECODER_LAYER_H_
