#include "model/weight_update.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <set>

#include "core/storage_format.h"
#include "model/arch.h"
#include "model/loader.h"
#include "model/tensor_roles.h"
#include "model/validate.h"

namespace detinfer {

namespace {

std::string UpdateShapeString(std::span<const int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::vector<int64_t> ViewShape(const TensorView& v) {
  return std::vector<int64_t>(v.shape, v.shape + v.rank);
}

// Every view a ModelWeights holds (absent optional ones included: their data is null).
template <typename Fn>
void ForEachWeightView(const ModelWeights& w, Fn&& fn) {
  fn(w.token_embedding);
  fn(w.final_norm);
  fn(w.lm_head);
  for (const LayerWeights& l : w.layers) {
    for (const TensorView* v : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.bq, &l.bk, &l.bv,
                                &l.q_norm, &l.k_norm, &l.ffn_norm, &l.w_gate, &l.w_up,
                                &l.w_down, &l.router, &l.experts_gate, &l.experts_up,
                                &l.experts_down, &l.post_attn_norm, &l.post_ffn_norm}) {
      fn(*v);
    }
  }
}

bool StartsWithin(const void* p, const void* begin, size_t bytes) {
  const auto a = reinterpret_cast<uintptr_t>(p), b = reinterpret_cast<uintptr_t>(begin);
  return a >= b && a - b < bytes;
}

bool AnyViewWithin(const ModelWeights& w, const void* begin, size_t bytes) {
  bool used = false;
  ForEachWeightView(w, [&](const TensorView& v) {
    if (v.data != nullptr && StartsWithin(v.data, begin, bytes)) used = true;
  });
  return used;
}

// The architecture and hyper-parameters must be those of the serving model; each mismatch is
// named with both values. rope_style may differ: it is the file's row convention, and every
// model runs in one internal layout (model/transformer.h).
Status CheckSameArchitecture(const ModelConfig& now, const ModelConfig& next,
                             const std::string& who) {
  const auto mismatch = [&](std::string_view field, const std::string& a, const std::string& b) {
    return Status::InvalidArgument(who + ": " + std::string(field) + " is " + b +
                                   " but the serving model's is " + a +
                                   " (an update must keep the architecture and every shape)");
  };
  if (now.arch != next.arch) {
    return mismatch("arch", std::string(ArchName(now.arch)), std::string(ArchName(next.arch)));
  }
  const std::pair<std::string_view, std::pair<int64_t, int64_t>> sizes[] = {
      {"dim", {now.dim, next.dim}},
      {"n_layers", {now.n_layers, next.n_layers}},
      {"n_heads", {now.n_heads, next.n_heads}},
      {"n_kv_heads", {now.n_kv_heads, next.n_kv_heads}},
      {"head_dim", {now.head_dim, next.head_dim}},
      {"rotary_dim", {now.RotaryDim(), next.RotaryDim()}},
      {"ffn_dim", {now.ffn_dim, next.ffn_dim}},
      {"vocab_size", {now.vocab_size, next.vocab_size}},
      {"max_seq_len", {now.max_seq_len, next.max_seq_len}},
      {"tied_embeddings", {now.tied_embeddings, next.tied_embeddings}},
      {"qkv_bias", {now.qkv_bias, next.qkv_bias}},
      {"qk_norm", {now.qk_norm, next.qk_norm}},
      {"n_experts", {now.n_experts, next.n_experts}},
      {"n_experts_used", {now.n_experts_used, next.n_experts_used}},
      {"expert_ffn_dim", {now.expert_ffn_dim, next.expert_ffn_dim}},
      {"moe_renormalize", {now.moe_renormalize, next.moe_renormalize}},
      {"sliding_window", {now.sliding_window, next.sliding_window}},
  };
  for (const auto& [field, values] : sizes) {
    if (values.first != values.second) {
      return mismatch(field, std::to_string(values.first), std::to_string(values.second));
    }
  }
  if (now.rope_theta != next.rope_theta) {
    return mismatch("rope_theta", std::to_string(now.rope_theta), std::to_string(next.rope_theta));
  }
  if (now.attn_logit_softcap != next.attn_logit_softcap ||
      now.final_logit_softcap != next.final_logit_softcap ||
      now.query_pre_attn_scalar != next.query_pre_attn_scalar ||
      now.rope_local_theta != next.rope_local_theta) {
    return mismatch("soft caps / query_pre_attn_scalar",
                    std::to_string(now.attn_logit_softcap) + ", " +
                        std::to_string(now.final_logit_softcap) + ", " +
                        std::to_string(now.query_pre_attn_scalar),
                    std::to_string(next.attn_logit_softcap) + ", " +
                        std::to_string(next.final_logit_softcap) + ", " +
                        std::to_string(next.query_pre_attn_scalar));
  }
  if (now.norm_eps != next.norm_eps) {
    return mismatch("norm_eps", std::to_string(now.norm_eps), std::to_string(next.norm_eps));
  }
  const RopeScaling &a = now.rope_scaling, &b = next.rope_scaling;
  if (a.kind != b.kind || a.divisors != b.divisors || a.attention_factor != b.attention_factor) {
    return mismatch("rope_scaling", std::string(RopeScalingName(a.kind)),
                    std::string(RopeScalingName(b.kind)) +
                        (a.kind == b.kind ? " with other factors" : ""));
  }
  return Status::Ok();
}

// The views of `w` without its storage: the tensors an update leaves alone are read where they
// are (Transformer::AdoptWeights keeps that storage alive).
ModelWeights ViewsOnly(const ModelWeights& w) {
  ModelWeights out;
  out.config = w.config;
  out.format = w.format;
  out.source = w.source;
  out.token_embedding = w.token_embedding;
  out.layers = w.layers;
  out.final_norm = w.final_norm;
  out.lm_head = w.lm_head;
  return out;
}

// Where one file tensor lands: (role, layer) and its first row in the file tensor (a fused
// Phi-3 tensor holds several roles, one after another along its rows).
struct UpdatePiece {
  TensorRole role;
  int64_t layer;
  int64_t first_row;
};

std::vector<UpdatePiece> PiecesOf(const ModelConfig& c, TensorRole role, int64_t layer) {
  const int64_t q = c.n_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim;
  if (role == TensorRole::kQkv) {
    return {{TensorRole::kWq, layer, 0}, {TensorRole::kWk, layer, q},
            {TensorRole::kWv, layer, q + kv}};
  }
  if (role == TensorRole::kGateUp) {
    return {{TensorRole::kGate, layer, 0}, {TensorRole::kUp, layer, c.ffn_dim}};
  }
  return {{role, layer, 0}};
}

bool RowsEqual(const TensorView& a, const uint8_t* b, size_t row_bytes, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    const void* ra = a.rank == 2 ? a.row_bytes(r) : a.data;
    if (std::memcmp(ra, b + static_cast<size_t>(r) * row_bytes, row_bytes) != 0) return false;
    if (a.rank != 2) break;
  }
  return true;
}

}  // namespace

