// PairMerge: the merge loop shared by BPE (merge rank) and SentencePiece-style (score) models.
//
// Symbols start as a sequence; repeatedly the adjacent pair with the lowest `priority` is
// replaced by the merged symbol, the leftmost pair on ties, until no adjacent pair merges.
// BPE passes the merge rank (Hugging Face tokenizers' Word::merge_all); SentencePiece-style
// models pass -score (llama2.c run.c's encode loop). A priority queue keyed (priority, left
// index) gives exactly the result of rescanning all pairs after every merge (what run.c does),
// because a pair's priority depends only on its two symbols and merging keeps the left-to-right
// order of indices; it costs O(n log n) instead of O(n^2).
#ifndef DETINFER_TOKENIZER_PAIR_MERGE_H_
#define DETINFER_TOKENIZER_PAIR_MERGE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <queue>
#include <vector>

namespace detinfer {

struct MergeSymbol {
  int32_t id = -1;       // token id, or -1 for a character the vocabulary lacks
  size_t start = 0;      // byte span of the symbol in the text being tokenized
  size_t len = 0;        // 0: merged into its left neighbour
  ptrdiff_t prev = -1;   // neighbours in the current sequence
  ptrdiff_t next = -1;
};

struct MergeCandidate {
  double priority = 0;   // lower merges first
  int32_t id = -1;       // the merged symbol's token id
};

// Builds the linked list over `symbols` (ids and spans filled in by the caller), merges, and
// returns the ids of the surviving symbols in order. `pair(left, right)` returns the merge of
// two adjacent symbols, or nullopt if they do not merge; for symbols it calls with, the spans
// are adjacent and left.start + left.len == right.start.
template <typename PairFn>
std::vector<MergeSymbol> MergePairs(std::vector<MergeSymbol> symbols, PairFn pair) {
  struct Entry {
    double priority;
    ptrdiff_t left;
    ptrdiff_t right;
    size_t left_len, right_len;  // spans only grow, so a changed length marks a stale entry
    int32_t id;
    bool operator>(const Entry& o) const {
      return priority != o.priority ? priority > o.priority : left > o.left;
    }
  };
  const auto n = static_cast<ptrdiff_t>(symbols.size());
  for (ptrdiff_t i = 0; i < n; ++i) {
    symbols[i].prev = i - 1;
    symbols[i].next = i + 1 < n ? i + 1 : -1;
  }
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue;
  auto consider = [&](ptrdiff_t l, ptrdiff_t r) {
    if (l < 0 || r < 0) return;
    std::optional<MergeCandidate> c = pair(symbols[l], symbols[r]);
    if (c) queue.push({c->priority, l, r, symbols[l].len, symbols[r].len, c->id});
  };
  for (ptrdiff_t i = 0; i + 1 < n; ++i) consider(i, i + 1);
  while (!queue.empty()) {
    const Entry e = queue.top();
    queue.pop();
    MergeSymbol& left = symbols[e.left];
    MergeSymbol& right = symbols[e.right];
    if (left.len != e.left_len || right.len != e.right_len || left.next != e.right) continue;
    left.id = e.id;
    left.len += right.len;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = e.left;
    right.len = 0;
    consider(left.prev, e.left);
    consider(e.left, left.next);
  }
  std::vector<MergeSymbol> out;
  for (ptrdiff_t i = n > 0 ? 0 : -1; i >= 0; i = symbols[i].next) out.push_back(symbols[i]);
  return out;
}

}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_PAIR_MERGE_H_
