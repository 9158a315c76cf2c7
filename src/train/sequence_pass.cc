#include "train/sequence_pass.h"

#include <algorithm>
#include <string>

#include "kernels/activation.h"
#include "kernels/activation_backward.h"
#include "kernels/attention.h"
#include "kernels/attention_backward.h"
#include "kernels/cross_entropy.h"
#include "kernels/elementwise.h"
#include "kernels/elementwise_backward.h"
#include "kernels/matmul_backward.h"
#include "kernels/matmul_pack.h"
#include "kernels/rms_norm.h"
#include "kernels/rms_norm_backward.h"
#include "kernels/rope_backward.h"
#include "model/arch.h"
#include "model/layer_spec.h"
#include "train/moe_backward.h"

namespace detinfer {

namespace {

using Buf = std::vector<float>;

Buf Zeros(int64_t n) { return Buf(static_cast<size_t>(n), 0.0f); }

TensorView M2(Buf& b, int64_t rows, int64_t cols) {
  return TensorView::Contiguous(b.data(), DType::kF32, {rows, cols});
}
TensorView M3(Buf& b, int64_t rows, int64_t heads, int64_t hd) {
  return TensorView::Contiguous(b.data(), DType::kF32, {rows, heads, hd});
}
// Pastes src [rows, cols] into columns [col0, col0 + cols) of dst [rows, width].
void PasteCols(const Buf& src, int64_t rows, int64_t width, int64_t col0, int64_t cols,
               Buf* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    std::copy_n(src.data() + r * cols, cols, dst->data() + r * width + col0);
  }
}

AttentionSeq WholeSequence(int64_t t) {
  AttentionSeq s;
  s.q_begin = 0;
  s.q_len = t;
  s.q_pos = 0;
  s.kv_len = t;
  s.kv_begin = 0;
  return s;
}

}  // namespace

Result<PackedParams> PackParams(const ParamLayout& layout, const float* params,
                                const KernelContext& ctx) {
  // The inference pass's own parameter builder over views of the flat vector: the same fused
  // matrices, norms and tables Transformer::Create makes from these weights.
  const ModelWeights views = ParamViews(layout, params);
  PackedParams p;
  MatrixPacker packer;  // one block, one parallel pass (kernels/matmul_pack.h)
  DETINFER_RETURN_IF_ERROR(QueueDecoderParams(views, &packer, &p));
  DETINFER_RETURN_IF_ERROR(packer.Run(ctx));
  return p;
}

Status ForwardSequence(const KernelContext& ctx, const ParamLayout& layout, const float* params,
                       const PackedParams& packed, std::span<const int32_t> tokens,
                       SavedActivations* saved) {
  const ModelConfig& c = layout.config();
  const int64_t t = static_cast<int64_t>(tokens.size());
  if (t < 1 || t > c.max_seq_len) {
    return Status::InvalidArgument("train: a sequence of " + std::to_string(t) +
                                   " input tokens is outside [1, max_seq_len = " +
                                   std::to_string(c.max_seq_len) + "]");
  }
  const int64_t hd = c.head_dim, hkv = c.n_kv_heads;
  std::vector<int32_t> positions(static_cast<size_t>(t));
  for (int64_t i = 0; i < t; ++i) positions[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  const AttentionSeq aseq = WholeSequence(t);

  saved->tokens = t;
  saved->layers.assign(static_cast<size_t>(c.n_layers), LayerRecord{});
  std::vector<float> x;
  DETINFER_RETURN_IF_ERROR(EmbedTokens(ctx, c, layout.View(params, TensorRole::kTokenEmbedding, -1),
                                       packed, tokens, &x));
  LayerHooks hooks;
  // Within the sequence: the record already holds this layer's k, v (contiguous, after RoPE).
  hooks.attend = [&](int64_t l, const TensorView& q, const TensorView&, const TensorView&,
                     const AttentionOptions& aopts, const TensorView& av,
                     const TensorView& lsev) -> Status {
    LayerRecord& r = saved->layers[static_cast<size_t>(l)];
    KvView kv;
    kv.k = M3(r.k, t, hkv, hd);
    kv.v = M3(r.v, t, hkv, hd);
    return Attention(ctx, q, kv, std::span<const AttentionSeq>(&aseq, 1), aopts, av, lsev);
  };
  LayerScratch scratch;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    hooks.record = &saved->layers[static_cast<size_t>(l)];
    DETINFER_RETURN_IF_ERROR(RunDecoderLayer(ctx, c, packed, l, positions, &x, &scratch, hooks));
  }
  saved->x_final = x;
  saved->h_final = std::move(x);
  return RunHead(ctx, c, packed, &saved->h_final, &saved->logits, &saved->logits_uncapped);
}

