#include "tokenizer/sentencepiece_model.h"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "core/mapped_file.h"
#include "tokenizer/utf8.h"

namespace detinfer {

namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // U+2581 '▁'

std::string ReplaceSpaceSymbol(std::string_view piece) {
  std::string out;
  out.reserve(piece.size());
  size_t pos = 0;
  for (size_t at = piece.find(kSpaceSymbol); at != std::string_view::npos;
       at = piece.find(kSpaceSymbol, pos)) {
    out.append(piece.substr(pos, at - pos));
    out += ' ';
    pos = at + kSpaceSymbol.size();
  }
  out.append(piece.substr(pos));
  return out;
}

// "<0xNN>" -> NN (byte pieces are exactly this form in SentencePiece).
std::optional<uint8_t> ParseBytePiece(std::string_view p) {
  if (p.size() != 6 || p.substr(0, 3) != "<0x" || p[5] != '>') return std::nullopt;
  int v = 0;
  for (size_t i = 3; i < 5; ++i) {
    const char c = p[i];
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    v = v * 16 + d;
  }
  return static_cast<uint8_t>(v);
}

class SentencePieceTokenizer final : public Tokenizer {
 public:
  static Result<std::unique_ptr<Tokenizer>> Create(std::string_view bytes, const std::string& source,
                                                   const SentencePieceOptions& options);

  Result<std::vector<int32_t>> Encode(std::string_view text, bool add_special_tokens) const override;
  bool IsSpecial(int32_t id) const override {
    return id >= 0 && id < vocab_size() && special_[static_cast<size_t>(id)];
  }
  Result<std::string> TokenBytes(int32_t id, int32_t prev_id) const override;
  Result<std::string_view> TokenText(int32_t id) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(bytes_.size()); }
  int32_t bos_id() const override { return bos_; }
  int32_t eos_id() const override { return eos_; }
  int32_t unk_id() const override { return unk_; }

 private:
  Status EncodePart(std::string_view part, std::vector<int32_t>* ids) const;

  std::string source_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::vector<std::string> bytes_;   // what each id adds to decoded text after another token
  std::vector<uint8_t> drop_space_;  // 1: drop the first byte (a ' ') when it starts the text
  std::vector<uint8_t> special_;     // IsSpecial
  // The special pieces matched in the text to encode, by first byte, longest first.
  std::array<std::vector<std::pair<std::string, int32_t>>, 256> specials_by_byte_;
  int32_t bos_ = -1;
  int32_t eos_ = -1;
  int32_t unk_ = -1;
  bool add_bos_ = true;
  bool add_eos_ = false;
};

// The id of piece `name` (a tokenizer_config.json BOS / EOS name), or an error.
Result<int32_t> PieceId(const sentencepiece::SentencePieceProcessor& sp, const std::string& name,
                        const std::string& source, const char* what) {
  const int id = sp.PieceToId(name);
  if (id < 0 || id >= sp.GetPieceSize() || sp.IdToPiece(id) != name) {
    std::string msg = source;
    msg += ": the ";
    msg += what;
    msg += " token '";
    msg += name;
    msg += "' (tokenizer_config.json) is not a piece of the SentencePiece model";
    return Status::InvalidArgument(std::move(msg));
  }
  return static_cast<int32_t>(id);
}

Result<std::unique_ptr<Tokenizer>> SentencePieceTokenizer::Create(
    std::string_view bytes, const std::string& source, const SentencePieceOptions& options) {
  auto t = std::make_unique<SentencePieceTokenizer>();
  t->source_ = source;
  t->sp_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  if (bytes.empty()) {
    return Status::InvalidArgument(source + ": not a SentencePiece model (the file is empty)");
  }
  const sentencepiece::util::Status st = t->sp_->LoadFromSerializedProto(bytes);
  if (!st.ok()) {
    std::string msg = source;
    msg += ": not a SentencePiece model (";
    msg += st.ToString();
    msg += ")";
    return Status::InvalidArgument(std::move(msg));
  }
  const sentencepiece::SentencePieceProcessor& sp = *t->sp_;
  const int n = sp.GetPieceSize();
  if (n <= 0) return Status::InvalidArgument(source + ": the SentencePiece model has no pieces");

  t->unk_ = sp.unk_id();
  t->bos_ = sp.bos_id();
  t->eos_ = sp.eos_id();
  if (!options.bos_token.empty()) {
    DETINFER_ASSIGN_OR_RETURN(t->bos_, PieceId(sp, options.bos_token, source, "BOS"));
  }
  if (!options.eos_token.empty()) {
    DETINFER_ASSIGN_OR_RETURN(t->eos_, PieceId(sp, options.eos_token, source, "EOS"));
  }
  if (options.tokenizer_class == "T5Tokenizer" || options.tokenizer_class == "T5TokenizerFast") {
    t->add_bos_ = false;
    t->add_eos_ = true;
  } else {
    t->add_bos_ = options.add_bos_token.value_or(true);
    t->add_eos_ = options.add_eos_token.value_or(false);
  }

  const size_t size = static_cast<size_t>(n);
  t->bytes_.resize(size);
  t->drop_space_.assign(size, 0);
  t->special_.assign(size, 0);
  // Whether DecodeIds drops the leading '▁' of the first piece: it does when the normalizer
  // adds a dummy prefix or removes extra whitespace, flags of the model's normalizer spec that
  // the library's public header does not expose; so ask DecodeIds about one such piece.
  bool drop_first_space = true;
  bool probed = false;
  for (int id = 0; id < n; ++id) {
    const std::string& piece = sp.IdToPiece(id);
    const size_t i = static_cast<size_t>(id);
    const bool special = sp.IsControl(id) || sp.IsUnknown(id) || id == t->bos_ || id == t->eos_;
    if (special) {
      t->special_[i] = 1;
      t->bytes_[i] = piece;
      if (!piece.empty()) {
        t->specials_by_byte_[static_cast<uint8_t>(piece[0])].emplace_back(piece, id);
      }
      continue;
    }
    if (sp.IsByte(id)) {
      const std::optional<uint8_t> b = ParseBytePiece(piece);
      if (!b) {
        std::string msg = source;
        msg += ": byte piece ";
        msg += std::to_string(id);
        msg += " is '";
        msg += piece;
        msg += "', not <0xNN>";
        return Status::InvalidArgument(std::move(msg));
      }
      t->bytes_[i].assign(1, static_cast<char>(*b));
      continue;
    }
    t->bytes_[i] = ReplaceSpaceSymbol(piece);
    if (piece.starts_with(kSpaceSymbol)) {
      t->drop_space_[i] = 1;
      if (!probed) {
        probed = true;
        const std::string alone = sp.DecodeIds({id});
        drop_first_space = alone == std::string_view(t->bytes_[i]).substr(1);
      }
    }
  }
  if (!drop_first_space) std::fill(t->drop_space_.begin(), t->drop_space_.end(), 0);
  for (auto& v : t->specials_by_byte_) {
    std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
      return a.first.size() > b.first.size();
    });
  }
  return std::unique_ptr<Tokenizer>(std::move(t));
}

