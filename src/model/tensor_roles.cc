#include "model/tensor_roles.h"

#include "model/arch.h"

namespace detinfer {

namespace {

const TensorView* ViewOf(const ModelWeights& w, TensorRole role, int64_t layer) {
  if (layer < 0) {
    switch (role) {
      case TensorRole::kTokenEmbedding: return &w.token_embedding;
      case TensorRole::kFinalNorm: return &w.final_norm;
      case TensorRole::kLmHead: return &w.lm_head;
      default: return nullptr;
    }
  }
  const LayerWeights& L = w.layers[static_cast<size_t>(layer)];
  switch (role) {
    case TensorRole::kAttnNorm: return &L.attn_norm;
    case TensorRole::kWq: return &L.wq;
    case TensorRole::kWk: return &L.wk;
    case TensorRole::kWv: return &L.wv;
    case TensorRole::kWo: return &L.wo;
    case TensorRole::kBq: return &L.bq;
    case TensorRole::kBk: return &L.bk;
    case TensorRole::kBv: return &L.bv;
    case TensorRole::kQNorm: return &L.q_norm;
    case TensorRole::kKNorm: return &L.k_norm;
    case TensorRole::kFfnNorm: return &L.ffn_norm;
    case TensorRole::kGate: return &L.w_gate;
    case TensorRole::kUp: return &L.w_up;
    case TensorRole::kDown: return &L.w_down;
    case TensorRole::kRouter: return &L.router;
    case TensorRole::kExpertsGate: return &L.experts_gate;
    case TensorRole::kExpertsUp: return &L.experts_up;
    case TensorRole::kExpertsDown: return &L.experts_down;
    case TensorRole::kPostAttnNorm: return &L.post_attn_norm;
    case TensorRole::kPostFfnNorm: return &L.post_ffn_norm;
    default: return nullptr;  // kQkv, kGateUp: file tensors only
  }
}

}  // namespace

bool IsStackedExpertRole(TensorRole role) {
  return role == TensorRole::kExpertsGate || role == TensorRole::kExpertsUp ||
         role == TensorRole::kExpertsDown;
}

TensorView* MutableViewOf(ModelWeights& w, TensorRole role, int64_t layer) {
  return const_cast<TensorView*>(ViewOf(w, role, layer));
}

std::vector<int64_t> ExpectedShape(const ModelConfig& c, TensorRole role) {
  const int64_t q = c.n_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim;
  switch (role) {
    case TensorRole::kTokenEmbedding:
    case TensorRole::kLmHead: return {c.vocab_size, c.dim};
    case TensorRole::kFinalNorm:
    case TensorRole::kAttnNorm:
    case TensorRole::kFfnNorm:
    case TensorRole::kPostAttnNorm:
    case TensorRole::kPostFfnNorm: return {c.dim};
    case TensorRole::kWq: return {q, c.dim};
    case TensorRole::kWk:
    case TensorRole::kWv: return {kv, c.dim};
    case TensorRole::kWo: return {c.dim, q};
    case TensorRole::kBq: return {q};
    case TensorRole::kBk:
    case TensorRole::kBv: return {kv};
    case TensorRole::kQNorm:
    case TensorRole::kKNorm: return {c.head_dim};
    case TensorRole::kGate:
    case TensorRole::kUp: return {c.ffn_dim, c.dim};
    case TensorRole::kDown: return {c.dim, c.ffn_dim};
    case TensorRole::kQkv: return {q + 2 * kv, c.dim};
    case TensorRole::kGateUp: return {2 * c.ffn_dim, c.dim};
    case TensorRole::kRouter: return {c.n_experts, c.dim};
    case TensorRole::kExpertsGate:
    case TensorRole::kExpertsUp: return {c.n_experts, c.expert_ffn_dim, c.dim};
    case TensorRole::kExpertsDown: return {c.n_experts, c.dim, c.expert_ffn_dim};
  }
  return {};
}

bool IsVectorRole(TensorRole role) {
  switch (role) {
    case TensorRole::kFinalNorm:
    case TensorRole::kAttnNorm:
    case TensorRole::kFfnNorm:
    case TensorRole::kPostAttnNorm:
    case TensorRole::kPostFfnNorm:
    case TensorRole::kBq:
    case TensorRole::kBk:
    case TensorRole::kBv:
    case TensorRole::kQNorm:
    case TensorRole::kKNorm: return true;
    default: return false;
  }
}

bool IsRopeOrdered(TensorRole role) {
  switch (role) {
    case TensorRole::kWq:
    case TensorRole::kWk:
    case TensorRole::kBq:
    case TensorRole::kBk:
    case TensorRole::kQNorm:
    case TensorRole::kKNorm: return true;
    default: return false;
  }
}

std::vector<TensorRole> LayerRoles(const ModelConfig& c, bool file) {
  const ArchInfo& a = GetArchInfo(c.arch);
  std::vector<TensorRole> out = {TensorRole::kAttnNorm};
  if (file && a.fused_qkv) {
    out.push_back(TensorRole::kQkv);
  } else {
    out.insert(out.end(), {TensorRole::kWq, TensorRole::kWk, TensorRole::kWv});
  }
  if (c.qkv_bias) out.insert(out.end(), {TensorRole::kBq, TensorRole::kBk, TensorRole::kBv});
  if (c.qk_norm) out.insert(out.end(), {TensorRole::kQNorm, TensorRole::kKNorm});
  out.push_back(TensorRole::kWo);
  if (a.post_norms) out.push_back(TensorRole::kPostAttnNorm);
  out.push_back(TensorRole::kFfnNorm);
  if (c.IsMoe()) {
    out.insert(out.end(), {TensorRole::kRouter, TensorRole::kExpertsGate, TensorRole::kExpertsUp,
                           TensorRole::kExpertsDown});
    return out;
  }
  if (file && a.fused_gate_up) {
    out.push_back(TensorRole::kGateUp);
  } else {
    out.insert(out.end(), {TensorRole::kGate, TensorRole::kUp});
  }
  out.push_back(TensorRole::kDown);
  if (a.post_norms) out.push_back(TensorRole::kPostFfnNorm);
  return out;
}

namespace {

std::vector<std::pair<TensorRole, int64_t>> RoleList(const ModelConfig& c, bool file) {
  std::vector<std::pair<TensorRole, int64_t>> out;
  out.emplace_back(TensorRole::kTokenEmbedding, -1);
  const std::vector<TensorRole> layer = LayerRoles(c, file);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    for (const TensorRole r : layer) out.emplace_back(r, l);
  }
  out.emplace_back(TensorRole::kFinalNorm, -1);
  if (!c.tied_embeddings) out.emplace_back(TensorRole::kLmHead, -1);
  return out;
}

}  // namespace

