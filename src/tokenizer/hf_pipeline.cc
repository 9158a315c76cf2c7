#include "tokenizer/hf_pipeline.h"

#include <unicode/locid.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "tokenizer/byte_level.h"
#include "tokenizer/pair_merge.h"
#include "tokenizer/string_map.h"
#include "tokenizer/utf8.h"
#include "tokenizer/word_cache.h"

namespace detinfer {
namespace {

uint64_t PairKey(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

std::string ByteTokenText(uint8_t b) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string s = "<0x";
  s += kHex[b >> 4];
  s += kHex[b & 15];
  s += '>';
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The ByteFallback decoder's test: six bytes "<0x" HH ">" where HH is what Rust's
// u8::from_str_radix(HH, 16) accepts (two hex digits, or '+' and one).
std::optional<uint8_t> ParseByteToken(std::string_view t) {
  if (t.size() != 6 || !t.starts_with("<0x") || t[5] != '>') return std::nullopt;
  const int hi = HexValue(t[3]), lo = HexValue(t[4]);
  if (t[3] == '+' && lo >= 0) return static_cast<uint8_t>(lo);
  if (hi < 0 || lo < 0) return std::nullopt;
  return static_cast<uint8_t>(hi * 16 + lo);
}

// Rust's char::to_lowercase for each character (the full mapping, no context: tokenizers'
// NormalizedString::lowercase maps character by character, so a final sigma stays σ).
void AppendLowercase(std::string_view text, std::string* out) {
  for (size_t pos = 0; pos < text.size();) {
    const auto c = static_cast<uint8_t>(text[pos]);
    if (c < 0x80) {
      out->push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : static_cast<char>(c));
      ++pos;
      continue;
    }
    const size_t n = Utf8CharLength(text, pos);
    icu::UnicodeString u(static_cast<UChar32>(DecodeUtf8At(text, pos)));
    u.toLower(icu::Locale::getRoot());
    u.toUTF8String(*out);
    pos += n;
  }
}

// Replaces every match of a String (literal) or Regex pattern in `text` by `content`.
Result<std::string> ReplaceAll(std::string_view text, const std::string& literal,
                               const RegexSplitter* regex, const std::string& content) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  if (regex == nullptr) {
    if (literal.empty()) return std::string(text);
    size_t prev = 0;
    for (size_t at = text.find(literal); at != std::string_view::npos;
         at = text.find(literal, prev)) {
      out.append(text.substr(prev, at - prev));
      out += content;
      prev = at + literal.size();
    }
    out.append(text.substr(prev));
    return out;
  }
  std::vector<std::pair<size_t, size_t>> matches;
  DETINFER_RETURN_IF_ERROR(regex->Matches(text, &matches));
  size_t prev = 0;
  for (auto [b, e] : matches) {
    out.append(text.substr(prev, b - prev));
    out += content;
    prev = e;
  }
  out.append(text.substr(prev));
  return out;
}

size_t CharLenAt(std::string_view s, size_t pos) {
  const size_t n = Utf8CharLength(s, pos);
  return n == 0 ? 1 : n;
}

// Strip decoder on one token: up to `start` leading and `stop` trailing `ch` characters.
std::string StripChars(std::string_view t, std::string_view ch, size_t start, size_t stop) {
  size_t b = 0, e = t.size();
  for (size_t i = 0; i < start && b < e && t.substr(b).starts_with(ch); ++i) b += ch.size();
  for (size_t i = 0; i < stop && e > b && t.substr(0, e).ends_with(ch); ++i) e -= ch.size();
  return std::string(t.substr(b, e - b));
}

std::string ReplaceLiteral(std::string_view t, std::string_view from, std::string_view to) {
  std::string out;
  size_t prev = 0;
  for (size_t at = t.find(from); at != std::string_view::npos; at = t.find(from, prev)) {
    out.append(t.substr(prev, at - prev));
    out.append(to);
    prev = at + from.size();
  }
  out.append(t.substr(prev));
  return out;
}

class HfPipeline final : public Tokenizer {
 public:
  using Tokenizer::Decode;