Result<Transformer> BuildFromDisk(const Transformer& current, const std::string& path,
                                  const KernelContext& ctx) {
  const std::string who = "weight update from " + path;
  DETINFER_ASSIGN_OR_RETURN(ModelWeights next, LoadModel(path));
  DETINFER_RETURN_IF_ERROR(CheckSameArchitecture(current.config(), next.config, who));
  DETINFER_ASSIGN_OR_RETURN(const std::vector<TensorEntry> now, ListTensors(current.weights()));
  DETINFER_ASSIGN_OR_RETURN(const std::vector<TensorEntry> then, ListTensors(next));
  if (now.size() != then.size()) {
    return Status::InvalidArgument(who + ": it has " + std::to_string(then.size()) +
                                   " tensors but the serving model has " +
                                   std::to_string(now.size()));
  }
  for (size_t i = 0; i < now.size(); ++i) {
    const std::vector<int64_t> a = ViewShape(*now[i].view), b = ViewShape(*then[i].view);
    if (a != b) {
      return Status::InvalidArgument(
          who + ": tensor " + HfTensorName(next.config.arch, then[i].role, then[i].layer) +
          " has shape " + UpdateShapeString(b) + " but the serving model's is " +
          UpdateShapeString(a));
    }
  }
  return Transformer::Create(std::move(next), ctx);
}

