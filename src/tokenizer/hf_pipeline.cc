#include "tokenizer/hf_pipeline.h"

#include <algorithm>
#include <limits>
#include <unordered_map>

#include "tokenizer/hf_pipeline_internal.h"
#include "tokenizer/string_map.h"
#include "tokenizer/utf8.h"
#include "tokenizer/word_cache.h"

namespace detinfer {
namespace hf_pipeline_internal {
namespace {

std::string ByteTokenText(uint8_t b) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string s = "<0x";
  s += kHex[b >> 4];
  s += kHex[b & 15];
  s += '>';
  return s;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> HfPipeline::Build(HfPipelineParts parts) {
  auto t = std::make_unique<HfPipeline>();
  const std::string& src = parts.source;
  const size_t limit = parts.vocab.size() + parts.added_tokens.size();
  auto check_id = [&](int64_t id, const std::string& what) -> Status {
    if (id < 0 || static_cast<size_t>(id) >= limit) {
      std::string msg = src;
      msg += ": ";
      msg += what;
      msg += " has id ";
      msg += std::to_string(id);
      msg += ", outside [0, ";
      msg += std::to_string(limit);
      msg += ") (ids must be below the number of entries)";
      return Status::InvalidArgument(msg);
    }
    return Status::Ok();
  };
  size_t n_ids = 0;
  for (const auto& [text, id] : parts.vocab) {
    DETINFER_RETURN_IF_ERROR(check_id(id, "model.vocab entry '" + text + "'"));
    DETINFER_RETURN_IF_ERROR(ValidateUtf8(text, src + ": model.vocab entry " + std::to_string(id)));
    n_ids = std::max(n_ids, static_cast<size_t>(id) + 1);
  }
  t->text_.resize(n_ids);
  t->has_text_.assign(n_ids, false);
  std::vector<bool> in_model(n_ids, false);
  for (auto& [text, id] : parts.vocab) {
    if (in_model[id]) {
      return Status::InvalidArgument(src + ": model.vocab gives id " + std::to_string(id) +
                                     " to both '" + t->text_[id] + "' and '" + text + "'");
    }
    if (parts.model == HfPipelineParts::Model::kUnigram) {
      t->model_ids_[text] = id;  // a repeated piece: the last id wins, as in tokenizers' HashMap
    } else if (!t->model_ids_.emplace(text, id).second) {
      return Status::InvalidArgument(src + ": model.vocab lists '" + text + "' twice");
    }
    t->max_piece_bytes_ = std::max(t->max_piece_bytes_, text.size());
    t->text_[id] = text;
    t->has_text_[id] = true;
    in_model[id] = true;
  }
  // Added tokens get their ids as tokenizers' AddedVocabulary::add_tokens gives them when it
  // loads the file: the id of a token with the same content already added, else the model's id
  // for that content, else the next id from the model's size (the file's "id" only draws a
  // warning there when it differs). A repeated content keeps its id and takes the last flags.
  std::unordered_map<std::string, int32_t> added_ids;
  std::vector<std::pair<int32_t, AddedToken>> added;  // by first appearance
  int64_t next_id = static_cast<int64_t>(parts.vocab.size());
  for (AddedToken& a : parts.added_tokens) {
    DETINFER_RETURN_IF_ERROR(check_id(a.id, "added token '" + a.content + "'"));
    DETINFER_RETURN_IF_ERROR(ValidateUtf8(a.content, src + ": added token " + std::to_string(a.id)));
    if (a.content.empty()) continue;
    if (auto it = added_ids.find(a.content); it != added_ids.end()) {
      a.id = it->second;
      for (auto& [id, tok] : added) {
        if (id == a.id) tok = a;
      }
      continue;
    }
    int32_t id = FindToken(t->model_ids_, a.content);
    if (id < 0) {
      if (next_id > INT32_MAX) return Status::OutOfRange(src + ": too many added tokens");
      id = static_cast<int32_t>(next_id++);
    }
    a.id = id;
    added_ids.emplace(a.content, id);
    added.emplace_back(id, a);
  }
  for (const auto& [id, tok] : added) n_ids = std::max(n_ids, static_cast<size_t>(id) + 1);
  t->text_.resize(n_ids);
  t->has_text_.resize(n_ids, false);
  in_model.resize(n_ids, false);
  if (parts.model == HfPipelineParts::Model::kUnigram) {
    t->scores_.assign(n_ids, 0.0);
    double min_score = std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < parts.vocab.size(); ++i) {
      t->scores_[parts.vocab[i].second] = parts.scores[i];
      min_score = std::min(min_score, parts.scores[i]);
    }
    t->unk_score_ = min_score - 10.0;
  }
  for (int b = 0; b < 256; ++b) {
    t->byte_ids_[b] = FindToken(t->model_ids_, ByteTokenText(static_cast<uint8_t>(b)));
  }
  t->merges_.Reserve(parts.merges.size());
  for (size_t i = 0; i < parts.merges.size(); ++i) {
    const auto& [a, b] = parts.merges[i];
    std::string what = src;
    what += ": model.merges[";
    what += std::to_string(i);
    what += "] '";
    what += a;
    what += ' ';
    what += b;
    what += '\'';
    DETINFER_RETURN_IF_ERROR(t->merges_.Add(t->model_ids_, i, a, b, what));
    const std::string ab = a + b;
    for (size_t at = ab.find("\xE2\x96\x81", 1); at != std::string::npos;
         at = ab.find("\xE2\x96\x81", at + 3)) {
      size_t prev = at - 1;
      while (prev > 0 && (static_cast<uint8_t>(ab[prev]) & 0xC0) == 0x80) --prev;
      if (ab.compare(prev, at - prev, "\xE2\x96\x81") != 0) {
        t->no_cut_before_meta_.insert(ab.substr(prev, at - prev));
      }
    }
  }
  if (parts.model == HfPipelineParts::Model::kBpe) {
    t->meta_id_ = FindToken(t->model_ids_, "\xE2\x96\x81");
  }
  if (parts.unk_id != -1 && (parts.unk_id < 0 || static_cast<size_t>(parts.unk_id) >= n_ids ||
                             !in_model[parts.unk_id])) {
    return Status::InvalidArgument(src + ": unk token id " + std::to_string(parts.unk_id) +
                                   " is not in the model vocabulary");
  }
  t->normalizer_ = std::move(parts.normalizer);
  for (auto& [added_id, a] : added) {
    t->has_text_[a.id] = true;
    if (a.normalized) {
      // Hugging Face (0.23) matches a normalized added token by its normalized content, and
      // that is also the token's string when decoding.
      DETINFER_ASSIGN_OR_RETURN(a.content, t->Normalize(a.content));
      t->text_[a.id] = a.content;
      t->normalized_added_.Add(std::move(a));
    } else {
      t->text_[a.id] = a.content;  // an added token's content is how its id decodes
      t->raw_added_.Add(std::move(a));
    }
    if (t->text_[added_id].size() > 0 && added_id >= 0) {
      // Hugging Face's skip_special_tokens looks tokens up by their string.
      for (const AddedToken& p : parts.added_tokens) {
        if (p.special && p.id == added_id) t->special_texts_.insert(t->text_[added_id]);
      }
    }
  }
  t->source_ = src;
  t->model_ = parts.model;
  t->byte_fallback_ = parts.byte_fallback;
  t->fuse_unk_ = parts.fuse_unk || parts.model == HfPipelineParts::Model::kUnigram;
  t->ignore_merges_ = parts.ignore_merges;
  t->unk_id_ = parts.unk_id;
  t->pre_ = std::move(parts.pre_tokenizer);
  t->has_decoder_ = parts.has_decoder;
  t->decoder_ = std::move(parts.decoder);
  return std::unique_ptr<Tokenizer>(std::move(t));
}

Result<std::vector<int32_t>> HfPipeline::Encode(std::string_view text,
                                                bool /*add_special_tokens*/) const {
  DETINFER_RETURN_IF_ERROR(ValidateUtf8(text, source_ + ": text to encode"));
  std::vector<int32_t> ids;
  std::vector<Piece> pieces;
  WordCache cache;
  std::vector<TextSegment> raw_segments;
  if (raw_added_.empty()) {
    if (!text.empty()) raw_segments.push_back({text, -1});
  } else {
    raw_segments = raw_added_.Split(text);
  }
  for (const TextSegment& seg : raw_segments) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
      continue;
    }
    const bool at_start = seg.text.data() == text.data();
    DETINFER_ASSIGN_OR_RETURN(std::string norm, Normalize(seg.text));
    std::vector<TextSegment> segments;
    if (normalized_added_.empty()) {
      if (!norm.empty()) segments.push_back({norm, -1});
    } else {
      segments = normalized_added_.Split(norm);
    }
    for (const TextSegment& s : segments) {
      if (s.id >= 0) {
        ids.push_back(s.id);
        continue;
      }
      pieces.clear();
      DETINFER_RETURN_IF_ERROR(PreTokenize(s.text, at_start && s.text.data() == norm.data(), &pieces));
      for (const Piece& p : pieces) {
        if (model_ == HfPipelineParts::Model::kBpe) {
          DETINFER_RETURN_IF_ERROR(EncodeBpe(p.text, &cache, &ids));
        } else {
          DETINFER_RETURN_IF_ERROR(
              cache.Encode(p.text, &ids, [&](std::string_view w, std::vector<int32_t>* o) {
                return EncodeUnigram(w, o);
              }));
        }
      }
    }
  }
  return ids;
}

Result<std::string_view> HfPipeline::TokenText(int32_t id) const {
  DETINFER_RETURN_IF_ERROR(CheckId(id));
  if (!has_text_[id]) {
    return Status::NotFound(source_ + ": token id " + std::to_string(id) + " has no entry");
  }
  return std::string_view(text_[id]);
}

}  // namespace hf_pipeline_internal

Result<std::unique_ptr<Tokenizer>> MakeHfPipeline(HfPipelineParts parts) {
  return hf_pipeline_internal::HfPipeline::Build(std::move(parts));
}

}  // namespace detinfer
