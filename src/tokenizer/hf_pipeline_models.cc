// HfPipeline's models: BPE (SentencePiece-style, with byte_fallback and fuse_unk) and Unigram,
// each turning one pre-tokenized piece into ids.
#include <algorithm>
#include <optional>

#include "tokenizer/hf_pipeline_internal.h"
#include "tokenizer/pair_merge.h"
#include "tokenizer/string_map.h"
#include "tokenizer/utf8.h"
#include "tokenizer/word_cache.h"

namespace detinfer {
namespace hf_pipeline_internal {
namespace {

size_t CharLenAt(std::string_view s, size_t pos) {
  const size_t n = Utf8CharLength(s, pos);
  return n == 0 ? 1 : n;
}

}  // namespace

// tokenizers' BPE::merge_word: one symbol per character; a character missing from the
// vocabulary becomes its "<0xHH>" byte tokens (byte_fallback, when all exist), else unk (runs
// fused with fuse_unk), else nothing. A pending unk is flushed only before the next known
// character, so byte tokens can come before it, exactly as there. Then merge by rank.
Status HfPipeline::EncodeBpeWord(std::string_view word, std::vector<int32_t>* out) const {
  if (word.empty()) return Status::Ok();
  if (ignore_merges_) {
    if (int32_t id = FindToken(model_ids_, word); id >= 0) {
      out->push_back(id);
      return Status::Ok();
    }
  }
  std::vector<MergeSymbol> symbols;
  symbols.reserve(word.size());
  std::optional<MergeSymbol> unk;
  for (size_t pos = 0; pos < word.size();) {
    const size_t n = CharLenAt(word, pos);
    MergeSymbol s;
    s.id = FindToken(model_ids_, word.substr(pos, n));
    s.start = pos;
    s.len = n;
    if (s.id >= 0) {
      if (unk) {
        symbols.push_back(*unk);
        unk.reset();
      }
      symbols.push_back(s);
    } else {
      bool done = false;
      if (byte_fallback_) {
        bool all = true;
        for (size_t i = 0; i < n; ++i) all = all && byte_ids_[static_cast<uint8_t>(word[pos + i])] >= 0;
        if (all) {
          for (size_t i = 0; i < n; ++i) {
            MergeSymbol b;
            b.id = byte_ids_[static_cast<uint8_t>(word[pos + i])];
            b.start = pos + i;
            b.len = 1;
            symbols.push_back(b);
          }
          done = true;
        }
      }
      if (!done && unk_id_ >= 0) {
        if (unk && fuse_unk_) {
          unk->len += n;
        } else {
          if (unk) symbols.push_back(*unk);
          MergeSymbol u;
          u.id = unk_id_;
          u.start = pos;
          u.len = n;
          unk = u;
        }
      }
    }
    pos += n;
  }
  if (unk) symbols.push_back(*unk);
  auto pair = [this](const MergeSymbol& l, const MergeSymbol& r) -> std::optional<MergeCandidate> {
    const BpeMerge* m = merges_.Find(l.id, r.id);
    if (m == nullptr) return std::nullopt;
    return MergeCandidate{static_cast<double>(m->rank), m->id};
  };
  for (const MergeSymbol& s : MergePairs(std::move(symbols), pair)) out->push_back(s.id);
  return Status::Ok();
}

// A SentencePiece-style file has no pre-tokenizer: the text between added tokens is one BPE
// word, however long. It is cut before each "▁" whose left neighbour X is a vocabulary
// character (not "▁") such that no merge result contains "X▁": a merge across the cut would
// produce such a token, so none happens, and merging the parts separately gives the same ids
// (the merge order inside each part is the same; a pending unk is flushed at the "▁" either
// way). Repeated parts are merged once per call. Not done with ignore_merges, which looks the
// whole word up.
Status HfPipeline::EncodeBpe(std::string_view word, WordCache* cache,
                             std::vector<int32_t>* out) const {
  constexpr std::string_view kMeta = "\xE2\x96\x81";  // U+2581
  if (meta_id_ < 0 || ignore_merges_ || word.size() < 64) {
    return cache->Encode(word, out, [&](std::string_view w, std::vector<int32_t>* o) {
      return EncodeBpeWord(w, o);
    });
  }
  auto part = [&](std::string_view p) -> Status {
    if (p.empty()) return Status::Ok();
    return cache->Encode(p, out, [&](std::string_view w, std::vector<int32_t>* o) {
      return EncodeBpeWord(w, o);
    });
  };
  size_t begin = 0;
  for (size_t at = word.find(kMeta, 1); at != std::string_view::npos;
       at = word.find(kMeta, at + kMeta.size())) {
    size_t prev = at - 1;  // start of the character before the "▁"
    while (prev > begin && (static_cast<uint8_t>(word[prev]) & 0xC0) == 0x80) --prev;
    const std::string_view left = word.substr(prev, at - prev);
    if (left == kMeta || FindToken(model_ids_, left) < 0) continue;
    if (!no_cut_before_meta_.empty() && no_cut_before_meta_.count(std::string(left)) > 0) continue;
    DETINFER_RETURN_IF_ERROR(part(word.substr(begin, at - begin)));
    begin = at;
  }
  return part(word.substr(begin));
}

// tokenizers' Unigram::encode_optimized (sentencepiece's Viterbi): for each character start, in
// order, every vocabulary piece that starts there, shortest first, improves the best path
// ending after it only if strictly better; a start without a one-character piece also offers
// unk at min_score - 10. Backtracking fuses adjacent unk pieces; a piece not in the vocabulary
// (a fused unk run) becomes its bytes' "<0xHH>" tokens with byte_fallback, else unk.
Status HfPipeline::EncodeUnigram(std::string_view word, std::vector<int32_t>* out) const {
  if (word.empty()) return Status::Ok();
  struct Node {
    int32_t id = -1;
    double score = 0;
    ptrdiff_t start = -1;
  };
  const size_t size = word.size();
  std::vector<Node> best(size + 1);
  for (size_t pos = 0; pos < size;) {
    const double till = best[pos].score;
    const size_t mblen = CharLenAt(word, pos);
    bool has_single = false;
    const size_t max_len = std::min(max_piece_bytes_, size - pos);
    for (size_t len = 1; len <= max_len; ++len) {
      const size_t end = pos + len;
      if (end < size && (static_cast<uint8_t>(word[end]) & 0xC0) == 0x80) continue;
      const int32_t id = FindToken(model_ids_, word.substr(pos, len));
      if (id < 0) continue;
      const double cand = scores_[id] + till;
      Node& target = best[end];
      if (target.start < 0 || cand > target.score) {
        target.score = cand;
        target.start = static_cast<ptrdiff_t>(pos);
        target.id = id;
      }
      if (len == mblen) has_single = true;
    }
    if (!has_single) {
      if (unk_id_ < 0) {
        return Status::InvalidArgument(source_ + ": Unigram model has no unk_id for the character at "
                                       "byte " + std::to_string(pos) + " of a piece");
      }
      Node& target = best[pos + mblen];
      const double cand = unk_score_ + till;
      if (target.start < 0 || cand > target.score) {
        target.score = cand;
        target.start = static_cast<ptrdiff_t>(pos);
        target.id = unk_id_;
      }
    }
    pos += mblen;
  }
  // Backtrack into [begin, end) spans, fusing unk runs.
  std::vector<std::pair<size_t, size_t>> spans;
  size_t end = size;
  size_t fused_begin = 0, fused_end = 0;
  bool fusing = false;
  while (end > 0) {
    const Node& node = best[end];
    const auto start = static_cast<size_t>(node.start);
    if (fuse_unk_ && unk_id_ >= 0 && node.id == unk_id_) {
      if (!fusing) fused_end = end;
      fusing = true;
      fused_begin = start;
    } else {
      if (fusing) spans.emplace_back(fused_begin, fused_end);
      fusing = false;
      spans.emplace_back(start, end);
    }
    end = start;
  }
  if (fusing) spans.emplace_back(fused_begin, fused_end);
  for (size_t i = spans.size(); i-- > 0;) {
    const std::string_view piece = word.substr(spans[i].first, spans[i].second - spans[i].first);
    const int32_t id = FindToken(model_ids_, piece);
    if (id >= 0) {
      out->push_back(id);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (char c : piece) all = all && byte_ids_[static_cast<uint8_t>(c)] >= 0;
      if (all) {
        for (char c : piece) out->push_back(byte_ids_[static_cast<uint8_t>(c)]);
        continue;
      }
    }
    if (unk_id_ < 0) {
      return Status::InvalidArgument(source_ + ": Unigram model has no unk_id for '" +
                                     std::string(piece) + "'");
    }
    out->push_back(unk_id_);
  }
  return Status::Ok();
}

}  // namespace hf_pipeline_internal
}  // namespace detinfer
