// WriteGguf: a model as one GGUF v3 file, little-endian
// (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md):
//   "GGUF" | u32 version = 3 | u64 tensor count | u64 kv count
//   kv pairs: string key | u32 value type | value          (strings: u64 length + bytes)
//   tensor infos: string name | u32 n_dims | u64 ne[n_dims] (innermost first: W [out, in] has
//                 ne = [in, out]) | u32 ggml type | u64 offset (from the data section, aligned)
//   zero padding to general.alignment (32) | data, each tensor at a multiple of 32
//
// Metadata: general.architecture (llama / qwen2 / qwen3), general.alignment, general.name,
// general.file_type, and <arch>.context_length, .embedding_length, .block_count,
// .feed_forward_length, .attention.head_count, .attention.head_count_kv, .attention.key_length,
// .attention.value_length, .rope.dimension_count, .rope.freq_base,
// .attention.layer_norm_rms_epsilon, with the value types llama.cpp checks (u32 counts, f32
// floats). Tokenizer metadata only when the caller passes it (`extra`: e.g. the tokenizer.*
// pairs of the GGUF file being converted, copied verbatim): ModelWeights has no vocabulary, and
// without one llama.cpp itself would not load the file; detinfer's reader does.
//
// RoPE: llama.cpp's llama arch rotates interleaved pairs (its converter permutes Hugging Face's
// q/k rows); qwen2/qwen3 use NEOX (rotate-half) order, unpermuted. q/k rows, biases and q/k
// norms are reordered when the weights' convention differs from the arch's.
#ifndef DETINFER_MODEL_GGUF_WRITER_H_
#define DETINFER_MODEL_GGUF_WRITER_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/gguf.h"
#include "model/weights.h"

namespace detinfer {

inline constexpr uint32_t kGgufWriteAlignment = 32;

// The RoPE convention GGUF files of `arch` use.
RopeStyle GgufRopeStyle(Arch arch);

// A metadata pair written verbatim after the writer's own; `value` must outlive the write.
struct GgufExtraKv {
  std::string key;
  const GgufValue* value;
};
// The tokenizer.* pairs of `g` (its vocabulary, merges, special ids, chat template), in key
// order, for WriteGguf's `extra`.
std::vector<GgufExtraKv> GgufTokenizerMetadata(const GgufFile& g);

struct GgufWriteOptions {
  // Mixtral only: each expert's matrices as their own tensors (blk.L.ffn_gate.E.weight, ...),
  // the layout of early llama.cpp Mixtral files, instead of the stacked ffn_*_exps. For tests
  // of the loader's support of such files; llama.cpp reads both, the default is the current one.
  bool per_expert_tensors = false;
};

// Writes `path` (through a temporary file renamed into place). Errors name the tensor or path;
// an `extra` key the writer sets itself (general.*, <arch>.*) is an error naming it.
// RoPE scaling: linear as llama.cpp's keys rope.scaling.type = "linear" and rope.scaling.factor
// (f32; llama.cpp's gemma3 applies it to the global layers only, as transformers does); the
// other kinds with per-frequency divisors as the tensor rope_freqs.weight (longrope: its two
// factor lists); yarn is refused.
Status WriteGguf(const ModelWeights& w, const std::string& path,
                 std::span<const GgufExtraKv> extra = {}, const GgufWriteOptions& options = {});

}  // namespace detinfer

#endif  // DETINFER_MODEL_GGUF_WRITER_H_