Result<Transformer> BuildFromTensors(const Transformer& current,
                                     std::span<const NamedTensor> tensors,
                                     const KernelContext& ctx) {
  const ModelConfig& c = current.config();
  const std::string who = "weight update";
  std::map<std::string, std::pair<TensorRole, int64_t>> by_name;
  // Mixture of experts: each expert's matrix by its own Hugging Face name -> (stacked role,
  // layer, expert).
  struct ExpertSlot {
    TensorRole role;
    int64_t layer, expert;
  };
  std::map<std::string, ExpertSlot> by_expert_name;
  for (const auto& [role, layer] : ListFileRoles(c)) {
    if (IsStackedExpertRole(role)) {
      for (int64_t e = 0; e < c.n_experts; ++e) {
        by_expert_name.emplace(HfExpertTensorName(c.arch, role, layer, e),
                               ExpertSlot{role, layer, e});
      }
      continue;
    }
    by_name.emplace(HfTensorName(c.arch, role, layer), std::make_pair(role, layer));
  }
  const std::string tied_head = HfTensorName(c.arch, TensorRole::kLmHead, -1);
  ModelWeights next = ViewsOnly(current.weights());
  std::set<std::string> seen;
  const NamedTensor* head_copy = nullptr;  // "lm_head.weight" of a tied model
  // A stacked expert tensor is copied whole the first time one of its experts is updated; the
  // experts given then overwrite their slices of the copy.
  std::map<std::pair<TensorRole, int64_t>, uint8_t*> stacked_copies;
  for (const NamedTensor& t : tensors) {
    const std::string name = who + ": tensor '" + t.name + "'";
    if (!seen.insert(t.name).second) return Status::InvalidArgument(name + " is given twice");
    if (auto ex = by_expert_name.find(t.name); ex != by_expert_name.end()) {
      const ExpertSlot slot = ex->second;
      TensorView& stacked = *MutableViewOf(next, slot.role, slot.layer);
      const std::vector<int64_t> want = {stacked.shape[1], stacked.shape[2]};
      if (t.shape != want) {
        return Status::InvalidArgument(name + " has shape " + UpdateShapeString(t.shape) +
                                       " but the model's is " + UpdateShapeString(want));
      }
      if (t.dtype != stacked.dtype) {
        return Status::InvalidArgument(
            name + " is " + std::string(DTypeName(t.dtype)) + " but the model stores it as " +
            std::string(DTypeName(stacked.dtype)) +
            " (updates come in the stored dtype: never rounded)");
      }
      const size_t expert_bytes = StorageBytes(t.dtype, want[0] * want[1]);
      if (t.bytes.size() != expert_bytes) {
        return Status::InvalidArgument(name + " has " + std::to_string(t.bytes.size()) +
                                       " bytes but " + UpdateShapeString(t.shape) + " " +
                                       std::string(DTypeName(t.dtype)) + " takes " +
                                       std::to_string(expert_bytes));
      }
      uint8_t*& copy = stacked_copies[{slot.role, slot.layer}];
      if (copy == nullptr) {
        const size_t all = expert_bytes * static_cast<size_t>(stacked.shape[0]);
        DETINFER_ASSIGN_OR_RETURN(AlignedBuffer buf, AlignedBuffer::Allocate(all));
        std::memcpy(buf.data(), stacked.data, all);  // stacked views are contiguous
        copy = buf.as<uint8_t>();
        stacked.data = copy;
        next.owned.push_back(std::move(buf));
      }
      std::memcpy(copy + static_cast<size_t>(slot.expert) * expert_bytes, t.bytes.data(),
                  expert_bytes);
      continue;
    }
    auto it = by_name.find(t.name);
    const bool is_tied_head = c.tied_embeddings && t.name == tied_head;
    if (it == by_name.end() && !is_tied_head) {
      return Status::NotFound(name + " is not a tensor of this " + std::string(ArchName(c.arch)) +
                              " model (Hugging Face names, e.g. '" +
                              HfTensorName(c.arch, TensorRole::kWq, 0) + "')");
    }
    const auto [role, layer] =
        is_tied_head ? std::make_pair(TensorRole::kTokenEmbedding, int64_t{-1}) : it->second;
    const std::vector<int64_t> want = ExpectedShape(c, role);
    if (t.shape != want) {
      return Status::InvalidArgument(name + " has shape " + UpdateShapeString(t.shape) +
                                     " but the model's is " + UpdateShapeString(want));
    }
    const std::vector<UpdatePiece> pieces = PiecesOf(c, role, layer);
    for (const UpdatePiece& p : pieces) {
      const DType stored = MutableViewOf(next, p.role, p.layer)->dtype;
      if (t.dtype != stored) {
        return Status::InvalidArgument(
            name + " is " + std::string(DTypeName(t.dtype)) + " but the model stores it as " +
            std::string(DTypeName(stored)) + " (updates come in the stored dtype: never rounded)");
      }
    }
    const int64_t rows = want[0], cols = want.size() == 2 ? want[1] : 1;
    const size_t row_bytes = StorageBytes(t.dtype, cols);
    if (want.size() == 1 && DTypeSize(t.dtype) == 0) {
      return Status::InvalidArgument(name + ": a 1-D tensor cannot be in block format " +
                                     std::string(DTypeName(t.dtype)));
    }
    const size_t total = row_bytes * static_cast<size_t>(rows);
    if (t.bytes.size() != total) {
      return Status::InvalidArgument(name + " has " + std::to_string(t.bytes.size()) +
                                     " bytes but " + UpdateShapeString(t.shape) + " " +
                                     std::string(DTypeName(t.dtype)) + " takes " +
                                     std::to_string(total));
    }
    if (is_tied_head) {  // checked against the final embedding once every tensor is in
      head_copy = &t;
      continue;
    }
    DETINFER_ASSIGN_OR_RETURN(AlignedBuffer buf, AlignedBuffer::Allocate(total));
    auto* dst = buf.as<uint8_t>();
    for (size_t i = 0; i < pieces.size(); ++i) {
      const UpdatePiece& p = pieces[i];
      const std::vector<int64_t> shape = ExpectedShape(c, p.role);
      const int64_t piece_rows = shape[0];
      // Hugging Face rows are rotate-half; the model's views keep its file's convention.
      const bool reorder = IsRopeOrdered(p.role) && c.rope_style != RopeStyle::kRotateHalf;
      // On ctx's threads, a stretch of rows each (the fresh pages are faulted in parallel).
      constexpr int64_t kRowsPerTask = 64;
      ctx.ParallelFor((piece_rows + kRowsPerTask - 1) / kRowsPerTask, [&](int64_t task) {
        const int64_t end = std::min(piece_rows, (task + 1) * kRowsPerTask);
        for (int64_t r = task * kRowsPerTask; r < end; ++r) {
          const int64_t src =
              reorder ? RopeSourceRow(r, c.head_dim, RopeStyle::kRotateHalf, c.rope_style) : r;
          std::memcpy(dst + static_cast<size_t>(p.first_row + r) * row_bytes,
                      t.bytes.data() + static_cast<size_t>(p.first_row + src) * row_bytes,
                      row_bytes);
        }
      });
      TensorView v;
      v.data = dst + static_cast<size_t>(p.first_row) * row_bytes;
      v.dtype = t.dtype;
      v.rank = static_cast<int>(shape.size());
      v.shape[0] = shape[0];
      v.stride[0] = v.rank == 2 ? shape[1] : 1;
      if (v.rank == 2) {
        v.shape[1] = shape[1];
        v.stride[1] = 1;
      }
      if (IsVectorRole(p.role) && p.role != TensorRole::kBq && p.role != TensorRole::kBk &&
          p.role != TensorRole::kBv) {
        DETINFER_RETURN_IF_ERROR(CheckFiniteNorm(v, who, t.name));
      }
      *MutableViewOf(next, p.role, p.layer) = v;
      if (p.role == TensorRole::kTokenEmbedding && c.tied_embeddings) next.lm_head = v;
    }
    next.owned.push_back(std::move(buf));
  }
  if (head_copy != nullptr &&
      !RowsEqual(next.token_embedding, head_copy->bytes.data(),
                 StorageBytes(head_copy->dtype, c.dim), c.vocab_size)) {
    return Status::InvalidArgument(
        who + ": tensor '" + tied_head + "' differs from " +
        HfTensorName(c.arch, TensorRole::kTokenEmbedding, -1) +
        ", but this model ties its head to its embedding (update the embedding alone)");
  }
  DETINFER_RETURN_IF_ERROR(ValidateWeights(next));
  return Transformer::Create(std::move(next), ctx);
}

