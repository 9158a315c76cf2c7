// The tokenizer embedded in a GGUF file (tokenizer.ggml.* metadata), built by
// tokenizer/vocab_tokenizer.h. The GGUF reader has already checked every length and count.
#ifndef DETINFER_MODEL_GGUF_VOCAB_H_
#define DETINFER_MODEL_GGUF_VOCAB_H_

#include <memory>

#include "core/status.h"
#include "model/gguf.h"
#include "tokenizer/tokenizer.h"

namespace detinfer {

// Null (and Ok) when the file has no tokenizer.ggml.tokens; errors name the file and the key.
Result<std::unique_ptr<Tokenizer>> GgufTokenizer(const GgufFile& gguf);

}  // namespace detinfer

#endif  // DETINFER_MODEL_GGUF_VOCAB_H_