Status SentencePieceTokenizer::EncodePart(std::string_view part, std::vector<int32_t>* ids) const {
  if (part.empty()) return Status::Ok();
  std::vector<int> out;
  const sentencepiece::util::Status st = sp_->Encode(part, &out);
  if (!st.ok()) {
    std::string msg = source_;
    msg += ": SentencePiece encode failed: ";
    msg += st.ToString();
    return Status::Internal(std::move(msg));
  }
  ids->insert(ids->end(), out.begin(), out.end());
  return Status::Ok();
}

Result<std::vector<int32_t>> SentencePieceTokenizer::Encode(std::string_view text,
                                                            bool add_special_tokens) const {
  DETINFER_RETURN_IF_ERROR(ValidateUtf8(text, source_ + ": text to encode"));
  std::vector<int32_t> ids;
  if (add_special_tokens && add_bos_ && bos_ >= 0) ids.push_back(bos_);
  size_t start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const auto& candidates = specials_by_byte_[static_cast<uint8_t>(text[pos])];
    const std::pair<std::string, int32_t>* hit = nullptr;
    for (const auto& c : candidates) {
      if (text.substr(pos).starts_with(c.first)) {
        hit = &c;
        break;
      }
    }
    if (hit == nullptr) {
      ++pos;
      continue;
    }
    DETINFER_RETURN_IF_ERROR(EncodePart(text.substr(start, pos - start), &ids));
    ids.push_back(hit->second);
    pos += hit->first.size();
    start = pos;
  }
  DETINFER_RETURN_IF_ERROR(EncodePart(text.substr(start), &ids));
  if (add_special_tokens && add_eos_ && eos_ >= 0) ids.push_back(eos_);
  return ids;
}

Result<std::string> SentencePieceTokenizer::TokenBytes(int32_t id, int32_t prev_id) const {
  DETINFER_RETURN_IF_ERROR(CheckId(id));
  const std::string& b = bytes_[static_cast<size_t>(id)];
  if (prev_id == -1 && drop_space_[static_cast<size_t>(id)]) return b.substr(1);
  return b;
}

Result<std::string_view> SentencePieceTokenizer::TokenText(int32_t id) const {
  DETINFER_RETURN_IF_ERROR(CheckId(id));
  return std::string_view(sp_->IdToPiece(id));
}

}  // namespace

bool LooksLikeSentencePieceModel(std::string_view head) {
  size_t pos = 0;
  // A varint at head[pos], or nullopt if it does not fit in head / in 32 bits.
  const auto varint = [&]() -> std::optional<uint64_t> {
    uint64_t v = 0;
    for (int shift = 0; shift < 35 && pos < head.size(); shift += 7) {
      const uint8_t c = static_cast<uint8_t>(head[pos++]);
      v |= static_cast<uint64_t>(c & 0x7f) << shift;
      if ((c & 0x80) == 0) return v;
    }
    return std::nullopt;
  };
  if (head.empty() || static_cast<uint8_t>(head[pos++]) != 0x0a) return false;
  const std::optional<uint64_t> message = varint();
  if (!message || *message < 2 || pos >= head.size()) return false;
  const size_t message_start = pos;
  if (static_cast<uint8_t>(head[pos++]) != 0x0a) return false;
  const std::optional<uint64_t> piece = varint();
  return piece && (pos - message_start) + *piece <= *message;
}

Result<std::unique_ptr<Tokenizer>> ParseSentencePieceModel(std::string_view bytes,
                                                           const std::string& source,
                                                           const SentencePieceOptions& options) {
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return Status::InvalidArgument(source + ": too large for a SentencePiece model");
  }
  return SentencePieceTokenizer::Create(bytes, source, options);
}

Result<std::unique_ptr<Tokenizer>> LoadSentencePieceModel(const std::string& path,
                                                          const SentencePieceOptions& options) {
  DETINFER_ASSIGN_OR_RETURN(MappedFile f, MappedFile::Open(path));
  return ParseSentencePieceModel(
      std::string_view(reinterpret_cast<const char*>(f.data()), f.size()), path, options);
}

}  // namespace detinfer
