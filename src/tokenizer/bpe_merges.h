// The merge table of a BPE vocabulary, shared by the byte-level (byte_level_bpe.cc) and the
// SentencePiece-style (hf_pipeline*.cc) tokenizer.json models: one place that checks a merge
// against the vocabulary and decides which rank a repeated pair keeps.
#ifndef DETINFER_TOKENIZER_BPE_MERGES_H_
#define DETINFER_TOKENIZER_BPE_MERGES_H_

#include <cstdint>
#include <string>
#include <unordered_map>

#include "core/status.h"
#include "tokenizer/string_map.h"

namespace detinfer {

struct BpeMerge {
  int32_t rank;  // lower merges first
  int32_t id;    // the merged token
};

class BpeMergeTable {
 public:
  void Reserve(size_t n) { merges_.reserve(n); }
  // Merge `rank` of (a, b): a, b and a + b must all be tokens of `ids`; errors begin with
  // `what` (the file and the entry). A repeated pair keeps its last rank, as Hugging Face's
  // HashMap collect does.
  Status Add(const TokenIdMap& ids, size_t rank, const std::string& a, const std::string& b,
             const std::string& what) {
    const int32_t ia = FindToken(ids, a), ib = FindToken(ids, b), iab = FindToken(ids, a + b);
    if (ia < 0) return Status::InvalidArgument(what + ": token '" + a + "' is not in the vocabulary");
    if (ib < 0) return Status::InvalidArgument(what + ": token '" + b + "' is not in the vocabulary");
    if (iab < 0) {
      return Status::InvalidArgument(what + ": merged token '" + a + b +
                                     "' is not in the vocabulary");
    }
    if (rank > static_cast<size_t>(INT32_MAX)) return Status::OutOfRange(what + ": too many merges");
    merges_[Key(ia, ib)] = BpeMerge{static_cast<int32_t>(rank), iab};
    return Status::Ok();
  }
  // The merge of adjacent tokens (left, right), or null.
  const BpeMerge* Find(int32_t left, int32_t right) const {
    auto it = merges_.find(Key(left, right));
    return it == merges_.end() ? nullptr : &it->second;
  }

 private:
  static uint64_t Key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  std::unordered_map<uint64_t, BpeMerge> merges_;
};

}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_BPE_MERGES_H_
