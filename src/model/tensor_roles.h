// The tensors of a ModelWeights as a flat list of (role, layer, view), shared by the random
// initialiser and the file writers, so that each of them names, shapes and orders tensors from
// one table instead of repeating the per-layer field list.
//
// Also the RoPE row permutation between the two pair conventions: the same rotation is
// expressed by different row orders of q_proj/k_proj (kernels/rope.h), and each file format
// fixes one convention, so a writer whose target convention differs from the weights' must
// reorder those rows when it writes them.
#ifndef DETINFER_MODEL_TENSOR_ROLES_H_
#define DETINFER_MODEL_TENSOR_ROLES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "model/weights.h"

namespace detinfer {

// Numbered explicitly: the random initialiser keys each tensor's stream by its role number, so
// renumbering would change every generated model.
enum class TensorRole : int {
  kTokenEmbedding = 0,
  kFinalNorm = 1,
  kLmHead = 2,
  kAttnNorm = 3,
  kWq = 4,
  kWk = 5,
  kWv = 6,
  kWo = 7,
  kBq = 8,
  kBk = 9,
  kBv = 10,
  kQNorm = 11,
  kKNorm = 12,
  kFfnNorm = 13,
  kGate = 14,
  kUp = 15,
  kDown = 16,
  // Fused file tensors only (Phi-3: [q | k | v] and [gate | up]): the loaders split them into
  // the roles above and the writers join them; ModelWeights holds no slot for them, and they
  // are outside kNumTensorRoles (which keys the random initialiser's streams).
  kQkv = 17,
  kGateUp = 18,
  // Mixture of experts (config.n_experts > 0, in place of kGate / kUp / kDown): the router
  // [n_experts, dim] and each expert matrix stacked [n_experts, rows, cols] (rank 3). The
  // random initialiser keys them apart from the roles above (random_init.cc), so that adding
  // them changed no existing model.
  kRouter = 19,
  kExpertsGate = 20,
  kExpertsUp = 21,
  kExpertsDown = 22,
  // Gemma 2's norms of the attention and FFN outputs (ArchInfo::post_norms), [dim]; keyed
  // apart in the random initialiser like the expert roles.
  kPostAttnNorm = 23,
  kPostFfnNorm = 24,
};
inline constexpr int kNumTensorRoles = 17;

// kExpertsGate, kExpertsUp, kExpertsDown.
bool IsStackedExpertRole(TensorRole role);

struct TensorEntry {
  TensorRole role;
  int64_t layer;           // -1 for the global tensors (embedding, final norm, lm_head)
  const TensorView* view;  // points into the ModelWeights the list was made from
};

// The slot of (role, layer) in `w` (layer -1 for the global tensors), or null for a role that
// has no slot at that level.
TensorView* MutableViewOf(ModelWeights& w, TensorRole role, int64_t layer);

// The expected shape of a role under `config` (rank 1 or 2, stacked experts 3; W [out, in]).
std::vector<int64_t> ExpectedShape(const ModelConfig& config, TensorRole role);

// True for norms and biases: kept in f32 by HF/GGUF exports whatever the matrices' dtype.
bool IsVectorRole(TensorRole role);

// True for the tensors whose rows (or elements) are indexed by (head, position within head) and
// therefore follow the RoPE pair convention: wq, wk, bq, bk, and the Qwen3 q/k norms (which
// scale q/k element-wise before RoPE, so they must be reordered along with the rows).
bool IsRopeOrdered(TensorRole role);

// Which tensors `config` has (biases only with qkv_bias, q/k norms only with qk_norm, no
// lm_head when tied), in a fixed order: embedding, then each layer's, then final norm, lm_head.
// Does not look at any view.
std::vector<std::pair<TensorRole, int64_t>> ListRoles(const ModelConfig& config);

// The roles of one layer in ListRoles' order. With `file`, a fused_qkv / fused_gate_up arch's
// q/k/v and gate/up appear as its files store them, kQkv and kGateUp (model/arch.h).
std::vector<TensorRole> LayerRoles(const ModelConfig& config, bool file = false);

// ListRoles as the arch's files hold them (LayerRoles with `file`).
std::vector<std::pair<TensorRole, int64_t>> ListFileRoles(const ModelConfig& config);

// ListRoles with the views of `w`, each checked: present, rank/shape as the config says, unit
// stride within a row, a supported dtype. Errors name the tensor ("layer 3 wk: ...").
Result<std::vector<TensorEntry>> ListTensors(const ModelWeights& w);

// "wq", "ffn_norm", ... and "layer 3 wq" for messages.
std::string_view RoleName(TensorRole role);
std::string EntryName(TensorRole role, int64_t layer);

// The arch's own optional tensors must match its flags (model/arch.h: llama and phi3 have
// neither q/k/v bias nor q/k norm, qwen2 has q/k/v bias, qwen3 has q/k norm). (Hugging Face's Llama/Qwen3 "attention_bias"
// would also add an o_proj bias that ModelWeights does not hold, so other mixes are not
// representable there.) `who` prefixes the message.
Status CheckArchFeatures(const ModelConfig& config, std::string_view who);

// For a tensor whose rows are laid out in `from` convention, the source row that lands at row
// `dst_row` once the rows are laid out in `to` convention. Rows come in blocks of head_dim (one
// per head). Interleaved pairs (2i, 2i+1) and rotate-half pairs (i, i + hd/2) of one head:
//   rotate-half row i        <- interleaved row 2i
//   rotate-half row hd/2 + i <- interleaved row 2i + 1
int64_t RopeSourceRow(int64_t dst_row, int64_t head_dim, RopeStyle from, RopeStyle to);

}  // namespace detinfer

#endif  // DETINFER_MODEL_TENSOR_ROLES_H_
