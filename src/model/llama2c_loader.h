// llama2.c checkpoints (`.bin`, the legacy version-0 layout written by export.py / run.c).
//
// Layout: seven int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
// a negative vocab_size means the classifier is stored separately), then fp32 arrays in run.c's
// order: token_embedding [vocab, dim], rms_att [L, dim], wq [L, dim, dim], wk [L, kv_dim, dim],
// wv [L, kv_dim, dim], wo [L, dim, dim], rms_ffn [L, dim], w1 [L, hidden, dim],
// w2 [L, dim, hidden], w3 [L, hidden, dim], rms_final [dim], freq_cis_real/imag
// [seq_len, head_size/2] each (ignored: detinfer builds its own RoPE table), wcls [vocab, dim]
// if unshared. run.c computes W @ x with W (out, in), so every matrix is already [out, in], the
// layout ModelWeights wants; the views point into the memory map.
#ifndef DETINFER_MODEL_LLAMA2C_LOADER_H_
#define DETINFER_MODEL_LLAMA2C_LOADER_H_

#include <string>

#include "core/mapped_file.h"
#include "core/status.h"
#include "model/weights.h"

namespace detinfer {

inline constexpr size_t kLlama2cHeaderBytes = 7 * sizeof(int32_t);

// The file must be exactly header + the arrays above: a shorter file is truncated, a longer
// one is not this layout (e.g. a newer llama2.c version); both are errors naming the sizes.
// Both forms end with ValidateWeights; the second reads a file already in memory
// (MappedFile::FromBytes) and keeps it alive in the weights.
Result<ModelWeights> LoadLlama2c(const std::string& path);
Result<ModelWeights> LoadLlama2c(MappedFile file);

}  // namespace detinfer

#endif  // DETINFER_MODEL_LLAMA2C_LOADER_H_
