// `detinfer dump-slots`: the K/V slots of one prompt written two ways, byte for byte.
//
// Path A prefills the prompt and decodes one (greedy) token; path B runs one fresh pass over
// prompt + that token. For every layer, KV head and position (the prompt's and the decoded
// token's), slots.npz holds both paths' K and V rows in the cache's storage dtype; report.md
// says per layer whether every byte is equal; manifest.json records what ran.
#ifndef DETINFER_VERIFY_SLOT_DUMP_H_
#define DETINFER_VERIFY_SLOT_DUMP_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "kernels/context.h"
#include "model/transformer.h"
#include "tokenizer/tokenizer.h"

namespace detinfer::verify {

struct SlotDumpLayer {
  bool k_equal = false, v_equal = false;
  double k_max_abs_diff = 0, v_max_abs_diff = 0;
};

struct SlotDump {
  int32_t token = -1;                 // the decoded token
  int64_t positions = 0;              // prompt length + 1
  std::vector<SlotDumpLayer> layers;
  bool all_equal() const;
};

// The NumPy dtype string of a cache dtype ('<f4', '<f2'; bf16 as its raw bits, '<u2').
std::string NpyDescr(DType dtype);

// Runs both paths and writes slots.npz, report.md and manifest.json into out_dir (created).
// `model_files` are (path, sha256) pairs for the manifest; `prompt_text` may be empty.
Result<SlotDump> DumpSlots(const Transformer& model, const KernelContext& ctx,
                           const std::vector<int32_t>& prompt, const std::string& prompt_text,
                           DType kv_dtype, const Tokenizer* tokenizer, const std::string& out_dir,
                           const std::string& model_path,
                           const std::vector<std::pair<std::string, std::string>>& model_files);

// (path, sha256) of the model's files: the file itself, or every regular file of a directory in
// name order.
Result<std::vector<std::pair<std::string, std::string>>> HashModelFiles(const std::string& path);

}  // namespace detinfer::verify

#endif  // DETINFER_VERIFY_SLOT_DUMP_H_
