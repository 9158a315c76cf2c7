#include "tokenizer/byte_level_bpe.h"

#include <unordered_map>

#include "tokenizer/bpe_merges.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pair_merge.h"
#include "tokenizer/string_map.h"
#include "tokenizer/utf8.h"
#include "tokenizer/word_cache.h"

namespace detinfer {
namespace {

class ByteLevelBpe final : public Tokenizer {
 public:
  Result<std::vector<int32_t>> Encode(std::string_view text,
                                      bool add_special_tokens) const override;
  Result<std::string> TokenBytes(int32_t id, int32_t prev_id) const override;
  Result<std::string_view> TokenText(int32_t id) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(text_.size()); }
  int32_t bos_id() const override { return bos_id_; }
  int32_t eos_id() const override { return eos_id_; }
  int32_t unk_id() const override { return unk_id_; }

  static Result<std::unique_ptr<Tokenizer>> Build(ByteLevelBpeParts parts);

 private:
  Status EncodePiece(std::string_view piece, std::vector<int32_t>* out) const;

  std::string source_;
  std::vector<std::string> text_;   // by id
  std::vector<bool> has_text_;      // false: an id no entry names
  TokenIdMap model_ids_;
  BpeMergeTable merges_;
  AddedTokenMatcher added_;
  std::vector<NormalForm> normalizer_;
  std::vector<PreTokenizerStep> pre_;
  bool ignore_merges_ = false;
  int32_t unk_id_ = -1, bos_id_ = -1, eos_id_ = -1;
};

Result<std::unique_ptr<Tokenizer>> ByteLevelBpe::Build(ByteLevelBpeParts parts) {
  auto t = std::make_unique<ByteLevelBpe>();
  const std::string& src = parts.source;
  const size_t limit = parts.vocab.size() + parts.added_tokens.size();
  auto check_id = [&](int64_t id, const std::string& what) -> Status {
    if (id < 0 || static_cast<size_t>(id) >= limit) {
      return Status::InvalidArgument(src + ": " + what + " has id " + std::to_string(id) +
                                     ", outside [0, " + std::to_string(limit) +
                                     ") (ids must be below the number of entries)");
    }
    return Status::Ok();
  };
  size_t n_ids = 0;
  for (const auto& [text, id] : parts.vocab) {
    DETINFER_RETURN_IF_ERROR(check_id(id, "model.vocab entry '" + text + "'"));
    n_ids = std::max(n_ids, static_cast<size_t>(id) + 1);
  }
  for (const AddedToken& a : parts.added_tokens) {
    DETINFER_RETURN_IF_ERROR(check_id(a.id, "added token '" + a.content + "'"));
    DETINFER_RETURN_IF_ERROR(ValidateUtf8(a.content, src + ": added token " + std::to_string(a.id)));
    n_ids = std::max(n_ids, static_cast<size_t>(a.id) + 1);
  }
  t->text_.resize(n_ids);
  t->has_text_.resize(n_ids, false);
  for (auto& [text, id] : parts.vocab) {
    if (t->has_text_[id]) {
      return Status::InvalidArgument(src + ": model.vocab gives id " + std::to_string(id) +
                                     " to both '" + t->text_[id] + "' and '" + text + "'");
    }
    if (!t->model_ids_.emplace(text, id).second) {
      return Status::InvalidArgument(src + ": model.vocab lists '" + text + "' twice");
    }
    t->text_[id] = text;
    t->has_text_[id] = true;
  }
  for (AddedToken& a : parts.added_tokens) {
    t->text_[a.id] = a.content;  // an added token's content is how its id decodes
    t->has_text_[a.id] = true;
    t->added_.Add(std::move(a));
  }
  t->merges_.Reserve(parts.merges.size());
  for (size_t i = 0; i < parts.merges.size(); ++i) {
    const auto& [a, b] = parts.merges[i];
    const std::string what = src + ": merges[" + std::to_string(i) + "] '" + a + " " + b + "'";
    DETINFER_RETURN_IF_ERROR(t->merges_.Add(t->model_ids_, i, a, b, what));
  }
  for (auto [id, name] : {std::pair{parts.unk_id, "unk"}, {parts.bos_id, "bos"},
                          {parts.eos_id, "eos"}}) {
    if (id == -1) continue;
    if (id < 0 || static_cast<size_t>(id) >= n_ids || !t->has_text_[id]) {
      return Status::InvalidArgument(src + ": " + name + " token id " + std::to_string(id) +
                                     " is not in the vocabulary (size " + std::to_string(n_ids) +
                                     ")");
    }
  }
  t->source_ = src;
  t->normalizer_ = std::move(parts.normalizer);
  t->pre_ = std::move(parts.pre_tokenizer);
  t->ignore_merges_ = parts.ignore_merges;
  t->unk_id_ = parts.unk_id;
  t->bos_id_ = parts.bos_id;
  t->eos_id_ = parts.eos_id;
  return std::unique_ptr<Tokenizer>(std::move(t));
}

Status ByteLevelBpe::EncodePiece(std::string_view piece, std::vector<int32_t>* out) const {
  std::string mapped;
  AppendByteLevel(piece, &mapped);
  if (ignore_merges_) {
    if (int32_t id = FindToken(model_ids_, mapped); id >= 0) {
      out->push_back(id);
      return Status::Ok();
    }
  }
  std::vector<MergeSymbol> symbols;
  for (size_t pos = 0; pos < mapped.size();) {
    const size_t n = Utf8CharLength(mapped, pos);  // always >= 1: AppendByteLevel emits UTF-8
    MergeSymbol s;
    s.id = FindToken(model_ids_, std::string_view(mapped).substr(pos, n));
    if (s.id < 0) {
      if (unk_id_ < 0) {
        return Status::InvalidArgument(source_ + ": byte-level character '" + mapped.substr(pos, n) +
                                       "' is not in the vocabulary and there is no unk_token");
      }
      s.id = unk_id_;
    }
    s.start = pos;
    s.len = n;
    symbols.push_back(s);
    pos += n;
  }
  auto pair = [this](const MergeSymbol& l, const MergeSymbol& r) -> std::optional<MergeCandidate> {
    const BpeMerge* m = merges_.Find(l.id, r.id);
    if (m == nullptr) return std::nullopt;
    return MergeCandidate{static_cast<double>(m->rank), m->id};
  };
  for (const MergeSymbol& s : MergePairs(std::move(symbols), pair)) out->push_back(s.id);
  return Status::Ok();
}

Result<std::vector<int32_t>> ByteLevelBpe::Encode(std::string_view text,
                                              bool add_special_tokens) const {
  DETINFER_RETURN_IF_ERROR(ValidateUtf8(text, source_ + ": text to encode"));
  std::vector<int32_t> ids;
  if (add_special_tokens && bos_id_ >= 0) ids.push_back(bos_id_);
  std::vector<std::string> pieces, next;
  std::vector<std::string_view> views;
  WordCache cache;  // a piece's ids depend only on the piece
  for (const TextSegment& seg : added_.Split(text)) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
      continue;
    }
    pieces.clear();
    if (normalizer_.empty()) {
      pieces.emplace_back(seg.text);
    } else {
      DETINFER_ASSIGN_OR_RETURN(std::string norm, Normalize(seg.text, normalizer_));
      pieces.push_back(std::move(norm));
    }
    for (const PreTokenizerStep& step : pre_) {
      next.clear();
      for (const std::string& p : pieces) {
        if (step.kind == PreTokenizerStep::Kind::kPrefixSpace) {
          next.push_back(p.starts_with(' ') ? p : " " + p);
          continue;
        }
        views.clear();
        DETINFER_RETURN_IF_ERROR(step.splitter.Split(p, &views));
        for (std::string_view v : views) next.emplace_back(v);
      }
      pieces.swap(next);
    }
    for (const std::string& p : pieces) {
      DETINFER_RETURN_IF_ERROR(cache.Encode(
          p, &ids, [this](std::string_view w, std::vector<int32_t>* o) { return EncodePiece(w, o); }));
    }
  }
  return ids;
}

Result<std::string_view> ByteLevelBpe::TokenText(int32_t id) const {
  DETINFER_RETURN_IF_ERROR(CheckId(id));
  if (!has_text_[id]) {
    return Status::NotFound(source_ + ": token id " + std::to_string(id) + " has no entry");
  }
  return std::string_view(text_[id]);
}

Result<std::string> ByteLevelBpe::TokenBytes(int32_t id, int32_t /*prev_id*/) const {
  DETINFER_ASSIGN_OR_RETURN(std::string_view text, TokenText(id));
  std::string bytes;
  if (!AppendFromByteLevel(text, &bytes)) bytes.assign(text);
  return bytes;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> MakeByteLevelBpe(ByteLevelBpeParts parts) {
  return ByteLevelBpe::Build(std::move(parts));
}

}  // namespace detinfer
