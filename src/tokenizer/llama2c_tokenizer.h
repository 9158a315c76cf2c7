// llama2.c tokenizer.bin (karpathy/llama2.c, written by tokenizer.py export()):
//   int32 max_token_length
//   per token: float32 score, int32 len, len bytes (no terminator)
// all little-endian. The file does not store the vocabulary size (run.c takes it from the
// checkpoint header). Encode/decode follow run.c; see score_bpe.h (flavour kLlama2c).
// BOS = 1, EOS = 2, byte tokens <0x00>..<0xFF> = ids 3..258.
#ifndef DETINFER_TOKENIZER_LLAMA2C_TOKENIZER_H_
#define DETINFER_TOKENIZER_LLAMA2C_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace detinfer {

// `vocab_size` from the checkpoint, or -1 to read tokens until the end of the file. With a
// vocab_size, bytes left after the last token are an error (the file and the checkpoint do not
// belong together). Every length is checked against the bytes left; errors name the path, the
// token index and the byte offset.
Result<std::unique_ptr<Tokenizer>> LoadLlama2cTokenizer(const std::string& path,
                                                        int32_t vocab_size = -1);

Result<std::unique_ptr<Tokenizer>> ParseLlama2cTokenizer(std::span<const uint8_t> bytes,
                                                         const std::string& source,
                                                         int32_t vocab_size = -1);

}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_LLAMA2C_TOKENIZER_H_
