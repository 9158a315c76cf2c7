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
#include "model/layer_spec.h"

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
// Columns [col0, col0 + cols) of a row-major [rows, width] buffer, as [rows, cols] or
// [rows, cols / hd, hd].
TensorView Cols(Buf& b, int64_t rows, int64_t width, int64_t col0, int64_t cols) {
  TensorView v = TensorView::Contiguous(b.data() + col0, DType::kF32, {rows, cols});
  v.stride[0] = width;
  return v;
}
TensorView ColHeads(Buf& b, int64_t rows, int64_t width, int64_t col0, int64_t heads,
                    int64_t hd) {
  TensorView v = TensorView::Contiguous(b.data() + col0, DType::kF32, {rows, heads, hd});
  v.stride[0] = width;
  return v;
}
// Copies columns [col0, col0 + cols) of src [rows, width] into dst [rows, cols], or back.
void CopyCols(const Buf& src, int64_t rows, int64_t width, int64_t col0, int64_t cols, Buf* dst) {
  dst->resize(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    std::copy_n(src.data() + r * width + col0, cols, dst->data() + r * cols);
  }
}
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
  const ModelConfig& c = layout.config();
  PackedParams p;
  p.layers.resize(static_cast<size_t>(c.n_layers));
  MatrixPacker packer;  // one block, one parallel pass (kernels/matmul_pack.h)
  for (int64_t l = 0; l < c.n_layers; ++l) {
    PackedParams::Layer& pl = p.layers[static_cast<size_t>(l)];
    // The three parts fused, as Transformer::Create does (each column keeps its own
    // arithmetic, so this is also what packing the adjacent slices as one matrix would give).
    const TensorView qkv[3] = {layout.View(params, TensorRole::kWq, l),
                               layout.View(params, TensorRole::kWk, l),
                               layout.View(params, TensorRole::kWv, l)};
    DETINFER_RETURN_IF_ERROR(packer.Add(qkv, &pl.qkv));
    DETINFER_RETURN_IF_ERROR(packer.Add(layout.View(params, TensorRole::kWo, l), &pl.wo));
    const TensorView gu[2] = {layout.View(params, TensorRole::kGate, l),
                              layout.View(params, TensorRole::kUp, l)};
    DETINFER_RETURN_IF_ERROR(packer.Add(gu, &pl.gate_up));
    DETINFER_RETURN_IF_ERROR(packer.Add(layout.View(params, TensorRole::kDown, l), &pl.down));
  }
  DETINFER_RETURN_IF_ERROR(packer.Add(layout.View(params, TensorRole::kLmHead, -1), &p.lm_head));
  DETINFER_RETURN_IF_ERROR(packer.Run(ctx));
  DETINFER_ASSIGN_OR_RETURN(p.rope, LayerRopeTable(c));
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
  const int64_t dim = c.dim, hd = c.head_dim, hq = c.n_heads, hkv = c.n_kv_heads;
  const int64_t qkv_w = (hq + 2 * hkv) * hd, ffn = c.ffn_dim, vocab = c.vocab_size;
  std::vector<int32_t> positions(static_cast<size_t>(t));
  for (int64_t i = 0; i < t; ++i) positions[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  const AttentionSeq aseq = WholeSequence(t);

  saved->tokens = t;
  saved->layers.resize(static_cast<size_t>(c.n_layers));
  Buf x = Zeros(t * dim), qkv = Zeros(t * qkv_w), proj = Zeros(t * dim),
      gate_up = Zeros(t * 2 * ffn);
  const TensorView xv = M2(x, t, dim);
  DETINFER_RETURN_IF_ERROR(EmbeddingGather(ctx, layout.View(params, TensorRole::kTokenEmbedding, -1),
                                           tokens.data(), t, xv));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    SavedActivations::Layer& s = saved->layers[static_cast<size_t>(l)];
    const PackedParams::Layer& p = packed.layers[static_cast<size_t>(l)];
    s.x_in = x;
    s.h1 = Zeros(t * dim);
    DETINFER_RETURN_IF_ERROR(RmsNorm(ctx, xv, layout.View(params, TensorRole::kAttnNorm, l),
                                     c.norm_eps, M2(s.h1, t, dim)));
    DETINFER_RETURN_IF_ERROR(Matmul(ctx, M2(s.h1, t, dim), p.qkv, nullptr, M2(qkv, t, qkv_w)));
    DETINFER_RETURN_IF_ERROR(ApplyRope(ctx, packed.rope, RopeStyle::kRotateHalf,
                                       ColHeads(qkv, t, qkv_w, 0, hq, hd), positions.data()));
    DETINFER_RETURN_IF_ERROR(ApplyRope(ctx, packed.rope, RopeStyle::kRotateHalf,
                                       ColHeads(qkv, t, qkv_w, hq * hd, hkv, hd),
                                       positions.data()));
    CopyCols(qkv, t, qkv_w, 0, hq * hd, &s.q);
    CopyCols(qkv, t, qkv_w, hq * hd, hkv * hd, &s.k);
    CopyCols(qkv, t, qkv_w, (hq + hkv) * hd, hkv * hd, &s.v);
    s.attn = Zeros(t * hq * hd);
    s.lse = Zeros(t * hq);
    KvView kv;
    kv.k = M3(s.k, t, hkv, hd);
    kv.v = M3(s.v, t, hkv, hd);
    // The inference forward's options for this layer (its window).
    const AttentionOptions aopts = LayerAttentionOptions(c, l);
    DETINFER_RETURN_IF_ERROR(Attention(ctx, M3(s.q, t, hq, hd), kv,
                                       std::span<const AttentionSeq>(&aseq, 1), aopts,
                                       M3(s.attn, t, hq, hd), M2(s.lse, t, hq)));
    DETINFER_RETURN_IF_ERROR(Matmul(ctx, M2(s.attn, t, hq * hd), p.wo, nullptr, M2(proj, t, dim)));
    DETINFER_RETURN_IF_ERROR(Add(ctx, xv, M2(proj, t, dim), xv));
    s.x_mid = x;
    s.h2 = Zeros(t * dim);
    DETINFER_RETURN_IF_ERROR(RmsNorm(ctx, xv, layout.View(params, TensorRole::kFfnNorm, l),
                                     c.norm_eps, M2(s.h2, t, dim)));
    DETINFER_RETURN_IF_ERROR(
        Matmul(ctx, M2(s.h2, t, dim), p.gate_up, nullptr, M2(gate_up, t, 2 * ffn)));
    s.act = Zeros(t * ffn);
    DETINFER_RETURN_IF_ERROR(SwiGlu(ctx, Cols(gate_up, t, 2 * ffn, 0, ffn),
                                    Cols(gate_up, t, 2 * ffn, ffn, ffn), M2(s.act, t, ffn)));
    CopyCols(gate_up, t, 2 * ffn, 0, ffn, &s.gate);
    CopyCols(gate_up, t, 2 * ffn, ffn, ffn, &s.up);
    DETINFER_RETURN_IF_ERROR(Matmul(ctx, M2(s.act, t, ffn), p.down, nullptr, M2(proj, t, dim)));
    DETINFER_RETURN_IF_ERROR(Add(ctx, xv, M2(proj, t, dim), xv));
  }
  saved->x_final = x;
  saved->h_final = Zeros(t * dim);
  DETINFER_RETURN_IF_ERROR(RmsNorm(ctx, xv, layout.View(params, TensorRole::kFinalNorm, -1),
                                   c.norm_eps, M2(saved->h_final, t, dim)));
  saved->logits = Zeros(t * vocab);
  return Matmul(ctx, M2(saved->h_final, t, dim), packed.lm_head, nullptr,
                M2(saved->logits, t, vocab));
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
  const int64_t qkv_w = (hq + 2 * hkv) * hd, ffn = c.ffn_dim, vocab = c.vocab_size;
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

  Buf dx = Zeros(t * dim), dh = Zeros(t * dim), tmp = Zeros(t * dim);
  const TensorView dxv = M2(dx, t, dim);
  DETINFER_RETURN_IF_ERROR(
      MatmulBackwardInput(ctx, M2(dlogits, t, vocab), w(TensorRole::kLmHead, -1), M2(dh, t, dim)));
  DETINFER_RETURN_IF_ERROR(MatmulBackwardWeight(ctx, M2(dlogits, t, vocab),
                                                M2(s.h_final, t, dim), g(TensorRole::kLmHead, -1)));
  DETINFER_RETURN_IF_ERROR(RmsNormBackward(ctx, M2(s.x_final, t, dim),
                                           w(TensorRole::kFinalNorm, -1), c.norm_eps,
                                           M2(dh, t, dim), dxv, g(TensorRole::kFinalNorm, -1)));
  std::vector<int32_t> positions(static_cast<size_t>(t));
  for (int64_t i = 0; i < t; ++i) positions[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  const AttentionSeq aseq = WholeSequence(t);
  Buf dact = Zeros(t * ffn), dgate = Zeros(t * ffn), dup = Zeros(t * ffn),
      dgu = Zeros(t * 2 * ffn), dattn = Zeros(t * hq * hd), dq = Zeros(t * hq * hd),
      dk = Zeros(t * hkv * hd), dv = Zeros(t * hkv * hd), dqkv = Zeros(t * qkv_w);
  for (int64_t l = c.n_layers - 1; l >= 0; --l) {
    SavedActivations::Layer& a = s.layers[static_cast<size_t>(l)];
    // x_out = x_mid + act · Wdown^T
    DETINFER_RETURN_IF_ERROR(
        MatmulBackwardInput(ctx, dxv, w(TensorRole::kDown, l), M2(dact, t, ffn)));
    DETINFER_RETURN_IF_ERROR(
        MatmulBackwardWeight(ctx, dxv, M2(a.act, t, ffn), g(TensorRole::kDown, l)));
    DETINFER_RETURN_IF_ERROR(SwiGluBackward(ctx, M2(a.gate, t, ffn), M2(a.up, t, ffn),
                                            M2(dact, t, ffn), M2(dgate, t, ffn), M2(dup, t, ffn)));
    PasteCols(dgate, t, 2 * ffn, 0, ffn, &dgu);
    PasteCols(dup, t, 2 * ffn, ffn, ffn, &dgu);
    DETINFER_RETURN_IF_ERROR(
        MatmulBackwardInput(ctx, M2(dgu, t, 2 * ffn), layout.GateUp(params, l), M2(dh, t, dim)));
    DETINFER_RETURN_IF_ERROR(MatmulBackwardWeight(ctx, M2(dgu, t, 2 * ffn), M2(a.h2, t, dim),
                                                  layout.GateUp(grad, l)));
    DETINFER_RETURN_IF_ERROR(RmsNormBackward(ctx, M2(a.x_mid, t, dim),
                                             w(TensorRole::kFfnNorm, l), c.norm_eps,
                                             M2(dh, t, dim), M2(tmp, t, dim),
                                             g(TensorRole::kFfnNorm, l)));
    DETINFER_RETURN_IF_ERROR(Add(ctx, dxv, M2(tmp, t, dim), dxv));
    // x_mid = x_in + attn · Wo^T
    DETINFER_RETURN_IF_ERROR(
        MatmulBackwardInput(ctx, dxv, w(TensorRole::kWo, l), M2(dattn, t, hq * hd)));
    DETINFER_RETURN_IF_ERROR(
        MatmulBackwardWeight(ctx, dxv, M2(a.attn, t, hq * hd), g(TensorRole::kWo, l)));
    const AttentionOptions aopts = LayerAttentionOptions(c, l);
    DETINFER_RETURN_IF_ERROR(AttentionBackward(
        ctx, M3(a.q, t, hq, hd), M3(a.k, t, hkv, hd), M3(a.v, t, hkv, hd),
        std::span<const AttentionSeq>(&aseq, 1), aopts, M3(a.attn, t, hq, hd),
        M3(dattn, t, hq, hd), M2(a.lse, t, hq), M3(dq, t, hq, hd), M3(dk, t, hkv, hd),
        M3(dv, t, hkv, hd)));
    DETINFER_RETURN_IF_ERROR(RopeBackwardInPlace(ctx, packed.rope, RopeStyle::kRotateHalf,
                                                 M3(dq, t, hq, hd), positions.data()));
    DETINFER_RETURN_IF_ERROR(RopeBackwardInPlace(ctx, packed.rope, RopeStyle::kRotateHalf,
                                                 M3(dk, t, hkv, hd), positions.data()));
    PasteCols(dq, t, qkv_w, 0, hq * hd, &dqkv);
    PasteCols(dk, t, qkv_w, hq * hd, hkv * hd, &dqkv);
    PasteCols(dv, t, qkv_w, (hq + hkv) * hd, hkv * hd, &dqkv);
    DETINFER_RETURN_IF_ERROR(
        MatmulBackwardInput(ctx, M2(dqkv, t, qkv_w), layout.Qkv(params, l), M2(dh, t, dim)));
    DETINFER_RETURN_IF_ERROR(MatmulBackwardWeight(ctx, M2(dqkv, t, qkv_w), M2(a.h1, t, dim),
                                                  layout.Qkv(grad, l)));
    DETINFER_RETURN_IF_ERROR(RmsNormBackward(ctx, M2(a.x_in, t, dim),
                                             w(TensorRole::kAttnNorm, l), c.norm_eps,
                                             M2(dh, t, dim), M2(tmp, t, dim),
                                             g(TensorRole::kAttnNorm, l)));
    DETINFER_RETURN_IF_ERROR(Add(ctx, dxv, M2(tmp, t, dim), dxv));
  }
  return EmbeddingBackward(ctx, inputs, dxv, g(TensorRole::kTokenEmbedding, -1));
}

}  // namespace detinfer
