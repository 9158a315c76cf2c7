// The training forward (with saved activations) and backward pass of ONE sequence.
//
// The forward is the inference forward's own layer routine (model/decoder_layer.h's
// RunDecoderLayer) on the same DecoderParams, so a sequence's training logits are the bits
// Transformer::ForwardNoCache gives (tested) and every architecture the layer runs is trained by
// the same code. K/V are kept contiguous in f32 here (the cache's f32 rounding is the identity,
// and attention's bits do not depend on where K/V live).
//
// The backward pass runs the layers in reverse with the backward kernels (kernels/*_backward.h,
// kernels/cross_entropy.h); each kernel has one documented order fixed by the sequence's own
// shapes. Where one tensor's gradient has two sources (a tied embedding: the head's weight
// gradient, then the gather's rows) they are accumulated in that order into the one slice. A
// sequence's gradient is computed on its own, into its own zeroed buffer, so it cannot depend on
// which other sequences share the batch; the trainer then sums these buffers in ascending
// sequence index (train/trainer.h).
#ifndef DETINFER_TRAIN_SEQUENCE_PASS_H_
#define DETINFER_TRAIN_SEQUENCE_PASS_H_

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/status.h"
#include "kernels/context.h"
#include "kernels/matmul.h"
#include "kernels/rope.h"
#include "model/decoder_layer.h"
#include "train/param_layout.h"

namespace detinfer {

// The current parameters as the forward reads them (packed matrices, norms as multiplied, RoPE
// tables); rebuilt after every optimiser step.
using PackedParams = DecoderParams;
// ctx packs the matrices (ISA path, threads): the packed bytes are the same whatever it is.
Result<PackedParams> PackParams(const ParamLayout& layout, const float* params,
                                const KernelContext& ctx = {});

// What the backward pass needs from the forward, per layer (model/decoder_layer.h) and at the
// top.
struct SavedActivations {
  int64_t tokens = 0;
  std::vector<LayerRecord> layers;
  std::vector<float> x_final, h_final;  // [T, dim] before / after the final norm
  std::vector<float> logits;            // [T, vocab] (soft-capped where the model caps them)
  std::vector<float> logits_uncapped;   // [T, vocab] before the cap (capped models only)
};

// Runs the forward over `tokens` (positions 0 .. T-1) and keeps the activations.
Status ForwardSequence(const KernelContext& ctx, const ParamLayout& layout, const float* params,
                       const PackedParams& packed, std::span<const int32_t> tokens,
                       SavedActivations* saved);

// Next-token loss of one sequence: inputs seq[0, n-1), targets seq[1, n) (n >= 2). Writes the
// gradient of the SUM of the per-token losses (natural log) into `grad` (layout.size() floats,
// overwritten) and that sum, accumulated in double in ascending position, into *loss_sum.
Status SequenceGradient(const KernelContext& ctx, const ParamLayout& layout, const float* params,
                        const PackedParams& packed, std::span<const int32_t> seq, float* grad,
                        double* loss_sum);

// Per-target weights of a weighted sequence gradient, chosen after the forward: called once
// with the n-1 per-target losses (loss[t] = -log p(seq[t+1] | seq[0..t]), the bits of
// -LogSoftmax(logits_t)[seq[t+1]], i.e. exactly the negated raw logprob the engine reports for
// that token) and fills weight[t] (n-1 floats). Lets a policy-gradient loss make its weights
// depend on the current policy's logprobs (a KL term) without a second forward.
using TargetWeightsFn = std::function<void(std::span<const float> loss, std::span<float> weight)>;

// The gradient of SUM_t weight[t] * loss[t] into `grad` (overwritten), the per-target losses
// into *loss (n-1 floats). Order: the cross-entropy kernel with scale 1 (so dlogits row t is
// softmax - onehot, whose multiply by 1 is exact), then every element of row t multiplied by
// weight[t] in f32 (one rounding: the bits CrossEntropyForwardBackward gives with scale =
// weight[t]), then the same backward as SequenceGradient. With `weights` empty every weight is
// 1 and no multiply happens: the gradient is SequenceGradient's, bit for bit.
Status WeightedSequenceGradient(const KernelContext& ctx, const ParamLayout& layout,
                                const float* params, const PackedParams& packed,
                                std::span<const int32_t> seq, const TargetWeightsFn& weights,
                                float* grad, std::vector<float>* loss);

// The per-target losses alone (what WeightedSequenceGradient writes to *loss), from the
// forward and the cross-entropy kernel: negated, the raw logprobs of seq[1..n) (a reference
// policy's, for a KL term).
Status SequenceTargetLosses(const KernelContext& ctx, const ParamLayout& layout,
                            const float* params, const PackedParams& packed,
                            std::span<const int32_t> seq, std::vector<float>* loss);

}  // namespace detinfer

#endif  // DETINFER_TRAIN_SEQUENCE_PASS_H_
