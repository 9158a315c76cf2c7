#include "train/param_layout.h"

#include <cstring>
#include <string>

#include "core/buffer.h"
#include "model/arch.h"
#include "model/random_init.h"

namespace detinfer {

Result<ParamLayout> ParamLayout::Create(const ModelConfig& config) {
  DETINFER_RETURN_IF_ERROR(config.Validate("train config"));
  if (config.rope_style != RopeStyle::kRotateHalf) {
    return Status::InvalidArgument("train: only rotate-half RoPE is supported");
  }
  ParamLayout p;
  p.config_ = config;
  for (const auto& [role, layer] : ListRoles(config)) {
    const std::vector<int64_t> shape = ExpectedShape(config, role);
    int64_t rows = 1;
    for (size_t d = 0; d + 1 < shape.size(); ++d) rows *= shape[d];
    ParamSlice s{role, layer, p.size_, rows, shape.back(), static_cast<int>(shape.size()),
                 shape.size() == 3 ? shape[0] : 1};
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
  if (s.rank == 3) {
    return TensorView::Contiguous(buf + s.offset, DType::kF32,
                                  {s.experts, s.rows / s.experts, s.cols});
  }
  return TensorView::Contiguous(buf + s.offset, DType::kF32, {s.rows, s.cols});
}

TensorView ParamLayout::Expert(const float* buf, TensorRole role, int64_t layer, int64_t e) const {
  const ParamSlice& s = Slice(role, layer);
  const int64_t rows = s.rows / s.experts;
  return TensorView::Contiguous(buf + s.offset + e * rows * s.cols, DType::kF32, {rows, s.cols});
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
                      s.role == TensorRole::kFinalNorm || s.role == TensorRole::kQNorm ||
                      s.role == TensorRole::kKNorm || s.role == TensorRole::kPostAttnNorm ||
                      s.role == TensorRole::kPostFfnNorm;
    // A norm's gain is 1: Gemma's (1 + w) norms hold it as w = 0.
    const float gain = GetArchInfo(layout.config().arch).norm_plus_one ? 0.0f : 1.0f;
    for (int64_t i = 0; i < s.rows * s.cols; ++i) {
      p[static_cast<size_t>(s.offset + i)] =
          norm ? gain : RandomInitValue(layout.config(), seed, s.role, s.layer, i);
    }
  }
  return p;
}

ModelWeights ParamViews(const ParamLayout& layout, const float* params) {
  ModelWeights w;
  w.config = layout.config();
  w.format = ModelFormat::kHuggingFace;
  w.source = "train";
  w.layers.resize(static_cast<size_t>(layout.config().n_layers));
  for (const ParamSlice& s : layout.slices()) {
    *MutableViewOf(w, s.role, s.layer) = layout.View(params, s.role, s.layer);
  }
  if (layout.config().tied_embeddings) w.lm_head = w.token_embedding;
  return w;
}

Result<ModelWeights> ParamsToWeights(const ParamLayout& layout, const std::vector<float>& params) {
  DETINFER_ASSIGN_OR_RETURN(AlignedBuffer buf,
                            AlignedBuffer::Allocate(params.size() * sizeof(float)));
  std::memcpy(buf.data(), params.data(), params.size() * sizeof(float));
  ModelWeights w = ParamViews(layout, buf.as<float>());
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
    const int64_t rows = v->rank == 3 ? v->shape[0] * v->shape[1] : v->rank == 2 ? v->shape[0] : 1;
    const int64_t cols = v->shape[v->rank - 1];
    if (v->rank != s.rank || rows != s.rows || cols != s.cols ||
        (v->rank == 3 && !v->is_contiguous())) {
      return Status::InvalidArgument("weights: tensor " + name + " does not have the shape "
                                     "the config gives it");
    }
    const float* src = static_cast<const float*>(v->data);
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(params.data() + s.offset + r * cols,
                  src + (v->rank == 3 ? r * cols : r * (v->rank == 2 ? v->stride[0] : 0)),
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
  if (c.IsMoe()) {
    return Status::Unsupported("weights: " + std::string(ArchName(c.arch)) +
                               " holds its experts stacked in training and per expert in its "
                               "files; pushing trained parameters supports dense archs");
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
    t.shape = s.rank == 3   ? std::vector<int64_t>{s.experts, s.rows / s.experts, s.cols}
              : s.rank == 2 ? std::vector<int64_t>{s.rows, s.cols}
                            : std::vector<int64_t>{s.cols};
    t.bytes = std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(params.data() + s.offset),
        static_cast<size_t>(s.rows * s.cols) * sizeof(float));
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace detinfer
