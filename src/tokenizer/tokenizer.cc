#include "tokenizer/tokenizer.h"

#include "tokenizer/utf8.h"

namespace detinfer {

Status Tokenizer::CheckId(int32_t id) const {
  if (id >= 0 && id < vocab_size()) return Status::Ok();
  return Status::OutOfRange("token id " + std::to_string(id) + " is outside the vocabulary (size " +
                            std::to_string(vocab_size()) + ")");
}

Result<std::string> Tokenizer::Decode(std::span<const int32_t> ids) const {
  std::string bytes;
  int32_t prev = -1;
  for (int32_t id : ids) {
    DETINFER_ASSIGN_OR_RETURN(std::string piece, TokenBytes(id, prev));
    bytes += piece;
    prev = id;
  }
  std::string text;
  text.reserve(bytes.size());
  AppendUtf8Lossy(bytes, /*final=*/true, &text);
  return text;
}

Result<std::string> Tokenizer::Decode(std::span<const int32_t> ids,
                                      const DecodeOptions& options) const {
  if (!options.skip_special_tokens) return Decode(ids);
  std::vector<int32_t> kept;
  kept.reserve(ids.size());
  for (int32_t id : ids) {
    DETINFER_RETURN_IF_ERROR(CheckId(id));
    if (!IsSpecial(id)) kept.push_back(id);
  }
  return Decode(kept);
}

}  // namespace detinfer
