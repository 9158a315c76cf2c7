// ModelBundle: a model ready to run and the tokenizer that goes with it, found the way a user
// would expect: an explicit --tokenizer path, else tokenizer.json (or, without one, SentencePiece's
// tokenizer.model) in a Hugging Face directory, the vocabulary embedded in a GGUF file, or
// tokenizer.bin beside a llama2.c file.
#ifndef DETINFER_MODEL_MODEL_BUNDLE_H_
#define DETINFER_MODEL_MODEL_BUNDLE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/transformer.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace detinfer {

struct ModelBundle {
  std::unique_ptr<Transformer> model;
  std::unique_ptr<Tokenizer> tokenizer;  // null when none was found (token ids still work)
  std::string tokenizer_path;            // the file it was read from; empty when there is none
  // How it was found ("--tokenizer", "beside the model", "embedded in the GGUF file"), or, when
  // there is none, why ("no tokenizer file beside the model", "the GGUF file has no vocabulary").
  std::string tokenizer_source;
  uint64_t model_hash = 0;               // ModelFilesHash of the model's files
  bool model_hash_recalled = false;      // remembered for these files (RecallModelHash), not computed
  uint64_t tokenizer_hash = 0;           // XXH3-64 of the tokenizer file bytes, 0 without one
};

// The content hash of a model's files (all of them, in order): XXH3-64 of every 1 MiB piece,
// hashed on ctx's threads, then of the pieces' digests and the files' sizes — the value depends
// on the bytes only, never on the thread count. Each piece's pages are released once hashed.
inline constexpr size_t kModelHashPiece = size_t{1} << 20;
uint64_t ModelFilesHash(const std::vector<MappedFile>& files, const KernelContext& ctx = {});
// The hash receipts written before ModelFilesHash named models by (XXH3-64 of the bytes as one
// stream, on one thread); `detinfer replay` accepts it for them.
uint64_t ModelFilesHashV1(const std::vector<MappedFile>& files);

// The tokenizer of a model, found as LoadModelBundle finds it (an explicit path first).
struct ModelTokenizer {
  std::unique_ptr<Tokenizer> tokenizer;  // null when none was found
  std::string path;                      // the file it was read from; empty when there is none
  std::string source;                    // how it was found, or why there is none
  uint64_t hash = 0;  // XXH3-64 of a separate tokenizer file; 0 when none or embedded in GGUF
};
Result<ModelTokenizer> FindModelTokenizer(const std::string& model_path, ModelFormat format,
                                          int64_t vocab, const std::string& tokenizer_path);
// Only the tokenizer (for `detinfer tokenize`): the model is mapped to learn its format and
// vocabulary size, not packed, so this is quick on any model size.
Result<ModelTokenizer> LoadModelTokenizer(const std::string& model_path,
                                          const std::string& tokenizer_path = "");

// `tokenizer_path` may be empty (then the defaults above apply). A tokenizer whose vocabulary
// size differs from the model's is an error naming both. `ctx` packs the weights (its ISA path
// and threads; Transformer::Create). `options.cache` says where packed-weight cache files live
// (model/packed_cache.h; the model hash is filled in here); an empty dir: none.
// ModelFilesHash's definition is also remembered hashes' (kHashMemoVersion, packed_cache.cc).
struct BundleOptions {
  PackedCacheOptions cache;
  // With a cache directory, the model hash is remembered there for the files' identities and
  // recalled by later loads (RecallModelHash, packed_cache.h); false: always computed.
  bool recall_model_hash = true;
};
Result<ModelBundle> LoadModelBundle(const std::string& model_path,
                                    const std::string& tokenizer_path = "",
                                    const KernelContext& ctx = {},
                                    const BundleOptions& options = {});

}  // namespace detinfer

#endif  // DETINFER_MODEL_MODEL_BUNDLE_H_