std::vector<std::pair<TensorRole, int64_t>> ListRoles(const ModelConfig& c) {
  return RoleList(c, false);
}

std::vector<std::pair<TensorRole, int64_t>> ListFileRoles(const ModelConfig& c) {
  return RoleList(c, true);
}

Result<std::vector<TensorEntry>> ListTensors(const ModelWeights& w) {
  const ModelConfig& c = w.config;
  if (static_cast<int64_t>(w.layers.size()) != c.n_layers) {
    return Status::InvalidArgument("model has " + std::to_string(w.layers.size()) +
                                   " layers but its config says " + std::to_string(c.n_layers));
  }
  std::vector<TensorEntry> out;
  for (const auto& [role, layer] : ListRoles(c)) {
    const TensorView* v = ViewOf(w, role, layer);
    const std::string name = EntryName(role, layer);
    const std::vector<int64_t> shape = ExpectedShape(c, role);
    const int rank = static_cast<int>(shape.size());
    DETINFER_RETURN_IF_ERROR(CheckTensorAnyDType(*v, name, rank));
    for (int d = 0; d < rank; ++d) {
      if (v->shape[d] != shape[static_cast<size_t>(d)]) {
        std::string want = "[";
        for (size_t i = 0; i < shape.size(); ++i) {
          want += (i ? ", " : "") + std::to_string(shape[i]);
        }
        return Status::InvalidArgument(name + " has shape " + v->ShapeString() +
                                       " but the config implies " + want + "]");
      }
    }
    out.push_back({role, layer, v});
  }
  return out;
}

