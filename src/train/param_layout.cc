#include "train/param_layout.h"

#include <cstring>
#include <string>

#include "core/buffer.h"
#include "model/arch.h"
#include "model/random_init.h"

namespace detinfer {

Result<ParamLayout> ParamLayout::Create(const ModelConfig& config) {
  DETINFER_RETURN_IF_ERROR(config.Validate("train config"));
  if (config.IsMoe()) {
    return Status::Unsupported("train: " + std::string(ArchName(config.arch)) +
                               " is a mixture of experts, which training does not support yet "
                               "(routing has no backward pass; inference only)");
  }
  if (GetArchInfo(config.arch).post_norms) {
    return Status::Unsupported("train: " + std::string(ArchName(config.arch)) +
                               " (GeGLU, (1 + w) and post norms, soft caps) has no backward pass "
                               "yet; inference only");
  }
  // Phi-3 is the llama layer once its fused tensors are split (model/arch.h); its partial
  // rotary and longrope reach the training pass through model/layer_spec.h.
  if (config.qkv_bias || config.qk_norm) {
    return Status::InvalidArgument("train: " + std::string(ArchName(config.arch)) +
                                   " has q/k/v biases or q/k norms, which training does not "
                                   "support (llama and phi3 train)");
  }
  if (config.tied_embeddings) {
    return Status::InvalidArgument("train: tied embeddings are not supported");
  }
  if (config.rope_style != RopeStyle::kRotateHalf) {
    return Status::InvalidArgument("train: only rotate-half RoPE is supported");
  }
  ParamLayout p;
  p.config_ = config;
  for (const auto& [role, layer] : ListRoles(config)) {
    const std::vector<int64_t> shape = ExpectedShape(config, role);
    ParamSlice s{role, layer, p.size_, shape.size() == 2 ? shape[0] : 1, shape.back(),
                 static_cast<int>(shape.size())};
    p.size_ += s.rows * s.cols;
    p.slices_.push_back(s);
  }
  return p;
}

const ParamSlice& ParamLayout::Slice(TensorRole role, int64_t layer) const {
  for (const ParamSlice& s : slices_) {
    if (s.role == role && s.layer == layer) return s;
  }
  return slices_.front();  // unreachable for roles Create listed
}

TensorView ParamLayout::View(const float* buf, TensorRole role, int64_t layer) const {
  const ParamSlice& s = Slice(role, layer);
  if (s.rank == 1) return TensorView::Contiguous(buf + s.offset, DType::kF32, {s.cols});
  return TensorView::Contiguous(buf + s.offset, DType::kF32, {s.rows, s.cols});
}

TensorView ParamLayout::Qkv(const float* buf, int64_t layer) const {
  const ParamSlice& q = Slice(TensorRole::kWq, layer);
  const int64_t rows = (config_.n_heads + 2 * config_.n_kv_heads) * config_.head_dim;
  return TensorView::Contiguous(buf + q.offset, DType::kF32, {rows, q.cols});
}

TensorView ParamLayout::GateUp(const float* buf, int64_t layer) const {
  const ParamSlice& g = Slice(TensorRole::kGate, layer);
  return TensorView::Contiguous(buf + g.offset, DType::kF32, {2 * g.rows, g.cols});
}

std::vector<float> InitParams(const ParamLayout& layout, uint64_t seed) {
  std::vector<float> p(static_cast<size_t>(layout.size()));
  for (const ParamSlice& s : layout.slices()) {
    const bool norm = s.role == TensorRole::kAttnNorm || s.role == TensorRole::kFfnNorm ||
                      s.role == TensorRole::kFinalNorm;
    for (int64_t i = 0; i < s.rows * s.cols; ++i) {
      p[static_cast<size_t>(s.offset + i)] =
          norm ? 1.0f : RandomInitValue(layout.config(), seed, s.role, s.layer, i);
    }
  }
  return p;
}

Result<ModelWeights> ParamsToWeights(const ParamLayout& layout, const std::vector<float>& params) {
  ModelWeights w;
  w.config = layout.config();
  w.format = ModelFormat::kHuggingFace;
  w.source = "train";
  DETINFER_ASSIGN_OR_RETURN(AlignedBuffer buf,
                            AlignedBuffer::Allocate(params.size() * sizeof(float)));
  std::memcpy(buf.data(), params.data(), params.size() * sizeof(float));
  const float* base = buf.as<float>();
  w.layers.resize(static_cast<size_t>(layout.config().n_layers));
  for (const ParamSlice& s : layout.slices()) {
    const TensorView v = layout.View(base, s.role, s.layer);
    if (s.layer < 0) {
      switch (s.role) {
        case TensorRole::kTokenEmbedding: w.token_embedding = v; break;
        case TensorRole::kFinalNorm: w.final_norm = v; break;
        case TensorRole::kLmHead: w.lm_head = v; break;
        default: break;
      }
      continue;
    }
    LayerWeights& l = w.layers[static_cast<size_t>(s.layer)];
    switch (s.role) {
      case TensorRole::kAttnNorm: l.attn_norm = v; break;
      case TensorRole::kWq: l.wq = v; break;
      case TensorRole::kWk: l.wk = v; break;
      case TensorRole::kWv: l.wv = v; break;
      case TensorRole::kWo: l.wo = v; break;
      case TensorRole::kFfnNorm: l.ffn_norm = v; break;
      case TensorRole::kGate: l.w_gate = v; break;
      case TensorRole::kUp: l.w_up = v; break;
      case TensorRole::kDown: l.w_down = v; break;
      default: break;
    }
  }
  w.owned.push_back(std::move(buf));
  return w;
}

Result<std::vector<float>> WeightsToParams(const ParamLayout& layout, const ModelWeights& w) {
  ModelWeights& mw = const_cast<ModelWeights&>(w);  // MutableViewOf only looks the slot up
  std::vector<float> params(static_cast<size_t>(layout.size()));
  for (const ParamSlice& s : layout.slices()) {
    const TensorView* v = MutableViewOf(mw, s.role, s.layer);
    const std::string name = HfTensorName(layout.config().arch, s.role, s.layer);
    if (v == nullptr || v->data == nullptr) {
      return Status::InvalidArgument("weights: the model has no tensor " + name);
    }
    if (v->dtype != DType::kF32) {
      return Status::InvalidArgument("weights: tensor " + name + " is stored as " +
                                     std::string(DTypeName(v->dtype)) +
                                     "; training needs f32 weights");
    }
    const int64_t rows = v->rank == 2 ? v->shape[0] : 1;
    const int64_t cols = v->shape[v->rank - 1];
    if (v->rank != s.rank || rows != s.rows || cols != s.cols) {
      return Status::InvalidArgument("weights: tensor " + name + " does not have the shape "
                                     "the config gives it");
    }
    const float* src = static_cast<const float*>(v->data);
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(params.data() + s.offset + r * cols, src + r * (v->rank == 2 ? v->stride[0] : 0),
                  static_cast<size_t>(cols) * sizeof(float));
    }
  }
  return params;
}

