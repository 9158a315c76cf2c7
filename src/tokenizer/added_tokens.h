// AddedTokenMatcher: finds special / added tokens (e.g. "<|endoftext|>", "<|im_start|>")
// verbatim in the input before any normalization or pre-tokenization, as Hugging Face's
// AddedVocabulary does: at each position the longest token that starts there wins, scanning
// left to right (aho-corasick LeftmostLongest).
#ifndef DETINFER_TOKENIZER_ADDED_TOKENS_H_
#define DETINFER_TOKENIZER_ADDED_TOKENS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace detinfer {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool lstrip = false;  // the match also takes the whitespace to its left
  bool rstrip = false;  // ... and to its right
  bool special = false;
  // Match only where neither neighbour is a word character (Rust regex \w: Alphabetic, Mark,
  // Nd, Pc, Join_Control); a match that fails this is dropped and scanning goes on after it,
  // as Hugging Face's AddedVocabulary::find_matches does.
  bool single_word = false;
  // Matched in the normalized text (its content normalized too) instead of the raw input.
  bool normalized = false;
};

// A piece of the input: plain text (id == -1) or one added token.
struct TextSegment {
  std::string_view text;
  int32_t id = -1;
};

class AddedTokenMatcher {
 public:
  // Empty contents are ignored (they would match everywhere).
  void Add(AddedToken token);
  bool empty() const { return tokens_.empty(); }

  // Splits `text` into plain segments (never empty) and token segments, in order.
  std::vector<TextSegment> Split(std::string_view text) const;

 private:
  // A byte trie of the contents: node 0 is the root; `token` is the index into tokens_ of the
  // content ending there (the first one added, if a content repeats), -1 if none. Finding the
  // longest token at a position walks it once, however many tokens share a first byte (Gemma-3
  // has 6322 added tokens starting with '<').
  struct Node {
    int32_t token = -1;
    std::vector<std::pair<uint8_t, int32_t>> children;  // sorted by byte
  };
  std::vector<AddedToken> tokens_;
  std::vector<Node> trie_ = std::vector<Node>(1);
};

// Unicode White_Space (char::is_whitespace in Rust), for lstrip/rstrip. Returns the length of
// the whitespace character at text[pos], 0 if none.
size_t WhitespaceLengthAt(std::string_view text, size_t pos);
// Length of the whitespace character ending at text[end - 1], 0 if none.
size_t WhitespaceLengthBefore(std::string_view text, size_t end);
// Whether code point `cp` is a Rust regex \w character (UTS #18 Annex C word character).
bool IsWordChar(uint32_t cp);

}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_ADDED_TOKENS_H_
