#include "model/tensor_source.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <set>
#include <string_view>

#include "core/buffer.h"
#include "core/storage_format.h"

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

// Rows [row0, row0 + rows) of a row-major matrix, as a view of the same memory.
TensorView RowSlice(const TensorView& v, int64_t row0, int64_t rows) {
  TensorView out = v;
  out.data = v.row_bytes(row0);
  out.shape[0] = rows;
  return out;
}

// Splits a fused file tensor into `parts` (role, rows) in order, after checking its shape.
Status SplitRows(const TensorView& fused, const std::string& name, const std::string& where,
                 int64_t cols, std::initializer_list<std::pair<TensorView*, int64_t>> parts) {
  int64_t rows = 0;
  for (const auto& [slot, n] : parts) rows += n;
  if (fused.rank != 2 || fused.shape[0] != rows || fused.shape[1] != cols ||
      fused.stride[1] != 1) {
    std::string msg = where;
    msg += ": tensor '";
    msg += name;
    msg += "' is ";
    msg += fused.ShapeString();
    msg += " but the config implies a row-major [";
    msg += std::to_string(rows);
    msg += ", ";
    msg += std::to_string(cols);
    msg += "] (fused parts stacked along rows)";
    return Status::InvalidArgument(msg);
  }
  int64_t row0 = 0;
  for (const auto& [slot, n] : parts) {
    *slot = RowSlice(fused, row0, n);
    row0 += n;
  }
  return Status::Ok();
}

// The per-expert tensors of a stacked expert role, copied into one [n_experts, rows, cols]
// buffer the weights own. Each must be a row-major [rows, cols] matrix of the first one's dtype;
// errors name the tensor.
Status StackExperts(CountingLookup& lookup, const NameScheme& names, const std::string& where,
                    TensorRole role, int64_t layer, ModelWeights* w, TensorView* out) {
  const ModelConfig& c = w->config;
  const std::vector<int64_t> shape = ExpectedShape(c, role);
  const int64_t n = shape[0], rows = shape[1], cols = shape[2];
  std::vector<TensorView> parts;
  for (int64_t e = 0; e < n; ++e) {
    const std::string name = names.expert_name(c.arch, role, layer, e);
    DETINFER_ASSIGN_OR_RETURN(TensorView v, lookup.Get(name));
    if (v.rank != 2 || v.shape[0] != rows || v.shape[1] != cols || !v.is_contiguous()) {
      std::string msg = where;
      msg += ": tensor '";
      msg += name;
      msg += "' is ";
      msg += v.ShapeString();
      msg += " but the config implies a row-major [";
      msg += std::to_string(rows);
      msg += ", ";
      msg += std::to_string(cols);
      msg += "]";
      return Status::InvalidArgument(msg);
    }
    if (e > 0 && v.dtype != parts.front().dtype) {
      std::string msg = where;
      msg += ": tensor '";
      msg += name;
      msg += "' is ";
      msg += DTypeName(v.dtype);
      msg += " but '";
      msg += names.expert_name(c.arch, role, layer, 0);
      msg += "' is ";
      msg += DTypeName(parts.front().dtype);
      msg += " (the experts of one matrix are stacked into one tensor of one dtype)";
      return Status::InvalidArgument(msg);
    }
    parts.push_back(v);
  }
  const DType dtype = parts.front().dtype;
  const size_t bytes = StorageBytes(dtype, rows * cols);
  DETINFER_ASSIGN_OR_RETURN(AlignedBuffer buf,
                            AlignedBuffer::Allocate(static_cast<size_t>(n) * bytes));
  for (int64_t e = 0; e < n; ++e) {
    std::memcpy(buf.as<uint8_t>() + static_cast<size_t>(e) * bytes, parts[static_cast<size_t>(e)].data,
                bytes);
  }
  *out = TensorView::Contiguous(buf.data(), dtype, {n, rows, cols});
  w->owned.push_back(std::move(buf));
  return Status::Ok();
}