Result<std::vector<NamedTensor>> ParamsToNamedTensors(const ParamLayout& layout,
                                                      const std::vector<float>& params) {
  const ModelConfig& c = layout.config();
  if (GetArchInfo(c.arch).fused_qkv || GetArchInfo(c.arch).fused_gate_up) {
    return Status::Unsupported("weights: " + std::string(ArchName(c.arch)) +
                               " stores fused q|k|v and gate|up tensors; pushing trained "
                               "parameters supports unfused archs (llama)");
  }
  if (static_cast<int64_t>(params.size()) != layout.size()) {
    return Status::InvalidArgument("weights: " + std::to_string(params.size()) +
                                   " parameters, the layout has " +
                                   std::to_string(layout.size()));
  }
  std::vector<NamedTensor> out;
  out.reserve(layout.slices().size());
  for (const ParamSlice& s : layout.slices()) {
    NamedTensor t;
    t.name = HfTensorName(c.arch, s.role, s.layer);
    t.dtype = DType::kF32;
    t.shape = s.rank == 2 ? std::vector<int64_t>{s.rows, s.cols} : std::vector<int64_t>{s.cols};
    t.bytes = std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(params.data() + s.offset),
        static_cast<size_t>(s.rows * s.cols) * sizeof(float));
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace detinfer
