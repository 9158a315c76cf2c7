// The tensors of a ModelWeights as an architecture's files hold them, for the writers: the
// roles of ListTensors, except that a fused_qkv / fused_gate_up arch (model/arch.h, Phi-3)
// stores [q | k | v] and [gate | up] as one tensor each, joined here (the loaders split them
// again: tensor_source.h).
#ifndef DETINFER_MODEL_FILE_TENSORS_H_
#define DETINFER_MODEL_FILE_TENSORS_H_

#include <cstdint>
#include <vector>

#include "core/buffer.h"
#include "core/status.h"
#include "core/tensor.h"
#include "kernels/rope.h"
#include "model/tensor_roles.h"
#include "model/weights.h"

namespace detinfer {

struct FileTensor {
  TensorRole role;
  int64_t layer;
  TensorView view;
  // The writer still reorders its rows to the file's RoPE convention (IsRopeOrdered roles);
  // a joined tensor's q/k rows are already in `target` order.
  bool rope_ordered;
};

// ListTensors' checks, then the file's tensors in ListFileRoles order. Joined tensors live in
// `owned`; their q/k rows are written in `target` convention. Parts of one fused tensor must
// share a dtype (an error names them otherwise).
Result<std::vector<FileTensor>> ListFileTensors(const ModelWeights& w, RopeStyle target,
                                                std::vector<AlignedBuffer>* owned);

}  // namespace detinfer

#endif  // DETINFER_MODEL_FILE_TENSORS_H_