// NameScheme::stacked_or_per_expert: the stacked tensor when present (read in place), else
// the per-expert ones (copied into one stacked buffer); both forms in one layer is an error.
Status StackedOrPerExpert(const TensorLookup& source, CountingLookup& lookup,
                          const NameScheme& names, TensorRole role, int64_t layer,
                          ModelWeights* w, TensorView* out) {
  const ModelConfig& c = w->config;
  const std::string stacked = names.name(c.arch, role, layer);
  // Expert 0's tensor tells the layouts apart (n_experts comes from the file: no loop over
  // it before a tensor is found missing); other experts' tensors beside a stacked one are named
  // as unused (CheckAllUsed).
  const std::string per_expert = names.expert_name(c.arch, role, layer, 0);
  const bool has_per_expert = source.Has(per_expert);
  if (source.Has(stacked)) {
    if (has_per_expert) {
      return Status::InvalidArgument(source.Where() + ": tensor '" + stacked + "' (stacked "
                                     "experts) and '" + per_expert + "' (one expert's) are both "
                                     "present; a file holds one layout or the other");
    }
    DETINFER_ASSIGN_OR_RETURN(*out, lookup.Get(stacked));
    return Status::Ok();
  }
  if (!has_per_expert) {
    return Status::NotFound(source.Where() + ": missing tensor '" + stacked + "' (nor the "
                            "per-expert '" + per_expert + "', ... of early files)");
  }
  return StackExperts(lookup, names, source.Where(), role, layer, w, out);
}

Status CheckAllUsed(const TensorLookup& lookup, const NameScheme& names, const ModelConfig& c,
                    const std::set<std::string>& used) {
  std::vector<std::string> unused;
  for (const std::string& name : lookup.Names()) {
    if (used.count(name) != 0 || EndsWith(name, ".rotary_emb.inv_freq")) continue;
    if (c.tied_embeddings && name == names.name(c.arch, TensorRole::kLmHead, -1)) continue;
    if (std::find(names.read_with_config.begin(), names.read_with_config.end(), name) !=
        names.read_with_config.end()) {
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
  auto get = [&](TensorRole role, int64_t layer, TensorView* out) -> Status {
    DETINFER_ASSIGN_OR_RETURN(*out, lookup.Get(names.name(c.arch, role, layer)));
    return Status::Ok();
  };
  DETINFER_RETURN_IF_ERROR(get(TensorRole::kTokenEmbedding, -1, &w->token_embedding));
  DETINFER_RETURN_IF_ERROR(get(TensorRole::kFinalNorm, -1, &w->final_norm));
  if (c.tied_embeddings) {
    w->lm_head = w->token_embedding;
  } else {
    DETINFER_RETURN_IF_ERROR(get(TensorRole::kLmHead, -1, &w->lm_head));
  }
  // Layers are appended as they are found, not allocated up front: n_layers comes from the
  // file (up to INT32_MAX), and a crafted count must fail on the first missing tensor rather
  // than allocate ~1 KB per claimed layer (found by fuzz_gguf).
  const std::vector<TensorRole> roles = LayerRoles(c, /*file=*/true);
  const int64_t q = c.n_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim;
  w->layers.clear();
  for (int64_t i = 0; i < c.n_layers; ++i) {
    LayerWeights& l = w->layers.emplace_back();
    for (const TensorRole role : roles) {
      if (role == TensorRole::kQkv || role == TensorRole::kGateUp) {
        TensorView fused;
        DETINFER_RETURN_IF_ERROR(get(role, i, &fused));
        const std::string name = names.name(c.arch, role, i);
        if (role == TensorRole::kQkv) {
          DETINFER_RETURN_IF_ERROR(SplitRows(fused, name, source.Where(), c.dim,
                                             {{&l.wq, q}, {&l.wk, kv}, {&l.wv, kv}}));
        } else {
          DETINFER_RETURN_IF_ERROR(SplitRows(fused, name, source.Where(), c.dim,
                                             {{&l.w_gate, c.ffn_dim}, {&l.w_up, c.ffn_dim}}));
        }
      } else if (IsStackedExpertRole(role) && names.stacked_or_per_expert) {
        DETINFER_RETURN_IF_ERROR(
            StackedOrPerExpert(source, lookup, names, role, i, w, MutableViewOf(*w, role, i)));
      } else if (IsStackedExpertRole(role) && names.expert_name != nullptr) {
        DETINFER_RETURN_IF_ERROR(
            StackExperts(lookup, names, source.Where(), role, i, w, MutableViewOf(*w, role, i)));
      } else {
        DETINFER_RETURN_IF_ERROR(get(role, i, MutableViewOf(*w, role, i)));
      }
    }
  }
  return CheckAllUsed(source, names, c, lookup.used());
}

}  // namespace detinfer
