// WordCache: the ids of the words (pre-tokenized pieces) already encoded in one Encode call.
// A word's ids depend only on the word, so a repeated word is looked up instead of merged again
// (Hugging Face tokenizers keeps a cache for the same reason). It lives for one call, so the
// tokenizers stay immutable and shareable between threads. Words longer than kMaxKey bytes are
// not kept.
#ifndef DETINFER_TOKENIZER_WORD_CACHE_H_
#define DETINFER_TOKENIZER_WORD_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/status.h"
#include "tokenizer/string_map.h"

namespace detinfer {

class WordCache {
 public:
  // Appends the ids of `word` to *out: from the cache, or from encode(word, ids) once.
  template <typename Fn>
  Status Encode(std::string_view word, std::vector<int32_t>* out, Fn encode) {
    if (word.size() > kMaxKey) return encode(word, out);
    auto it = spans_.find(word);
    if (it == spans_.end()) {
      const size_t begin = ids_.size();
      DETINFER_RETURN_IF_ERROR(encode(word, &ids_));
      it = spans_.emplace(std::string(word), std::pair{begin, ids_.size() - begin}).first;
    }
    out->insert(out->end(), ids_.begin() + static_cast<ptrdiff_t>(it->second.first),
                ids_.begin() + static_cast<ptrdiff_t>(it->second.first + it->second.second));
    return Status::Ok();
  }

 private:
  static constexpr size_t kMaxKey = 256;
  std::unordered_map<std::string, std::pair<size_t, size_t>, StringViewHash, std::equal_to<>> spans_;
  std::vector<int32_t> ids_;
};

}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_WORD_CACHE_H_
