#include "model/tensor_source.h"

#include <set>
#include <string_view>

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

namespace {

// Records every name it was asked for, so that what was never asked for can be named.
class CountingLookup {
 public:
  explicit CountingLookup(const TensorLookup& l) : l_(l) {}
  Result<TensorView> Get(const std::string& name) {
    used_.insert(name);
    return l_.Get(name);
  }
  const std::set<std::string>& used() const { return used_; }

 private:
  const TensorLookup& l_;
  std::set<std::string> used_;
};

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Status CheckAllUsed(const TensorLookup& lookup, const NameScheme& names, const ModelConfig& c,
                    const std::set<std::string>& used) {
  std::vector<std::string> unused;
  for (const std::string& name : lookup.Names()) {
    if (used.count(name) != 0 || EndsWith(name, ".rotary_emb.inv_freq")) continue;
    if (c.tied_embeddings && name == names.lm_head) continue;
    if (!names.read_with_config.empty() && name == names.read_with_config &&
        c.rope_scaling.kind == RopeScaling::Kind::kFreqFactors) {
      continue;
    }
    unused.push_back(name);
  }
  if (unused.empty()) return Status::Ok();
  std::string list;
  for (size_t i = 0; i < unused.size() && i < 4; ++i) {
    if (i > 0) list += ", ";
    list += "'" + unused[i] + "'";
  }
  if (unused.size() > 4) list += ", ... (" + std::to_string(unused.size()) + " in all)";
  std::string msg = lookup.Where();
  msg += ": tensors the configured ";
  msg += ArchName(c.arch);
  msg += " model does not use: ";
  msg += list;
  msg += " (a feature the config does not declare, or one detinfer does not implement; running "
         "without them would compute a different model)";
  return Status::InvalidArgument(msg);
}

}  // namespace

Status AssembleWeights(const TensorLookup& source, const NameScheme& names, ModelWeights* w) {
  const ModelConfig& c = w->config;
  CountingLookup lookup(source);
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
  return CheckAllUsed(source, names, c, lookup.used());
}

}  // namespace detinfer
