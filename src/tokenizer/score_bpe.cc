#include "tokenizer/score_bpe.h"

#include <cmath>

#include "tokenizer/added_tokens.h"
#include "tokenizer/pair_merge.h"
#include "tokenizer/string_map.h"
#include "tokenizer/utf8.h"

namespace detinfer {
namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";    // U+2581 '▁'
constexpr std::string_view kUnknownMark = "\xE2\x96\x85";  // U+2585, llama.cpp's unk piece

// "<0xXX>" -> the byte; -1 if `piece` is not of that form.
int ParseByteToken(std::string_view piece) {
  if (piece.size() != 6 || !piece.starts_with("<0x") || piece[5] != '>') return -1;
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(piece[3]), lo = hex(piece[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

std::string ByteTokenText(uint8_t b) {
  static const char kHex[] = "0123456789ABCDEF";
  return std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">";
}

class ScoreBpe final : public Tokenizer {
 public:
  explicit ScoreBpe(ScoreBpeParts parts) : p_(std::move(parts)) {}
  Status Init();

  Result<std::vector<int32_t>> Encode(std::string_view text,
                                      bool add_special_tokens) const override;
  Result<std::string> TokenBytes(int32_t id, int32_t prev_id) const override;
  Result<std::string_view> TokenText(int32_t id) const override {
    DETINFER_RETURN_IF_ERROR(CheckId(id));
    return std::string_view(p_.tokens[id]);
  }
  int32_t vocab_size() const override { return static_cast<int32_t>(p_.tokens.size()); }
  int32_t bos_id() const override { return p_.bos_id; }
  int32_t eos_id() const override { return p_.eos_id; }
  int32_t unk_id() const override { return p_.unk_id; }
  // llama2.c: BOS and EOS; llama.cpp: control tokens.
  bool IsSpecial(int32_t id) const override {
    if (id < 0 || id >= vocab_size()) return false;
    if (p_.flavor == ScoreBpeParts::Flavor::kLlama2c) return id == p_.bos_id || id == p_.eos_id;
    return Type(id) == TokenType::kControl;
  }

 private:
  TokenType Type(int32_t id) const {
    return p_.types.empty() ? TokenType::kNormal : static_cast<TokenType>(p_.types[id]);
  }
  bool IsVerbatim(int32_t id) const {  // matched verbatim in the input (llama.cpp)
    const TokenType t = Type(id);
    return t == TokenType::kControl || t == TokenType::kUserDefined;
  }
  std::optional<MergeCandidate> Candidate(int32_t id) const {
    if (id < 0) return std::nullopt;
    const float s = p_.scores[id];
    // NaN never wins a comparison in run.c, so such a token is never merged into.
    if (std::isnan(s)) return std::nullopt;
    if (p_.flavor == ScoreBpeParts::Flavor::kLlama2c && !(s > -1e10f)) return std::nullopt;
    return MergeCandidate{-static_cast<double>(s), id};
  }
  Status EncodeLlama2c(std::string_view text, std::vector<int32_t>* out) const;
  Status EncodeLlamaCpp(std::string_view text, std::vector<int32_t>* out) const;
  Status ByteToken(uint8_t b, std::vector<int32_t>* out) const;

  ScoreBpeParts p_;
  TokenIdMap ids_;
  AddedTokenMatcher specials_;
};

Status ScoreBpe::Init() {
  const std::string& src = p_.source;
  if (p_.tokens.size() > static_cast<size_t>(INT32_MAX)) {
    return Status::InvalidArgument(src + ": " + std::to_string(p_.tokens.size()) + " tokens is too many");
  }
  if (p_.scores.size() != p_.tokens.size()) {
    return Status::InvalidArgument(src + ": " + std::to_string(p_.tokens.size()) + " tokens but " +
                                   std::to_string(p_.scores.size()) + " scores");
  }
  if (!p_.types.empty() && p_.types.size() != p_.tokens.size()) {
    return Status::InvalidArgument(src + ": " + std::to_string(p_.tokens.size()) + " tokens but " +
                                   std::to_string(p_.types.size()) + " token types");
  }
  for (size_t i = 0; i < p_.types.size(); ++i) {
    if (p_.types[i] < 0 || p_.types[i] > 6) {
      return Status::InvalidArgument(src + ": token " + std::to_string(i) + " has type " +
                                     std::to_string(p_.types[i]) + " (valid: 0..6)");
    }
  }
  for (auto [id, name] : {std::pair{p_.bos_id, "bos"}, {p_.eos_id, "eos"}, {p_.unk_id, "unk"}}) {
    if (id < -1 || id >= vocab_size()) {
      return Status::InvalidArgument(src + ": " + name + " token id " + std::to_string(id) +
                                     " is outside the vocabulary (size " +
                                     std::to_string(vocab_size()) + ")");
    }
  }
  ids_.reserve(p_.tokens.size());
  for (size_t i = 0; i < p_.tokens.size(); ++i) {
    const auto id = static_cast<int32_t>(i);
    ids_.emplace(p_.tokens[i], id);  // a repeated text keeps its lowest id
    if (p_.flavor == ScoreBpeParts::Flavor::kLlamaCpp && IsVerbatim(id)) {
      DETINFER_RETURN_IF_ERROR(ValidateUtf8(p_.tokens[i], src + ": special token " + std::to_string(i)));
      specials_.Add(AddedToken{p_.tokens[i], id, false, false, true});
    }
  }
  return Status::Ok();
}

Status ScoreBpe::ByteToken(uint8_t b, std::vector<int32_t>* out) const {
  int32_t id = -1;
  if (p_.flavor == ScoreBpeParts::Flavor::kLlama2c) {
    id = b + 3;  // run.c: the 256 byte tokens follow <unk>, <s>, </s>
    if (id >= vocab_size()) id = -1;
  } else {
    id = FindToken(ids_, ByteTokenText(b));
    if (id < 0) id = p_.unk_id;
  }
  if (id < 0) {
    return Status::InvalidArgument(p_.source + ": byte " + ByteTokenText(b) +
                                   " has no token and there is no unk token");
  }
  out->push_back(id);
  return Status::Ok();
}

Status ScoreBpe::EncodeLlama2c(std::string_view text, std::vector<int32_t>* out) const {
  if (text.empty()) return Status::Ok();
  std::vector<int32_t> ids;
  std::vector<MergeSymbol> symbols;
  auto add = [&](int32_t id, size_t len) {
    MergeSymbol s;
    s.id = id;
    s.start = symbols.empty() ? 0 : symbols.back().start + symbols.back().len;
    s.len = len;
    symbols.push_back(s);
  };
  // The dummy prefix; a vocabulary without " " gets its byte token (run.c would store -1).
  if (int32_t sp = FindToken(ids_, " "); sp >= 0) {
    add(sp, 1);
  } else {
    DETINFER_RETURN_IF_ERROR(ByteToken(' ', &ids));
    add(ids.back(), 1);
  }
  for (size_t pos = 0; pos < text.size();) {
    const size_t n = Utf8CharLength(text, pos);  // text is valid UTF-8
    if (int32_t id = FindToken(ids_, text.substr(pos, n)); id >= 0) {
      add(id, n);
    } else {
      for (size_t i = 0; i < n; ++i) {
        ids.clear();
        DETINFER_RETURN_IF_ERROR(ByteToken(static_cast<uint8_t>(text[pos + i]), &ids));
        add(ids.back(), 1);
      }
    }
    pos += n;
  }
  std::string joined;
  auto pair = [&](const MergeSymbol& l, const MergeSymbol& r) {
    joined = p_.tokens[l.id];
    joined += p_.tokens[r.id];
    return Candidate(FindToken(ids_, joined));
  };
  for (const MergeSymbol& s : MergePairs(std::move(symbols), pair)) out->push_back(s.id);
  return Status::Ok();
}

Status ScoreBpe::EncodeLlamaCpp(std::string_view text, std::vector<int32_t>* out) const {
  bool prev_special = true;  // the start of the text counts as following a special token
  for (const TextSegment& seg : specials_.Split(text)) {
    if (seg.id >= 0) {
      out->push_back(seg.id);
      prev_special = true;
      continue;
    }
    std::string escaped;
    if (p_.add_space_prefix && prev_special) escaped = kSpaceMark;
    prev_special = false;
    for (char c : seg.text) {
      if (c == ' ') {
        escaped += kSpaceMark;
      } else {
        escaped.push_back(c);
      }
    }
    const std::string_view esc(escaped);
    std::vector<MergeSymbol> symbols;
    for (size_t pos = 0; pos < esc.size();) {
      MergeSymbol s;
      s.start = pos;
      s.len = Utf8CharLength(esc, pos);
      s.id = FindToken(ids_, esc.substr(pos, s.len));
      symbols.push_back(s);
      pos += s.len;
    }
    auto pair = [&](const MergeSymbol& l, const MergeSymbol& r) {
      return Candidate(FindToken(ids_, esc.substr(l.start, l.len + r.len)));
    };
    for (const MergeSymbol& s : MergePairs(std::move(symbols), pair)) {
      if (s.id >= 0) {
        out->push_back(s.id);
        continue;
      }
      // Only an unmerged single character can lack a token (a merge needs a vocabulary entry).
      for (size_t i = 0; i < s.len; ++i) {
        DETINFER_RETURN_IF_ERROR(ByteToken(static_cast<uint8_t>(esc[s.start + i]), out));
      }
    }
  }
  return Status::Ok();
}

Result<std::vector<int32_t>> ScoreBpe::Encode(std::string_view text,
                                              bool add_special_tokens) const {
  DETINFER_RETURN_IF_ERROR(ValidateUtf8(text, p_.source + ": text to encode"));
  std::vector<int32_t> ids;
  if (add_special_tokens && p_.bos_id >= 0) ids.push_back(p_.bos_id);
  if (p_.flavor == ScoreBpeParts::Flavor::kLlama2c) {
    DETINFER_RETURN_IF_ERROR(EncodeLlama2c(text, &ids));
  } else {
    DETINFER_RETURN_IF_ERROR(EncodeLlamaCpp(text, &ids));
  }
  return ids;
}

Result<std::string> ScoreBpe::TokenBytes(int32_t id, int32_t prev_id) const {
  DETINFER_RETURN_IF_ERROR(CheckId(id));
  std::string_view piece = p_.tokens[id];
  if (p_.flavor == ScoreBpeParts::Flavor::kLlama2c) {
    if (prev_id == p_.bos_id && p_.bos_id >= 0 && piece.starts_with(' ')) piece.remove_prefix(1);
    if (int b = ParseByteToken(piece); b >= 0) return std::string(1, static_cast<char>(b));
    return std::string(piece);
  }
  switch (Type(id)) {
    case TokenType::kByte:
      if (int b = ParseByteToken(piece); b >= 0) return std::string(1, static_cast<char>(b));
      return std::string(piece);
    case TokenType::kControl:
    case TokenType::kUserDefined:
      return std::string(piece);
    case TokenType::kUnknown:
      return std::string(kUnknownMark);
    default:
      break;
  }
  std::string out;
  for (size_t pos = 0; pos < piece.size();) {
    if (piece.substr(pos).starts_with(kSpaceMark)) {
      out.push_back(' ');
      pos += kSpaceMark.size();
    } else {
      out.push_back(piece[pos++]);
    }
  }
  const bool after_special = prev_id < 0 || prev_id == p_.bos_id ||
                             (prev_id < vocab_size() && IsVerbatim(prev_id));
  if (p_.add_space_prefix && after_special && out.starts_with(' ')) out.erase(0, 1);
  return out;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> MakeScoreBpe(ScoreBpeParts parts) {
  auto t = std::make_unique<ScoreBpe>(std::move(parts));
  DETINFER_RETURN_IF_ERROR(t->Init());
  return std::unique_ptr<Tokenizer>(std::move(t));
}

}  // namespace detinfer
