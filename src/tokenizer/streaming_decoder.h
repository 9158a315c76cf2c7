// StreamingDecoder: turns generated token ids into text one id at a time.
//
// A byte-fallback or byte-level token may carry only part of a UTF-8 character (an emoji is
// often four <0xXX> tokens). The decoder holds such bytes until the character is complete, so
// it never emits a partial character. Ill-formed bytes become U+FFFD as soon as they are known
// to be ill-formed; Finish() turns a held incomplete tail into one U+FFFD. The concatenation of
// everything emitted equals Tokenizer::Decode of the same ids.
#ifndef DETINFER_TOKENIZER_STREAMING_DECODER_H_
#define DETINFER_TOKENIZER_STREAMING_DECODER_H_

#include <cstdint>
#include <string>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace detinfer {

class StreamingDecoder {
 public:
  // `prev_id`: the token before the first one fed (e.g. the prompt's last token), -1 for none.
  // The tokenizer must outlive the decoder.
  explicit StreamingDecoder(const Tokenizer& tokenizer, int32_t prev_id = -1)
      : tokenizer_(tokenizer), prev_id_(prev_id) {}

  // Text made complete by `id` (possibly empty). An invalid id is an error and changes nothing.
  Result<std::string> Push(int32_t id);

  // Whatever is held, with an incomplete trailing character replaced by U+FFFD; resets the
  // held bytes (the previous-token context is kept).
  std::string Finish();

  size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer& tokenizer_;
  int32_t prev_id_;
  std::string pending_;  // at most 3 bytes: a valid prefix of one character
};

}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_STREAMING_DECODER_H_