std::string_view RoleName(TensorRole role) {
  switch (role) {
    case TensorRole::kTokenEmbedding: return "token_embedding";
    case TensorRole::kFinalNorm: return "final_norm";
    case TensorRole::kLmHead: return "lm_head";
    case TensorRole::kAttnNorm: return "attn_norm";
    case TensorRole::kWq: return "wq";
    case TensorRole::kWk: return "wk";
    case TensorRole::kWv: return "wv";
    case TensorRole::kWo: return "wo";
    case TensorRole::kBq: return "bq";
    case TensorRole::kBk: return "bk";
    case TensorRole::kBv: return "bv";
    case TensorRole::kQNorm: return "q_norm";
    case TensorRole::kKNorm: return "k_norm";
    case TensorRole::kFfnNorm: return "ffn_norm";
    case TensorRole::kGate: return "w_gate";
    case TensorRole::kUp: return "w_up";
    case TensorRole::kDown: return "w_down";
    case TensorRole::kQkv: return "wqkv";
    case TensorRole::kGateUp: return "w_gate_up";
    case TensorRole::kRouter: return "router";
    case TensorRole::kExpertsGate: return "experts_gate";
    case TensorRole::kExpertsUp: return "experts_up";
    case TensorRole::kExpertsDown: return "experts_down";
    case TensorRole::kPostAttnNorm: return "post_attn_norm";
    case TensorRole::kPostFfnNorm: return "post_ffn_norm";
  }
  return "?";
}

std::string EntryName(TensorRole role, int64_t layer) {
  std::string s(RoleName(role));
  return layer < 0 ? s : "layer " + std::to_string(layer) + " " + s;
}

Status CheckArchFeatures(const ModelConfig& c, std::string_view who) {
  const bool want_bias = GetArchInfo(c.arch).qkv_bias;
  const bool want_qk_norm = GetArchInfo(c.arch).qk_norm;
  auto yes_no = [](bool b) { return b ? std::string("with") : std::string("without"); };
  const ArchInfo& a = GetArchInfo(c.arch);
  if (c.IsMoe() != a.moe) {
    return Status::Unsupported(std::string(who) + ": arch " + std::string(a.name) + " " +
                               yes_no(c.IsMoe()) + " experts is not supported (" +
                               std::string(a.name) + " is always " + yes_no(a.moe) +
                               " them; mixture of experts: qwen3_moe, mixtral)");
  }
  if (a.always_tied && !c.tied_embeddings) {
    return Status::Unsupported(std::string(who) + ": " + std::string(a.name) +
                               "'s output head is always the token embedding (tied)");
  }
  if (a.moe_always_renormalize && !c.moe_renormalize) {
    return Status::Unsupported(std::string(who) + ": " + std::string(a.name) +
                               " always renormalises the chosen experts' probabilities");
  }
  if (c.qkv_bias != want_bias) {
    return Status::Unsupported(std::string(who) + ": arch " + std::string(ArchName(c.arch)) +
                               " " + yes_no(c.qkv_bias) + " q/k/v bias is not supported (" +
                               std::string(ArchName(c.arch)) + " is always " +
                               yes_no(want_bias) + " it)");
  }
  if (c.qk_norm != want_qk_norm) {
    return Status::Unsupported(std::string(who) + ": arch " + std::string(ArchName(c.arch)) +
                               " " + yes_no(c.qk_norm) + " q/k norm is not supported (" +
                               std::string(ArchName(c.arch)) + " is always " +
                               yes_no(want_qk_norm) + " it)");
  }
  return Status::Ok();
}

int64_t RopeSourceRow(int64_t dst_row, int64_t head_dim, RopeStyle from, RopeStyle to) {
  if (from == to) return dst_row;
  const int64_t base = dst_row - dst_row % head_dim, j = dst_row % head_dim, half = head_dim / 2;
  if (to == RopeStyle::kRotateHalf) {
    // from interleaved: rotate-half j < half takes pair i=j's first (2i), the rest the second.
    return base + (j < half ? 2 * j : 2 * (j - half) + 1);
  }
  // to interleaved, from rotate-half: even j = 2i takes row i, odd j = 2i+1 takes row half + i.
  return base + (j % 2 == 0 ? j / 2 : half + j / 2);
}

}  // namespace detinfer