void Transformer::AdoptWeights(Transformer next) {
  // Tensors the update left alone are still read where this model's weights keep them: that
  // storage moves to the new weights; what no view reads any more (replaced tensors, a file
  // every tensor of which was replaced) is freed with the old model.
  for (MappedFile& f : weights_.files) {
    if (AnyViewWithin(next.weights_, f.data(), f.size())) next.weights_.files.push_back(std::move(f));
  }
  for (AlignedBuffer& b : weights_.owned) {
    if (AnyViewWithin(next.weights_, b.data(), b.size())) {
      next.weights_.owned.push_back(std::move(b));
    }
  }
  weights_ = std::move(next.weights_);
  params_ = std::move(next.params_);
  weight_hash_ = next.weight_hash_;
}

namespace {

// The byte ranges a weight hash covers, in order, with a header per tensor (dtype and shape,
// so that equal bytes under another shape hash differently).
struct HashSpans {
  std::vector<int64_t> headers;
  std::vector<std::pair<const void*, size_t>> spans;

  void Packed(const PackedMatrix& m) {
    headers.insert(headers.end(), {static_cast<int64_t>(m.dtype()), m.n(), m.k()});
    spans.emplace_back(m.data(), m.bytes());
  }
  void View(const TensorView& v) {
    headers.insert(headers.end(), {static_cast<int64_t>(v.dtype), v.rank, v.shape[0],
                                   v.rank == 2 ? v.shape[1] : 0});
    if (v.data == nullptr || v.rank == 0) return;
    if (v.rank == 1) {
      spans.emplace_back(v.data, StorageBytes(v.dtype, v.shape[0]));
      return;
    }
    const size_t row = StorageBytes(v.dtype, v.shape[1]);
    if (v.is_contiguous()) {
      spans.emplace_back(v.data, row * static_cast<size_t>(v.shape[0]));
      return;
    }
    for (int64_t r = 0; r < v.shape[0]; ++r) spans.emplace_back(v.row_bytes(r), row);
  }
  void Floats(const std::vector<float>& f) { spans.emplace_back(f.data(), f.size() * sizeof(float)); }
};

// Spans are cut into pieces of this many bytes, hashed alone (on any thread) and then combined
// in order: the value depends on the bytes and this constant only, never on the thread count.
constexpr size_t kWeightHashPiece = size_t{1} << 20;

// `hashed`, when set, is told each piece once hashed (Transformer::HashWeights releases file
// pages with it).
uint64_t HashOfSpans(const HashSpans& h, const KernelContext& ctx,
                     const std::function<void(const void*, size_t)>& hashed = nullptr) {
  std::vector<std::pair<const uint8_t*, size_t>> pieces;
  for (const auto& [data, bytes] : h.spans) {
    const auto* p = static_cast<const uint8_t*>(data);
    for (size_t at = 0; at < bytes; at += kWeightHashPiece) {
      pieces.emplace_back(p + at, std::min(kWeightHashPiece, bytes - at));
    }
  }
  std::vector<uint64_t> digests(pieces.size() + 1);
  digests.back() = XXH3_64bits(h.headers.data(), h.headers.size() * sizeof(int64_t));
  ctx.ParallelFor(static_cast<int64_t>(pieces.size()), [&](int64_t i) {
    const auto& [p, n] = pieces[static_cast<size_t>(i)];
    digests[static_cast<size_t>(i)] = XXH3_64bits(p, n);
    if (hashed) hashed(p, n);
  });
  return XXH3_64bits(digests.data(), digests.size() * sizeof(uint64_t));
}

}  // namespace

