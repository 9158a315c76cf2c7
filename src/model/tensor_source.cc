#include "model/tensor_source.h"

namespace detinfer {

TensorView MakeView(const void* data, DType dtype, const int64_t* dims, int rank) {
  TensorView v;
  v.data = const_cast<void*>(data);
  v.dtype = dtype;
  v.rank = rank;
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    v.shape[d] = dims[d];
    v.stride[d] = stride;
    stride *= dims[d];  // cannot overflow: the parsers checked the element count
  }
  return v;
}

Status AssembleWeights(const TensorLookup& lookup, const NameScheme& names, ModelWeights* w) {
  const ModelConfig& c = w->config;
  DETINFER_ASSIGN_OR_RETURN(w->token_embedding, lookup.Get(names.embed));
  DETINFER_ASSIGN_OR_RETURN(w->final_norm, lookup.Get(names.final_norm));
  if (c.tied_embeddings) {
    w->lm_head = w->token_embedding;
  } else {
    DETINFER_ASSIGN_OR_RETURN(w->lm_head, lookup.Get(names.lm_head));
  }
  // Layers are appended as they are found, not allocated up front: n_layers comes from the
  // file (up to INT32_MAX), and a crafted count must fail on the first missing tensor rather
  // than allocate ~1 KB per claimed layer (found by fuzz_gguf).
  w->layers.clear();
  for (int64_t i = 0; i < c.n_layers; ++i) {
    LayerWeights& l = w->layers.emplace_back();
    auto get = [&](LayerSlot slot, TensorView* out) -> Status {
      DETINFER_ASSIGN_OR_RETURN(*out, lookup.Get(names.layer(i, slot)));
      return Status::Ok();
    };
    DETINFER_RETURN_IF_ERROR(get(LayerSlot::kAttnNorm, &l.attn_norm));
    DETINFER_RETURN_IF_ERROR(get(LayerSlot::kWq, &l.wq));
    DETINFER_RETURN_IF_ERROR(get(LayerSlot::kWk, &l.wk));
    DETINFER_RETURN_IF_ERROR(get(LayerSlot::kWv, &l.wv));
    DETINFER_RETURN_IF_ERROR(get(LayerSlot::kWo, &l.wo));
    if (c.qkv_bias) {
      DETINFER_RETURN_IF_ERROR(get(LayerSlot::kBq, &l.bq));
      DETINFER_RETURN_IF_ERROR(get(LayerSlot::kBk, &l.bk));
      DETINFER_RETURN_IF_ERROR(get(LayerSlot::kBv, &l.bv));
    }
    if (c.qk_norm) {
      DETINFER_RETURN_IF_ERROR(get(LayerSlot::kQNorm, &l.q_norm));
      DETINFER_RETURN_IF_ERROR(get(LayerSlot::kKNorm, &l.k_norm));
    }
    DETINFER_RETURN_IF_ERROR(get(LayerSlot::kFfnNorm, &l.ffn_norm));
    DETINFER_RETURN_IF_ERROR(get(LayerSlot::kWGate, &l.w_gate));
    DETINFER_RETURN_IF_ERROR(get(LayerSlot::kWUp, &l.w_up));
    DETINFER_RETURN_IF_ERROR(get(LayerSlot::kWDown, &l.w_down));
  }
  return Status::Ok();
}

}  // namespace detinfer
