#include "tokenizer/normalizer.h"

#include <unicode/bytestream.h>
#include <cstdint>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>

namespace detinfer {

Result<NormalForm> ParseNormalForm(std::string_view name, const std::string& what) {
  if (name == "NFC") return NormalForm::kNfc;
  if (name == "NFD") return NormalForm::kNfd;
  if (name == "NFKC") return NormalForm::kNfkc;
  if (name == "NFKD") return NormalForm::kNfkd;
  return Status::Unsupported(what + ": normalizer type '" + std::string(name) +
                             "' is not supported (NFC, NFD, NFKC, NFKD and Sequence are)");
}

Result<std::string> Normalize(std::string_view text, const std::vector<NormalForm>& forms) {
  if (text.size() > static_cast<size_t>(INT32_MAX)) {
    return Status::OutOfRange("text of " + std::to_string(text.size()) +
                              " bytes is too long to normalize (ICU takes < 2 GiB)");
  }
  std::string cur(text);
  for (NormalForm f : forms) {
    UErrorCode err = U_ZERO_ERROR;
    const icu::Normalizer2* n = nullptr;
    switch (f) {
      case NormalForm::kNfc: n = icu::Normalizer2::getNFCInstance(err); break;
      case NormalForm::kNfd: n = icu::Normalizer2::getNFDInstance(err); break;
      case NormalForm::kNfkc: n = icu::Normalizer2::getNFKCInstance(err); break;
      case NormalForm::kNfkd: n = icu::Normalizer2::getNFKDInstance(err); break;
    }
    if (U_FAILURE(err) || n == nullptr) {
      return Status::Internal(std::string("ICU normalizer unavailable: ") + u_errorName(err));
    }
    std::string next;
    icu::StringByteSink<std::string> sink(&next);
    n->normalizeUTF8(0, icu::StringPiece(cur.data(), static_cast<int32_t>(cur.size())), sink,
                     nullptr, err);
    if (U_FAILURE(err)) {
      return Status::InvalidArgument(std::string("Unicode normalization failed: ") +
                                     u_errorName(err));
    }
    cur = std::move(next);
  }
  return cur;
}

}  // namespace detinfer