uint64_t Transformer::HashWeights(const KernelContext& ctx) const {
  // What the forward pass reads, in a fixed order: the packed matrices (q/k rows already in
  // the internal layout, so one set of weights hashes alike from any file format), the
  // embedding, the norms and the biases as the pass uses them.
  HashSpans h;
  h.View(weights_.token_embedding);
  for (size_t l = 0; l < params_.layers.size(); ++l) {
    const LayerParams& p = params_.layers[l];
    h.View(p.attn_norm);  // the norms as the pass multiplies by them (Gemma's: 1 + w)
    for (const PackedMatrix& m : p.qkv.runs) h.Packed(m);
    h.Floats(p.qkv_bias);
    h.View(p.q_norm);
    h.View(p.k_norm);
    h.Packed(p.wo);
    if (p.post_attn_norm.data != nullptr) h.View(p.post_attn_norm);
    h.View(p.ffn_norm);
    for (const PackedMatrix& m : p.gate_up.runs) h.Packed(m);
    h.Packed(p.down);
    if (p.post_ffn_norm.data != nullptr) h.View(p.post_ffn_norm);
    if (!p.expert_down.empty()) {  // mixture of experts (gate_up / down are then empty)
      h.Packed(p.router);
      for (size_t e = 0; e < p.expert_down.size(); ++e) {
        for (const PackedMatrix& m : p.expert_gate_up[e].runs) h.Packed(m);
        h.Packed(p.expert_down[e]);
      }
    }
  }
  h.View(params_.final_norm);
  h.Packed(params_.lm_head);  // (Gemma's embedding scale follows from the embedding's shape and dtype)
  // What is read from the model's files (the embedding, norms, biases) leaves memory once
  // hashed, as the packer's sources do: the gather then faults in only the rows of tokens seen,
  // and the load never holds the whole embedding beside the packed weights.
  return HashOfSpans(h, ctx, [this](const void* p, size_t n) {
    for (const MappedFile& f : weights_.files) {
      if (f.Contains(p, n)) f.ReleasePages(p, n);
    }
  });
}

}  // namespace detinfer
