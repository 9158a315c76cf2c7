#include "tokenizer/word_level.h"

#include <algorithm>

#include "tokenizer/string_map.h"
#include "tokenizer/utf8.h"

namespace detinfer {
namespace {

class WordLevel final : public Tokenizer {
 public:
  Result<std::vector<int32_t>> Encode(std::string_view text,
                                      bool add_special_tokens) const override;
  Result<std::string> TokenBytes(int32_t id, int32_t prev_id) const override;
  Result<std::string_view> TokenText(int32_t id) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(text_.size()); }
  int32_t bos_id() const override { return bos_id_; }
  int32_t eos_id() const override { return eos_id_; }
  int32_t unk_id() const override { return unk_id_; }

  static Result<std::unique_ptr<Tokenizer>> Build(WordLevelParts parts);

 private:
  std::string source_;
  std::vector<std::string> text_;  // by id
  std::vector<bool> has_text_;     // false: an id no entry names
  TokenIdMap ids_;
  AddedTokenMatcher added_;
  std::vector<NormalForm> normalizer_;
  std::vector<PreTokenizerStep> pre_;
  int32_t unk_id_ = -1, bos_id_ = -1, eos_id_ = -1;
};

Result<std::unique_ptr<Tokenizer>> WordLevel::Build(WordLevelParts parts) {
  auto t = std::make_unique<WordLevel>();
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
    if (text.empty()) return Status::InvalidArgument(src + ": model.vocab has an empty word");
    DETINFER_RETURN_IF_ERROR(ValidateUtf8(text, src + ": model.vocab entry " + std::to_string(id)));
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
    if (!t->ids_.emplace(text, id).second) {
      return Status::InvalidArgument(src + ": model.vocab lists '" + text + "' twice");
    }
    t->text_[id] = text;
    t->has_text_[id] = true;
  }
  for (AddedToken& a : parts.added_tokens) {
    t->text_[a.id] = a.content;
    t->has_text_[a.id] = true;
    t->added_.Add(std::move(a));
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
  for (const PreTokenizerStep& step : parts.pre_tokenizer) {
    if (step.kind != PreTokenizerStep::Kind::kSplit) {
      return Status::Unsupported(src + ": a WordLevel model takes only splitting pre-tokenizers");
    }
  }
  t->source_ = src;
  t->normalizer_ = std::move(parts.normalizer);
  t->pre_ = std::move(parts.pre_tokenizer);
  t->unk_id_ = parts.unk_id;
  t->bos_id_ = parts.bos_id;
  t->eos_id_ = parts.eos_id;
  return std::unique_ptr<Tokenizer>(std::move(t));
}

Result<std::vector<int32_t>> WordLevel::Encode(std::string_view text,
                                              bool add_special_tokens) const {
  DETINFER_RETURN_IF_ERROR(ValidateUtf8(text, source_ + ": text to encode"));
  std::vector<int32_t> ids;
  if (add_special_tokens && bos_id_ >= 0) ids.push_back(bos_id_);
  std::vector<std::string> pieces, next;
  std::vector<std::string_view> views;
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
        views.clear();
        DETINFER_RETURN_IF_ERROR(step.splitter.Split(p, &views));
        for (std::string_view v : views) next.emplace_back(v);
      }
      pieces.swap(next);
    }
    for (const std::string& p : pieces) {
      if (p.empty()) continue;
      int32_t id = FindToken(ids_, p);
      if (id < 0) {
        if (unk_id_ < 0) {
          return Status::InvalidArgument(source_ + ": word '" + p +
                                         "' is not in the vocabulary and there is no unk_token");
        }
        id = unk_id_;
      }
      ids.push_back(id);
    }
  }
  return ids;
}

Result<std::string_view> WordLevel::TokenText(int32_t id) const {
  DETINFER_RETURN_IF_ERROR(CheckId(id));
  if (!has_text_[id]) {
    return Status::NotFound(source_ + ": token id " + std::to_string(id) + " has no entry");
  }
  return std::string_view(text_[id]);
}

// Every token but the first of a sequence is preceded by one space (tokens.join(" ")).
Result<std::string> WordLevel::TokenBytes(int32_t id, int32_t prev_id) const {
  DETINFER_ASSIGN_OR_RETURN(std::string_view text, TokenText(id));
  std::string bytes;
  if (prev_id >= 0) bytes += ' ';
  bytes += text;
  return bytes;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> MakeWordLevel(WordLevelParts parts) {
  return WordLevel::Build(std::move(parts));
}

}  // namespace detinfer