namespace {

Status CheckSequence(const ModelConfig& c, std::span<const int32_t> seq) {
  if (seq.size() < 2) {
    return Status::InvalidArgument("train: a sequence needs at least 2 tokens, got " +
                                   std::to_string(seq.size()));
  }
  for (int32_t id : seq) {
    if (id < 0 || id >= c.vocab_size) {
      return Status::OutOfRange("train: token id " + std::to_string(id) +
                                " is outside the vocabulary [0, " +
                                std::to_string(c.vocab_size) + ")");
    }
  }
  return Status::Ok();
}

}  // namespace

Status SequenceGradient(const KernelContext& ctx, const ParamLayout& layout, const float* params,
                        const PackedParams& packed, std::span<const int32_t> seq, float* grad,
                        double* loss_sum) {
  std::vector<float> loss;
  DETINFER_RETURN_IF_ERROR(
      WeightedSequenceGradient(ctx, layout, params, packed, seq, nullptr, grad, &loss));
  double sum = 0.0;
  for (float v : loss) sum += static_cast<double>(v);  // ascending position
  *loss_sum = sum;
  return Status::Ok();
}

Status SequenceTargetLosses(const KernelContext& ctx, const ParamLayout& layout,
                            const float* params, const PackedParams& packed,
                            std::span<const int32_t> seq, std::vector<float>* loss) {
  const ModelConfig& c = layout.config();
  DETINFER_RETURN_IF_ERROR(CheckSequence(c, seq));
  SavedActivations s;
  DETINFER_RETURN_IF_ERROR(
      ForwardSequence(ctx, layout, params, packed, seq.first(seq.size() - 1), &s));
  const int64_t t = s.tokens, vocab = c.vocab_size;
  loss->assign(static_cast<size_t>(t), 0.0f);
  // In place: the logits are not needed afterwards.
  return CrossEntropyForwardBackward(ctx, M2(s.logits, t, vocab), seq.subspan(1), 1.0f,
                                     TensorView::Contiguous(loss->data(), DType::kF32, {t}),
                                     M2(s.logits, t, vocab));
}

