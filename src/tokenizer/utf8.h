// UTF-8 helpers shared by the tokenizers: validation of untrusted input, code point encoding,
// and the lossy decoding that turns arbitrary token bytes into text.
//
// Lossy decoding replaces each *maximal subpart* of an ill-formed sequence with one U+FFFD
// (Unicode §3.9 "U+FFFD Substitution of Maximal Subparts", the policy of WHATWG's decoder and
// of Rust's String::from_utf8_lossy, which Hugging Face tokenizers' decode uses). That choice
// is decided by the bytes seen so far, so a streaming decoder and a whole-string decoder
// produce the same characters.
#ifndef DETINFER_TOKENIZER_UTF8_H_
#define DETINFER_TOKENIZER_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace detinfer {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// Ok if `text` is well-formed UTF-8; otherwise names `what` and the byte offset of the first
// ill-formed sequence.
Status ValidateUtf8(std::string_view text, std::string_view what);

// Length of the well-formed character starting at text[pos], or 0 if it is ill-formed or
// truncated. Needs pos < text.size().
size_t Utf8CharLength(std::string_view text, size_t pos);

// Appends the UTF-8 encoding of `cp` (must be a Unicode scalar value).
void AppendUtf8(uint32_t cp, std::string* out);

// Decodes the well-formed character at text[pos] (Utf8CharLength must be > 0 there).
uint32_t DecodeUtf8At(std::string_view text, size_t pos);

// Appends `bytes` to `out` as valid UTF-8, replacing ill-formed maximal subparts with U+FFFD.
// If `final` is false, a trailing sequence that is a valid but incomplete prefix of a
// character is not consumed; returns the number of bytes consumed.
size_t AppendUtf8Lossy(std::string_view bytes, bool final, std::string* out);

}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_UTF8_H_
