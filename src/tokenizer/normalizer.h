// Unicode normalization forms a tokenizer.json "normalizer" may name (Qwen2/3 use NFC),
// applied with ICU.
#ifndef DETINFER_TOKENIZER_NORMALIZER_H_
#define DETINFER_TOKENIZER_NORMALIZER_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace detinfer {

enum class NormalForm { kNfc, kNfd, kNfkc, kNfkd };

// Parses "NFC", "NFD", "NFKC", "NFKD"; anything else is Unsupported, naming `what` and `name`.
Result<NormalForm> ParseNormalForm(std::string_view name, const std::string& what);

// Applies `forms` in order to valid UTF-8 `text`.
Result<std::string> Normalize(std::string_view text, const std::vector<NormalForm>& forms);

}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_NORMALIZER_H_
