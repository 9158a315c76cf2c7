#include "detinfer/load.h"

#include <algorithm>
#include <cstdlib>

namespace detinfer {

BundleOptions BundleOptionsFor(const std::string& weight_cache) {
  std::string setting = weight_cache;
  if (setting.empty()) {
    const char* env = std::getenv("DETINFER_WEIGHT_CACHE");
    if (env != nullptr) setting = env;
  }
  BundleOptions o;
  o.cache.dir = setting.empty() ? DefaultPackedCacheDir() : setting == "off" ? "" : setting;
  return o;
}

Result<std::vector<int32_t>> EncodeText(const Tokenizer* tokenizer, const std::string& why_none,
                                        const std::string& what, const std::string& text,
                                        bool add_special_tokens, NameStyle style,
                                        std::string* warning) {
  if (warning != nullptr) warning->clear();
  if (tokenizer == nullptr) {
    const std::string how =
        style == NameStyle::kFlag ? "--tokenizer FILE" : "LLM(model, tokenizer=PATH)";
    return Status::InvalidArgument(what + " needs a tokenizer (" + why_none +
                                   "): give token ids instead, or " + how);
  }
  auto ids = tokenizer->Encode(text, add_special_tokens);
  if (!ids.ok()) return Status::InvalidArgument(what + ": " + ids.status().message());
  if (warning != nullptr) *warning = UnknownTokenWarning(*tokenizer, what, *ids);
  return ids;
}

Result<std::vector<int32_t>> EncodePrompt(const ModelBundle& b, const std::string& what,
                                          const std::string& text, NameStyle style,
                                          std::string* warning) {
  return EncodeText(b.tokenizer.get(), b.tokenizer_source, what, text, /*add_special_tokens=*/true,
                    style, warning);
}

std::string UnknownTokenWarning(const Tokenizer& tokenizer, const std::string& what,
                                const std::vector<int32_t>& ids) {
  const int32_t unk = tokenizer.unk_id();
  const auto unknown = unk < 0 ? 0 : std::count(ids.begin(), ids.end(), unk);
  if (unknown == 0) return "";
  auto unk_text = tokenizer.TokenText(unk);
  std::string w = what;
  w += ": ";
  w += std::to_string(unknown);
  w += " of ";
  w += std::to_string(ids.size());
  w += " tokens are not in the model's vocabulary and became ";
  if (unk_text.ok()) {
    w += "'";
    w += *unk_text;
    w += "'";
  } else {
    w += "the unknown token";
  }
  w += " (id ";
  w += std::to_string(unk);
  w += ")";
  return w;
}

}  // namespace detinfer