  Result<std::vector<int32_t>> Encode(std::string_view text,
                                      bool add_special_tokens) const override;
  Result<std::string> Decode(std::span<const int32_t> ids) const override;
  Result<std::string> TokenBytes(int32_t id, int32_t prev_id) const override;
  Result<std::string_view> TokenText(int32_t id) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(text_.size()); }
  int32_t bos_id() const override { return -1; }
  int32_t eos_id() const override { return -1; }
  int32_t unk_id() const override { return unk_id_; }
  bool IsSpecial(int32_t id) const override {
    return id >= 0 && static_cast<size_t>(id) < text_.size() && has_text_[id] &&
           special_texts_.count(text_[id]) > 0;
  }

  static Result<std::unique_ptr<Tokenizer>> Build(HfPipelineParts parts);

 private:
  struct Piece {
    std::string text;
    bool at_start;  // begins at offset 0 of the input (Metaspace prepend_scheme "first")
  };
  Result<std::string> Normalize(std::string_view text) const;
  Status PreTokenize(std::string_view text, bool at_start, std::vector<Piece>* out) const;
  Status EncodeBpe(std::string_view word, WordCache* cache, std::vector<int32_t>* out) const;
  Status EncodeBpeWord(std::string_view word, std::vector<int32_t>* out) const;
  Status EncodeUnigram(std::string_view word, std::vector<int32_t>* out) const;
  Result<std::vector<std::string>> RunDecoder(std::vector<std::string> tokens) const;

  std::string source_;
  HfPipelineParts::Model model_ = HfPipelineParts::Model::kBpe;
  std::vector<std::string> text_;  // by id: added-token content, else the model's token
  std::vector<bool> has_text_;
  TokenIdMap model_ids_;
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  std::unordered_map<uint64_t, Merge> merges_;
  std::vector<double> scores_;  // Unigram, by id
  double unk_score_ = 0;        // Unigram: lowest score - 10 (sentencepiece's kUnkPenalty)
  size_t max_piece_bytes_ = 0;  // Unigram: longest piece
  int32_t byte_ids_[256];       // id of "<0xHH>" in the model vocabulary, -1 if none
  bool byte_fallback_ = false, fuse_unk_ = false, ignore_merges_ = false;
  int32_t unk_id_ = -1;
  AddedTokenMatcher raw_added_, normalized_added_;
  std::unordered_set<std::string> special_texts_;  // strings of the added tokens marked special
  int32_t meta_id_ = -1;  // BPE: the id of "▁" (U+2581), for EncodeBpe's cuts; -1: no cuts
  std::unordered_set<std::string> no_cut_before_meta_;  // characters X of merge results "..X▁.."
  std::vector<HfNormalizerStep> normalizer_;
  std::vector<HfPreTokenizerStep> pre_;
  bool has_decoder_ = false;
  std::vector<HfDecoderStep> decoder_;
};

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
  t->merges_.reserve(parts.merges.size());
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
    const int32_t ia = FindToken(t->model_ids_, a);
    const int32_t ib = FindToken(t->model_ids_, b);
    const int32_t iab = FindToken(t->model_ids_, a + b);
    if (ia < 0) return Status::InvalidArgument(what + ": token '" + a + "' is not in the vocabulary");
    if (ib < 0) return Status::InvalidArgument(what + ": token '" + b + "' is not in the vocabulary");
    if (iab < 0) {
      return Status::InvalidArgument(what + ": merged token '" + a + b +
                                     "' is not in the vocabulary");
    }
    if (i > static_cast<size_t>(INT32_MAX)) return Status::OutOfRange(what + ": too many merges");
    t->merges_[PairKey(ia, ib)] = Merge{static_cast<int32_t>(i), iab};  // the last rank wins
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

