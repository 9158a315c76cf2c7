#include "tokenizer/special_tokens.h"

#include <utility>

namespace detinfer {
namespace {

class SpecialTokenTokenizer final : public Tokenizer {
 public:
  SpecialTokenTokenizer(std::unique_ptr<Tokenizer> inner, SpecialTokenRules rules)
      : inner_(std::move(inner)), rules_(std::move(rules)) {
    is_special_.assign(static_cast<size_t>(inner_->vocab_size()), false);
    for (int32_t id : rules_.special) is_special_[static_cast<size_t>(id)] = true;
  }

  using Tokenizer::Decode;

  Result<std::vector<int32_t>> Encode(std::string_view text,
                                      bool add_special_tokens) const override {
    if (!add_special_tokens) return inner_->Encode(text, false);
    DETINFER_ASSIGN_OR_RETURN(std::vector<int32_t> body, inner_->Encode(text, false));
    std::vector<int32_t> ids;
    ids.reserve(rules_.prefix.size() + body.size() + rules_.suffix.size());
    ids.insert(ids.end(), rules_.prefix.begin(), rules_.prefix.end());
    ids.insert(ids.end(), body.begin(), body.end());
    ids.insert(ids.end(), rules_.suffix.begin(), rules_.suffix.end());
    return ids;
  }
  Result<std::string> Decode(std::span<const int32_t> ids) const override {
    return inner_->Decode(ids);
  }
  Result<std::string> TokenBytes(int32_t id, int32_t prev_id) const override {
    return inner_->TokenBytes(id, prev_id);
  }
  Result<std::string_view> TokenText(int32_t id) const override { return inner_->TokenText(id); }
  int32_t vocab_size() const override { return inner_->vocab_size(); }
  int32_t bos_id() const override { return rules_.bos_id; }
  int32_t eos_id() const override { return rules_.eos_id; }
  int32_t unk_id() const override { return inner_->unk_id(); }
  bool IsSpecial(int32_t id) const override {
    return (id >= 0 && static_cast<size_t>(id) < is_special_.size() && is_special_[id]) ||
           inner_->IsSpecial(id);
  }

 private:
  std::unique_ptr<Tokenizer> inner_;
  SpecialTokenRules rules_;
  std::vector<bool> is_special_;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> WithSpecialTokenRules(std::unique_ptr<Tokenizer> inner,
                                                         SpecialTokenRules rules,
                                                         const std::string& source) {
  const int32_t n = inner->vocab_size();
  auto check = [&](int32_t id, const char* what) -> Status {
    if (id >= 0 && id < n) return Status::Ok();
    std::string msg = source;
    msg += ": ";
    msg += what;
    msg += " id ";
    msg += std::to_string(id);
    msg += " is outside the vocabulary (size ";
    msg += std::to_string(n);
    msg += ")";
    return Status::InvalidArgument(msg);
  };
  for (int32_t id : rules.prefix) DETINFER_RETURN_IF_ERROR(check(id, "special token"));
  for (int32_t id : rules.suffix) DETINFER_RETURN_IF_ERROR(check(id, "special token"));
  for (int32_t id : rules.special) DETINFER_RETURN_IF_ERROR(check(id, "special token"));
  if (rules.bos_id != -1) DETINFER_RETURN_IF_ERROR(check(rules.bos_id, "BOS token"));
  if (rules.eos_id != -1) DETINFER_RETURN_IF_ERROR(check(rules.eos_id, "EOS token"));
  return std::unique_ptr<Tokenizer>(
      std::make_unique<SpecialTokenTokenizer>(std::move(inner), std::move(rules)));
}

}  // namespace detinfer
