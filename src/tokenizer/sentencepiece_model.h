// SentencePiece tokenizer.model files: the serialized ModelProto that checkpoints without a
// tokenizer.json ship (Llama-1/2, Mistral v0.1, T5, Gemma), run by the SentencePiece library
// itself (Debian libsentencepiece-dev), so BPE, Unigram, byte fallback and the model's own
// normalizer (precompiled character map, add_dummy_prefix, remove_extra_whitespaces) behave
// exactly as SentencePiece's.
//
// Encode: as Hugging Face's slow (legacy) LlamaTokenizer. The text is split at the strings of
// the special pieces (control pieces such as "<s>", "</s>", "<pad>", the unknown piece "<unk>",
// and the BOS / EOS tokenizer_config.json names; leftmost, longest first), which become their
// ids; each part between them is SentencePiece's encode() on its own (so each gets its own
// dummy prefix). With add_special_tokens: [BOS if add_bos_token (default true)] ids [EOS if
// add_eos_token (default false)], as LlamaTokenizer; for tokenizer_class T5Tokenizer (T5's
// rule, which ignores the flags) ids then EOS. Nothing is added where the model has no such
// piece (a T5 model has no BOS).
//
// Decode: the bytes of each token (TokenBytes) concatenated, ill-formed UTF-8 replaced by
// U+FFFD per maximal subpart. For normal and byte pieces this is SentencePiece's DecodeIds
// ('▁' becomes ' ', byte pieces <0xNN> their byte, the first piece loses its leading '▁' when
// the model's normalizer adds a dummy prefix or removes extra whitespace). Differences from
// DecodeIds, following Hugging Face and the Tokenizer interface: special pieces appear as their
// text (DecodeIds drops control pieces and writes the unknown piece as " ⁇ "); ill-formed UTF-8
// is one U+FFFD per maximal subpart (DecodeIds: one per byte); a model's denormalizer rules
// (rare; trainers write none by default) are not applied.
#ifndef DETINFER_TOKENIZER_SENTENCEPIECE_MODEL_H_
#define DETINFER_TOKENIZER_SENTENCEPIECE_MODEL_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace detinfer {

struct SentencePieceOptions {
  // tokenizer_config.json's bos_token / eos_token: the piece used as BOS / EOS instead of the
  // model's own; it must be a piece of the model (an error otherwise). Empty: the model's.
  std::string bos_token;
  std::string eos_token;
  // tokenizer_config.json's tokenizer_class ("T5Tokenizer" / "T5TokenizerFast": EOS only, the
  // flags below unused), add_bos_token (default true) and add_eos_token (default false).
  std::string tokenizer_class;
  std::optional<bool> add_bos_token;
  std::optional<bool> add_eos_token;
};

// Reads and loads `path`; errors name it (a file that is not a SentencePiece model:
// "<path>: not a SentencePiece model (...)").
Result<std::unique_ptr<Tokenizer>> LoadSentencePieceModel(const std::string& path,
                                                          const SentencePieceOptions& options = {});

// The same from the file's bytes; `source` names them in errors.
Result<std::unique_ptr<Tokenizer>> ParseSentencePieceModel(std::string_view bytes,
                                                           const std::string& source,
                                                           const SentencePieceOptions& options = {});

// Whether `head` (a file's first bytes) starts as a serialized SentencePiece ModelProto does:
// field 1 (pieces, tag 0x0a) holding a SentencePiece message whose first field is its piece
// string (tag 0x0a) no longer than the message. A hint for choosing a loader, not a check.
bool LooksLikeSentencePieceModel(std::string_view head);

}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_SENTENCEPIECE_MODEL_H_
