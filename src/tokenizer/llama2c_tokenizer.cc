#include "tokenizer/llama2c_tokenizer.h"

#include <bit>
#include <cstring>

#include "core/mapped_file.h"
#include "tokenizer/score_bpe.h"

namespace detinfer {
namespace {

static_assert(std::endian::native == std::endian::little,
              "tokenizer.bin is little-endian; a big-endian host needs byte swaps here");

// A bounds-checked little-endian reader over the file.
class Reader {
 public:
  Reader(std::span<const uint8_t> b, const std::string& src) : b_(b), src_(src) {}
  size_t offset() const { return pos_; }
  size_t left() const { return b_.size() - pos_; }

  template <typename T>
  Status Read(T* v, const std::string& what) {
    if (left() < sizeof(T)) return Truncated(what, sizeof(T));
    std::memcpy(v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }
  Status ReadBytes(size_t n, std::string* out, const std::string& what) {
    if (left() < n) return Truncated(what, n);
    out->assign(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return Status::Ok();
  }

 private:
  Status Truncated(const std::string& what, size_t need) const {
    return Status::InvalidArgument(src_ + ": truncated: " + what + " needs " + std::to_string(need) +
                                   " bytes at offset " + std::to_string(pos_) + " but only " +
                                   std::to_string(left()) + " remain");
  }
  std::span<const uint8_t> b_;
  const std::string& src_;
  size_t pos_ = 0;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> ParseLlama2cTokenizer(std::span<const uint8_t> bytes,
                                                         const std::string& source,
                                                         int32_t vocab_size) {
  Reader r(bytes, source);
  int32_t max_len = 0;
  DETINFER_RETURN_IF_ERROR(r.Read(&max_len, "max_token_length"));
  if (max_len <= 0) {
    return Status::InvalidArgument(source + ": max_token_length is " + std::to_string(max_len) +
                                   " (must be > 0)");
  }
  if (vocab_size < -1 || vocab_size == 0) {
    return Status::InvalidArgument(source + ": vocab_size " + std::to_string(vocab_size) +
                                   " is invalid (must be > 0, or -1 to read to the end)");
  }
  // Each token takes at least 8 bytes, so this bounds the reservation by the file size.
  if (vocab_size > 0 && static_cast<size_t>(vocab_size) > r.left() / 8) {
    return Status::InvalidArgument(source + ": vocab_size " + std::to_string(vocab_size) +
                                   " needs at least " + std::to_string(8 * int64_t{vocab_size}) +
                                   " bytes but the file has " + std::to_string(r.left()) +
                                   " after the header");
  }
  ScoreBpeParts parts;
  parts.flavor = ScoreBpeParts::Flavor::kLlama2c;
  parts.source = source;
  if (vocab_size > 0) {
    parts.tokens.reserve(static_cast<size_t>(vocab_size));
    parts.scores.reserve(static_cast<size_t>(vocab_size));
  }
  for (int64_t i = 0; vocab_size < 0 ? r.left() > 0 : i < vocab_size; ++i) {
    if (i >= INT32_MAX) return Status::InvalidArgument(source + ": more than 2^31-1 tokens");
    const std::string what = "token " + std::to_string(i);
    const size_t at = r.offset();
    float score = 0;
    int32_t len = 0;
    DETINFER_RETURN_IF_ERROR(r.Read(&score, what + " score"));
    DETINFER_RETURN_IF_ERROR(r.Read(&len, what + " length"));
    if (len < 0 || len > max_len) {
      return Status::InvalidArgument(source + ": " + what + " (offset " + std::to_string(at) +
                                     ") has length " + std::to_string(len) +
                                     ", outside [0, max_token_length = " + std::to_string(max_len) +
                                     "]");
    }
    std::string text;
    DETINFER_RETURN_IF_ERROR(r.ReadBytes(static_cast<size_t>(len), &text, what + " text"));
    parts.tokens.push_back(std::move(text));
    parts.scores.push_back(score);
  }
  if (r.left() > 0) {
    return Status::InvalidArgument(source + ": " + std::to_string(r.left()) +
                                   " bytes left after token " + std::to_string(vocab_size - 1) +
                                   " (does vocab_size " + std::to_string(vocab_size) +
                                   " match this file?)");
  }
  if (parts.tokens.empty()) return Status::InvalidArgument(source + ": no tokens");
  const auto n = static_cast<int32_t>(parts.tokens.size());
  parts.bos_id = n > 1 ? 1 : -1;  // run.c's fixed ids
  parts.eos_id = n > 2 ? 2 : -1;
  parts.unk_id = -1;
  return MakeScoreBpe(std::move(parts));
}

Result<std::unique_ptr<Tokenizer>> LoadLlama2cTokenizer(const std::string& path,
                                                        int32_t vocab_size) {
  DETINFER_ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  return ParseLlama2cTokenizer(std::span<const uint8_t>(file.data(), file.size()), path,
                               vocab_size);
}

}  // namespace detinfer
