// Loading a model and its tokenizer, and turning prompt text into token ids the way every
// detinfer front end does (so the CLI, the server command and the Python package encode a
// prompt to the same ids).
#ifndef DETINFER_PUBLIC_LOAD_H_
#define DETINFER_PUBLIC_LOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "detinfer/names.h"
#include "model/model_bundle.h"  // ModelBundle, LoadModelBundle
#include "tokenizer/tokenizer.h"

namespace detinfer {

// How a front end loads a model: `weight_cache` is where packed-weight cache files live
// (model/packed_cache.h): a directory, "off", or "" for the default — $DETINFER_WEIGHT_CACHE
// when set (a directory or "off"), else DefaultPackedCacheDir() ($DETINFER_CACHE_DIR,
// $XDG_CACHE_HOME/detinfer or ~/.cache/detinfer). The cache never changes a bit, only the
// load time and memory.
BundleOptions BundleOptionsFor(const std::string& weight_cache);

// `text` encoded by `tokenizer` (`add_special_tokens`: BOS etc., as the tokenizer defines).
// With no tokenizer the error names `what` and says why there is none (`why_none`, e.g.
// ModelBundle::tokenizer_source) and how to give one (in `style`). Text mapped to the unknown
// token is not an error; `*warning` (when not null) is then set to UnknownTokenWarning's text,
// else cleared, so a prompt the model cannot read is never run silently.
Result<std::vector<int32_t>> EncodeText(const Tokenizer* tokenizer, const std::string& why_none,
                                        const std::string& what, const std::string& text,
                                        bool add_special_tokens, NameStyle style,
                                        std::string* warning);
// A prompt given as text, as `detinfer generate --prompt` encodes it: with BOS.
Result<std::vector<int32_t>> EncodePrompt(const ModelBundle& b, const std::string& what,
                                          const std::string& text, NameStyle style,
                                          std::string* warning);
// "<what>: K of N tokens are not in the model's vocabulary and became '<unk>' (id U)", or ""
// when `ids` hold no unknown token.
std::string UnknownTokenWarning(const Tokenizer& tokenizer, const std::string& what,
                                const std::vector<int32_t>& ids);

}  // namespace detinfer

#endif  // DETINFER_PUBLIC_LOAD_H_
