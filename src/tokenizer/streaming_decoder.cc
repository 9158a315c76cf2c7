#include "tokenizer/streaming_decoder.h"

#include "tokenizer/utf8.h"

namespace detinfer {

Result<std::string> StreamingDecoder::Push(int32_t id) {
  DETINFER_ASSIGN_OR_RETURN(std::string piece, tokenizer_.TokenBytes(id, prev_id_));
  prev_id_ = id;
  pending_ += piece;
  std::string out;
  const size_t used = AppendUtf8Lossy(pending_, /*final=*/false, &out);
  pending_.erase(0, used);
  return out;
}

std::string StreamingDecoder::Finish() {
  std::string out;
  AppendUtf8Lossy(pending_, /*final=*/true, &out);
  pending_.clear();
  return out;
}

}  // namespace detinfer