Status WeightedSequenceGradient(const KernelContext& ctx, const ParamLayout& layout,
                                const float* params, const PackedParams& packed,
                                std::span<const int32_t> seq, const TargetWeightsFn& weights,
                                float* grad, std::vector<float>* loss_out) {
  const ModelConfig& c = layout.config();
  DETINFER_RETURN_IF_ERROR(CheckSequence(c, seq));
  const std::span<const int32_t> inputs = seq.first(seq.size() - 1);
  const std::span<const int32_t> targets = seq.subspan(1);
  SavedActivations s;
  DETINFER_RETURN_IF_ERROR(ForwardSequence(ctx, layout, params, packed, inputs, &s));
  const int64_t t = s.tokens;
  const int64_t dim = c.dim, hd = c.head_dim, hq = c.n_heads, hkv = c.n_kv_heads;
  const int64_t qkv_w = (hq + 2 * hkv) * hd, vocab = c.vocab_size;
  const int64_t ffn = c.IsMoe() ? 0 : c.ffn_dim;  // a MoE model's ffn_dim is not run
  std::fill_n(grad, layout.size(), 0.0f);
  auto g = [&](TensorRole role, int64_t layer) { return layout.View(grad, role, layer); };
  auto w = [&](TensorRole role, int64_t layer) { return layout.View(params, role, layer); };

  // Loss: the sum over target positions (scale 1); the trainer divides the batch sum by the
  // batch's target count once, after summing, so a sequence's gradient is the same in any batch.
  Buf& loss = *loss_out;
  loss.assign(static_cast<size_t>(t), 0.0f);
  Buf dlogits = Zeros(t * vocab);
  DETINFER_RETURN_IF_ERROR(CrossEntropyForwardBackward(ctx, M2(s.logits, t, vocab), targets, 1.0f,
                                                       TensorView::Contiguous(loss.data(), DType::kF32, {t}),
                                                       M2(dlogits, t, vocab)));
  if (weights) {
    // Row r times weight[r]: one f32 multiply per element, the rounding the kernel's own
    // `scale` would apply (the scale-1 multiply inside it was exact).
    Buf wt(static_cast<size_t>(t), 1.0f);
    weights(loss, wt);
    for (int64_t r = 0; r < t; ++r) {
      const float wr = wt[static_cast<size_t>(r)];
      float* row = dlogits.data() + r * vocab;
      for (int64_t j = 0; j < vocab; ++j) row[j] *= wr;
    }
  }

  if (c.final_logit_softcap > 0) {  // through the cap: the gradient of the uncapped logits
    DETINFER_RETURN_IF_ERROR(SoftCapBackward(ctx, M2(s.logits_uncapped, t, vocab),
                                             c.final_logit_softcap, M2(dlogits, t, vocab),
                                             M2(dlogits, t, vocab)));
  }

  const ArchInfo& arch = GetArchInfo(c.arch);
  // A tied head is the embedding: its weight gradient goes to the embedding's slice first, the
  // gather's rows are added after (EmbeddingBackward accumulates).
  const TensorRole head = c.tied_embeddings ? TensorRole::kTokenEmbedding : TensorRole::kLmHead;
  Buf dx = Zeros(t * dim), dh = Zeros(t * dim), tmp = Zeros(t * dim), dproj = Zeros(t * dim);
  const TensorView dxv = M2(dx, t, dim);
  DETINFER_RETURN_IF_ERROR(MatmulBackwardInput(ctx, M2(dlogits, t, vocab), w(head, -1), M2(dh, t, dim)));
  DETINFER_RETURN_IF_ERROR(
      MatmulBackwardWeight(ctx, M2(dlogits, t, vocab), M2(s.h_final, t, dim), g(head, -1)));
  DETINFER_RETURN_IF_ERROR(RmsNormBackward(ctx, M2(s.x_final, t, dim), packed.final_norm,
                                           c.norm_eps, M2(dh, t, dim), dxv,
                                           g(TensorRole::kFinalNorm, -1)));
  std::vector<int32_t> positions(static_cast<size_t>(t));
  for (int64_t i = 0; i < t; ++i) positions[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  const AttentionSeq aseq = WholeSequence(t);
  Buf dact = Zeros(t * ffn), dgate = Zeros(t * ffn), dup = Zeros(t * ffn),
      dgu = Zeros(t * 2 * ffn), dattn = Zeros(t * hq * hd), dq = Zeros(t * hq * hd),
      dk = Zeros(t * hkv * hd), dv = Zeros(t * hkv * hd), dqkv = Zeros(t * qkv_w);
  // The residual branch's output gradient: through the post norm where the model has one
  // (its input was recorded), else the residual's own.
  const auto branch_grad = [&](Buf& pre_norm, const TensorView& norm, TensorRole role,
                               int64_t l) -> Result<TensorView> {
    if (!arch.post_norms) return dxv;
    DETINFER_RETURN_IF_ERROR(RmsNormBackward(ctx, M2(pre_norm, t, dim), norm,
                                             c.norm_eps, dxv, M2(dproj, t, dim), g(role, l)));
    return M2(dproj, t, dim);
  };
  for (int64_t l = c.n_layers - 1; l >= 0; --l) {
    LayerRecord& a = s.layers[static_cast<size_t>(l)];
    const LayerParams& p = packed.layers[static_cast<size_t>(l)];
    // x_out = x_mid + PostNorm(act · Wdown^T)
    DETINFER_ASSIGN_OR_RETURN(const TensorView dffn,
                              branch_grad(a.ffn_out, p.post_ffn_norm, TensorRole::kPostFfnNorm, l));
    if (c.IsMoe()) {
      Buf& dy = arch.post_norms ? dproj : dx;
      DETINFER_RETURN_IF_ERROR(MoeFfnBackward(ctx, layout, params, grad, l, a, a.h2, dy, &dh));
    } else {
      DETINFER_RETURN_IF_ERROR(
          MatmulBackwardInput(ctx, dffn, w(TensorRole::kDown, l), M2(dact, t, ffn)));
      DETINFER_RETURN_IF_ERROR(
          MatmulBackwardWeight(ctx, dffn, M2(a.act, t, ffn), g(TensorRole::kDown, l)));
      const auto glu_backward = arch.gelu_tanh ? &GeGluTanhBackward : &SwiGluBackward;
      DETINFER_RETURN_IF_ERROR(glu_backward(ctx, M2(a.gate, t, ffn), M2(a.up, t, ffn),
                                            M2(dact, t, ffn), M2(dgate, t, ffn), M2(dup, t, ffn)));
      PasteCols(dgate, t, 2 * ffn, 0, ffn, &dgu);
      PasteCols(dup, t, 2 * ffn, ffn, ffn, &dgu);
      DETINFER_RETURN_IF_ERROR(
          MatmulBackwardInput(ctx, M2(dgu, t, 2 * ffn), layout.GateUp(params, l), M2(dh, t, dim)));
      DETINFER_RETURN_IF_ERROR(MatmulBackwardWeight(ctx, M2(dgu, t, 2 * ffn), M2(a.h2, t, dim),
                                                    layout.GateUp(grad, l)));
    }
    DETINFER_RETURN_IF_ERROR(RmsNormBackward(ctx, M2(a.x_mid, t, dim), p.ffn_norm, c.norm_eps,
                                             M2(dh, t, dim), M2(tmp, t, dim),
                                             g(TensorRole::kFfnNorm, l)));
    DETINFER_RETURN_IF_ERROR(Add(ctx, dxv, M2(tmp, t, dim), dxv));
    // x_mid = x_in + PostNorm(attn · Wo^T)
    DETINFER_ASSIGN_OR_RETURN(
        const TensorView dout, branch_grad(a.attn_out, p.post_attn_norm, TensorRole::kPostAttnNorm, l));
    DETINFER_RETURN_IF_ERROR(
        MatmulBackwardInput(ctx, dout, w(TensorRole::kWo, l), M2(dattn, t, hq * hd)));
    DETINFER_RETURN_IF_ERROR(
        MatmulBackwardWeight(ctx, dout, M2(a.attn, t, hq * hd), g(TensorRole::kWo, l)));
    const AttentionOptions aopts = LayerAttentionOptions(c, l);
    DETINFER_RETURN_IF_ERROR(AttentionBackward(
        ctx, M3(a.q, t, hq, hd), M3(a.k, t, hkv, hd), M3(a.v, t, hkv, hd),
        std::span<const AttentionSeq>(&aseq, 1), aopts, M3(a.attn, t, hq, hd),
        M3(dattn, t, hq, hd), M2(a.lse, t, hq), M3(dq, t, hq, hd), M3(dk, t, hkv, hd),
        M3(dv, t, hkv, hd)));
    const RopeTable& rope = packed.LayerRope(c, l);
    DETINFER_RETURN_IF_ERROR(
        RopeBackwardInPlace(ctx, rope, packed.rope_style, M3(dq, t, hq, hd), positions.data()));
    DETINFER_RETURN_IF_ERROR(
        RopeBackwardInPlace(ctx, rope, packed.rope_style, M3(dk, t, hkv, hd), positions.data()));
    if (c.qk_norm) {  // per head: [T * heads, hd] rows, each normalised alone
      DETINFER_RETURN_IF_ERROR(RmsNormBackward(ctx, M2(a.q_pre, t * hq, hd), p.q_norm, c.norm_eps,
                                               M2(dq, t * hq, hd), M2(dq, t * hq, hd),
                                               g(TensorRole::kQNorm, l)));
      DETINFER_RETURN_IF_ERROR(RmsNormBackward(ctx, M2(a.k_pre, t * hkv, hd), p.k_norm,
                                               c.norm_eps, M2(dk, t * hkv, hd),
                                               M2(dk, t * hkv, hd), g(TensorRole::kKNorm, l)));
    }
    PasteCols(dq, t, qkv_w, 0, hq * hd, &dqkv);
    PasteCols(dk, t, qkv_w, hq * hd, hkv * hd, &dqkv);
    PasteCols(dv, t, qkv_w, (hq + hkv) * hd, hkv * hd, &dqkv);
    if (c.qkv_bias) {  // bq | bk | bv are adjacent slices: the fused bias's gradient
      const ParamSlice& bq = layout.Slice(TensorRole::kBq, l);
      DETINFER_RETURN_IF_ERROR(
          BiasBackward(ctx, M2(dqkv, t, qkv_w),
                       TensorView::Contiguous(grad + bq.offset, DType::kF32, {qkv_w})));
    }
    DETINFER_RETURN_IF_ERROR(
        MatmulBackwardInput(ctx, M2(dqkv, t, qkv_w), layout.Qkv(params, l), M2(dh, t, dim)));
    DETINFER_RETURN_IF_ERROR(MatmulBackwardWeight(ctx, M2(dqkv, t, qkv_w), M2(a.h1, t, dim),
                                                  layout.Qkv(grad, l)));
    DETINFER_RETURN_IF_ERROR(RmsNormBackward(ctx, M2(a.x_in, t, dim), p.attn_norm, c.norm_eps,
                                             M2(dh, t, dim), M2(tmp, t, dim),
                                             g(TensorRole::kAttnNorm, l)));
    DETINFER_RETURN_IF_ERROR(Add(ctx, dxv, M2(tmp, t, dim), dxv));
  }
  if (arch.scale_embedding) {  // x = embedding[id] * scale: each row's gradient times scale
    for (float& v : dx) v = v * packed.embed_scale;
  }
  return EmbeddingBackward(ctx, inputs, dxv, g(TensorRole::kTokenEmbedding, -1));
}

}  // namespace detinfer
