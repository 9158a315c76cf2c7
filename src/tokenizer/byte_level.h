// GPT-2's byte-level alphabet: every byte is shown as one printable Unicode character, so that
// a BPE vocabulary of strings can hold arbitrary bytes. Printable Latin-1 bytes ('!'..'~',
// '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68 bytes, in increasing order, become
// U+0100, U+0101, ... (so ' ' 0x20 is U+0120 'Ġ' and '\n' 0x0A is U+010A 'Ċ').
// Reference: bytes_to_unicode() in openai/gpt-2 src/encoder.py, and the ByteLevel
// pre-tokenizer / decoder of Hugging Face tokenizers, which copies it.
#ifndef DETINFER_TOKENIZER_BYTE_LEVEL_H_
#define DETINFER_TOKENIZER_BYTE_LEVEL_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace detinfer {

// The code point byte `b` is shown as.
uint32_t ByteToCodepoint(uint8_t b);

// Appends the byte-level form of `bytes` (each byte -> its character, UTF-8 encoded).
void AppendByteLevel(std::string_view bytes, std::string* out);

// Inverse: appends the bytes `text` stands for. Returns false, appending nothing, if `text` has
// a character outside the alphabet or is not well-formed UTF-8.
bool AppendFromByteLevel(std::string_view text, std::string* out);

}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_BYTE_LEVEL_H_
