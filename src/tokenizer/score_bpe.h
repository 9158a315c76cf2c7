// ScoreBpe: SentencePiece-style BPE over a scored vocabulary (no merge list): start from one
// symbol per UTF-8 character and repeatedly merge the adjacent pair whose concatenation is the
// vocabulary entry with the highest score, leftmost on ties; characters the vocabulary lacks
// become byte tokens "<0xXX>". Two flavours, which differ only where their references differ:
//
//  kLlama2c  (karpathy/llama2.c run.c, encode/decode): the vocabulary spells a space " "; a
//            dummy " " token is prepended to non-empty text; a character missing from the
//            vocabulary becomes token byte + 3 at once; a pair merges only if its score is
//            > -1e10 (run.c's initial best score); decode drops a piece's leading space only
//            right after BOS (id 1) and turns "<0xXX>" pieces into the raw byte.
//  kLlamaCpp (llama.cpp's SPM tokenizer for GGUF "llama" vocabularies): the vocabulary spells a
//            space "▁" (U+2581); control (3) and user-defined (4) tokens are matched verbatim
//            first; with add_space_prefix a space is prepended to text at the start and after
//            such a token; a character missing from the vocabulary stays a symbol (it may still
//            merge) and, if it remains alone, becomes its bytes' "<0xXX>" tokens, else unk.
//            Decode drops the prepended space again (at the start and after such a token).
#ifndef DETINFER_TOKENIZER_SCORE_BPE_H_
#define DETINFER_TOKENIZER_SCORE_BPE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace detinfer {

// llama.cpp's llama_token_type values as stored in GGUF tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct ScoreBpeParts {
  enum class Flavor { kLlama2c, kLlamaCpp };
  Flavor flavor = Flavor::kLlama2c;
  std::string source;                // names the file in error messages
  std::vector<std::string> tokens;   // by id
  std::vector<float> scores;         // by id, same length
  std::vector<int32_t> types;        // by id (TokenType), or empty: all normal
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t unk_id = -1;
  bool add_space_prefix = true;      // kLlamaCpp only
};

// Errors name parts.source and the entry at fault (length mismatch, bad type, bad special id).
Result<std::unique_ptr<Tokenizer>> MakeScoreBpe(ScoreBpeParts parts);

}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_SCORE_BPE_H_