Result<std::string> HfPipeline::Normalize(std::string_view text) const {
  std::string cur(text);
  for (const HfNormalizerStep& step : normalizer_) {
    switch (step.kind) {
      case HfNormalizerStep::Kind::kUnicode: {
        DETINFER_ASSIGN_OR_RETURN(cur, detinfer::Normalize(cur, {step.form}));
        break;
      }
      case HfNormalizerStep::Kind::kLowercase: {
        std::string next;
        next.reserve(cur.size());
        AppendLowercase(cur, &next);
        cur = std::move(next);
        break;
      }
      case HfNormalizerStep::Kind::kStrip: {
        size_t b = 0, e = cur.size();
        if (step.left) {
          while (size_t n = WhitespaceLengthAt(cur, b)) b += n;
        }
        if (step.right) {
          while (e > b) {
            const size_t n = WhitespaceLengthBefore(cur, e);
            if (n == 0) break;
            e -= n;
          }
        }
        cur = cur.substr(b, e - b);
        break;
      }
      case HfNormalizerStep::Kind::kPrepend:
        if (!cur.empty()) cur = step.text + cur;
        break;
      case HfNormalizerStep::Kind::kReplace: {
        DETINFER_ASSIGN_OR_RETURN(cur, ReplaceAll(cur, step.literal, step.regex.get(), step.text));
        break;
      }
    }
  }
  return cur;
}

Status HfPipeline::PreTokenize(std::string_view text, bool at_start,
                               std::vector<Piece>* out) const {
  std::vector<Piece> pieces, next;
  pieces.push_back({std::string(text), at_start});
  std::vector<std::string_view> views;
  for (const HfPreTokenizerStep& step : pre_) {
    next.clear();
    for (Piece& p : pieces) {
      switch (step.kind) {
        case HfPreTokenizerStep::Kind::kSplit: {
          views.clear();
          DETINFER_RETURN_IF_ERROR(step.splitter->Split(p.text, &views));
          for (std::string_view v : views) {
            next.push_back({std::string(v), p.at_start && v.data() == p.text.data()});
          }
          break;
        }
        case HfPreTokenizerStep::Kind::kMetaspace: {
          std::string s = ReplaceLiteral(p.text, " ", step.replacement);
          const bool prepend =
              !s.starts_with(step.replacement) &&
              (step.prepend == HfPreTokenizerStep::Prepend::kAlways ||
               (step.prepend == HfPreTokenizerStep::Prepend::kFirst && p.at_start));
          if (prepend) s = step.replacement + s;
          if (!step.split) {
            if (!s.empty()) next.push_back({std::move(s), p.at_start});
            break;
          }
          // Split on the replacement, MergedWithNext: each occurrence starts a new piece.
          size_t begin = 0;
          bool first = true;
          for (size_t at = s.find(step.replacement, 1); at != std::string::npos;
               at = s.find(step.replacement, at + step.replacement.size())) {
            if (at > begin) {
              next.push_back({s.substr(begin, at - begin), p.at_start && first});
              first = false;
            }
            begin = at;
          }
          if (begin < s.size()) next.push_back({s.substr(begin), p.at_start && first});
          break;
        }
        case HfPreTokenizerStep::Kind::kByteLevel: {
          std::string s;
          if (step.add_prefix_space && !p.text.starts_with(' ')) s.push_back(' ');
          s += p.text;
          views.clear();
          if (step.splitter) {
            DETINFER_RETURN_IF_ERROR(step.splitter->Split(s, &views));
          } else if (!s.empty()) {
            views.push_back(s);
          }
          bool first = true;
          for (std::string_view v : views) {
            std::string mapped;
            AppendByteLevel(v, &mapped);
            next.push_back({std::move(mapped), p.at_start && first});
            first = false;
          }
          break;
        }
      }
    }
    pieces.swap(next);
  }
  for (Piece& p : pieces) {
    if (!p.text.empty()) out->push_back(std::move(p));
  }
  return Status::Ok();
}

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
    auto it = merges_.find(PairKey(l.id, r.id));
    if (it == merges_.end()) return std::nullopt;
    return MergeCandidate{static_cast<double>(it->second.rank), it->second.id};
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

