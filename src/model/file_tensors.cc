#include "model/file_tensors.h"

#include <cstring>
#include <initializer_list>
#include <string>

#include "core/storage_format.h"
#include "model/arch.h"

namespace detinfer {

namespace {

struct Part {
  TensorRole role;
  bool rope;  // rows follow the RoPE pair convention
};

// Rows of `parts` (each [rows_i, cols] in one dtype) stacked into one [sum rows_i, cols] tensor.
Result<TensorView> Join(const ModelWeights& w, int64_t layer, std::initializer_list<Part> parts,
                        RopeStyle target, std::vector<AlignedBuffer>* owned) {
  const ModelConfig& c = w.config;
  auto& mw = const_cast<ModelWeights&>(w);  // read only: MutableViewOf is the one lookup
  const TensorRole first = parts.begin()->role;
  const TensorView& head = *MutableViewOf(mw, first, layer);
  std::vector<const TensorView*> views;
  int64_t rows = 0;
  for (const Part& p : parts) {
    const TensorView* v = MutableViewOf(mw, p.role, layer);
    if (v->dtype != head.dtype) {
      std::string msg(ArchName(c.arch));
      msg += " files store ";
      for (const Part& q : parts) {
        if (q.role != first) msg += " | ";
        msg += RoleName(q.role);
      }
      msg += " as one tensor, but ";
      msg += EntryName(p.role, layer);
      msg += " is ";
      msg += DTypeName(v->dtype);
      msg += " and ";
      msg += EntryName(first, layer);
      msg += " ";
      msg += DTypeName(head.dtype);
      msg += " (give them one dtype)";
      return Status::Unsupported(msg);
    }
    views.push_back(v);
    rows += v->shape[0];
  }
  const int64_t cols = views.front()->shape[1];
  const DType dtype = views.front()->dtype;
  const size_t row_bytes = StorageBytes(dtype, cols);
  DETINFER_ASSIGN_OR_RETURN(AlignedBuffer buf,
                            AlignedBuffer::Allocate(static_cast<size_t>(rows) * row_bytes));
  auto* dst = buf.as<uint8_t>();
  size_t i = 0;
  for (const Part& p : parts) {
    const TensorView& v = *views[i++];
    for (int64_t r = 0; r < v.shape[0]; ++r, dst += row_bytes) {
      const int64_t src = p.rope ? RopeSourceRow(r, c.head_dim, c.rope_style, target) : r;
      std::memcpy(dst, v.row_bytes(src), row_bytes);
    }
  }
  TensorView out = TensorView::Contiguous(buf.data(), dtype, {rows, cols});
  owned->push_back(std::move(buf));
  return out;
}

}  // namespace

Result<std::vector<FileTensor>> ListFileTensors(const ModelWeights& w, RopeStyle target,
                                                std::vector<AlignedBuffer>* owned) {
  // Every view present and shaped as the config says (the joins below rely on it).
  DETINFER_RETURN_IF_ERROR(ListTensors(w).status());
  std::vector<FileTensor> out;
  for (const auto& [role, layer] : ListFileRoles(w.config)) {
    if (role == TensorRole::kQkv) {
      DETINFER_ASSIGN_OR_RETURN(
          TensorView v, Join(w, layer,
                             {{TensorRole::kWq, true}, {TensorRole::kWk, true},
                              {TensorRole::kWv, false}},
                             target, owned));
      out.push_back({role, layer, v, false});
    } else if (role == TensorRole::kGateUp) {
      DETINFER_ASSIGN_OR_RETURN(
          TensorView v,
          Join(w, layer, {{TensorRole::kGate, false}, {TensorRole::kUp, false}}, target, owned));
      out.push_back({role, layer, v, false});
    } else {
      out.push_back({role, layer, *MutableViewOf(const_cast<ModelWeights&>(w), role, layer),
                     IsRopeOrdered(role)});  // ListTensors checked it
    }
  }
  return out;
}

}  // namespace detinfer