// tokenizers' decoders, each on the whole list of token strings (decode_chain).
Result<std::vector<std::string>> HfPipeline::RunDecoder(std::vector<std::string> tokens) const {
  for (const HfDecoderStep& step : decoder_) {
    switch (step.kind) {
      case HfDecoderStep::Kind::kReplace:
        for (std::string& t : tokens) {
          DETINFER_ASSIGN_OR_RETURN(t, ReplaceAll(t, step.literal, step.regex.get(), step.content));
        }
        break;
      case HfDecoderStep::Kind::kByteFallback: {
        // Runs of byte tokens become their bytes if those are valid UTF-8, else one U+FFFD per
        // byte (not per maximal subpart).
        std::vector<std::string> next;
        std::string bytes;
        auto flush = [&] {
          if (bytes.empty()) return;
          if (ValidateUtf8(bytes, "").ok()) {
            next.push_back(bytes);
          } else {
            for (size_t i = 0; i < bytes.size(); ++i) next.emplace_back(kReplacementChar);
          }
          bytes.clear();
        };
        for (std::string& t : tokens) {
          if (std::optional<uint8_t> b = ParseByteToken(t)) {
            bytes.push_back(static_cast<char>(*b));
          } else {
            flush();
            next.push_back(std::move(t));
          }
        }
        flush();
        tokens.swap(next);
        break;
      }
      case HfDecoderStep::Kind::kFuse: {
        std::string all;
        for (const std::string& t : tokens) all += t;
        tokens.assign(1, std::move(all));
        break;
      }
      case HfDecoderStep::Kind::kStrip:
        for (std::string& t : tokens) t = StripChars(t, step.content, step.start, step.stop);
        break;
      case HfDecoderStep::Kind::kMetaspace:
        for (size_t i = 0; i < tokens.size(); ++i) {
          tokens[i] = ReplaceLiteral(tokens[i], step.content, i == 0 && step.strip_first ? "" : " ");
        }
        break;
      case HfDecoderStep::Kind::kByteLevel: {
        std::string bytes;
        for (const std::string& t : tokens) {
          if (!AppendFromByteLevel(t, &bytes)) bytes += t;
        }
        std::string text;
        AppendUtf8Lossy(bytes, /*final=*/true, &text);
        tokens.assign(1, std::move(text));
        break;
      }
    }
  }
  return tokens;
}

Result<std::string> HfPipeline::Decode(std::span<const int32_t> ids) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    DETINFER_ASSIGN_OR_RETURN(std::string_view t, TokenText(id));
    tokens.emplace_back(t);
  }
  std::string out;
  if (!has_decoder_) {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) out += ' ';
      out += tokens[i];
    }
    return out;
  }
  DETINFER_ASSIGN_OR_RETURN(std::vector<std::string> decoded, RunDecoder(std::move(tokens)));
  for (const std::string& t : decoded) out += t;
  return out;
}

// One token's share of Decode, for streaming: the decoder steps applied to this token alone,
// "first" meaning prev_id == -1. Byte tokens give their raw byte (the caller assembles
// characters). Steps after a Fuse act on the whole text in Decode; here a Strip after Fuse
// strips its start from the first token only and its stop not at all (the end is not known).
Result<std::string> HfPipeline::TokenBytes(int32_t id, int32_t prev_id) const {
  DETINFER_ASSIGN_OR_RETURN(std::string_view text, TokenText(id));
  const bool first = prev_id < 0;
  if (!has_decoder_) {
    std::string joined = first ? "" : " ";
    joined += text;
    return joined;
  }
  std::string s(text);
  bool fused = false;
  for (const HfDecoderStep& step : decoder_) {
    switch (step.kind) {
      case HfDecoderStep::Kind::kReplace: {
        DETINFER_ASSIGN_OR_RETURN(s, ReplaceAll(s, step.literal, step.regex.get(), step.content));
        break;
      }
      case HfDecoderStep::Kind::kByteFallback:
        if (std::optional<uint8_t> b = ParseByteToken(s)) s.assign(1, static_cast<char>(*b));
        break;
      case HfDecoderStep::Kind::kFuse:
        fused = true;
        break;
      case HfDecoderStep::Kind::kStrip:
        if (!fused) {
          s = StripChars(s, step.content, step.start, step.stop);
        } else if (first) {
          s = StripChars(s, step.content, step.start, 0);
        }
        break;
      case HfDecoderStep::Kind::kMetaspace:
        s = ReplaceLiteral(s, step.content, first && step.strip_first ? "" : " ");
        break;
      case HfDecoderStep::Kind::kByteLevel: {
        std::string bytes;
        if (AppendFromByteLevel(s, &bytes)) s = std::move(bytes);
        fused = true;
        break;
      }
    }
  }
  return s;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> MakeHfPipeline(HfPipelineParts parts) {
  return HfPipeline::Build(std::move(parts));
}

}  // namespace detinfer
