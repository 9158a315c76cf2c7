// A nesting-depth bound for untrusted JSON (config.json, safetensors headers, tokenizer.json,
// request bodies), checked on the raw text before any JSON library sees it.
//
// Why: parsing is iterative, but walking, printing (error messages quote offending values) and
// destroying a value recurse once per level, so "[[[[...]]]]" a few hundred thousand levels
// deep would overflow the stack. No file detinfer reads nests deeper than about 6.
#ifndef DETINFER_CORE_JSON_DEPTH_H_
#define DETINFER_CORE_JSON_DEPTH_H_

#include <string>
#include <string_view>

#include "core/status.h"

namespace detinfer {

inline constexpr int kMaxJsonDepth = 64;

// InvalidArgument "<source>: JSON nested deeper than <max_depth> levels at byte <offset>" when
// an array/object opens more than max_depth levels deep (brackets inside strings, escapes
// included, do not count). Malformed JSON is left for the parser to report.
Status CheckJsonDepth(std::string_view text, int max_depth, const std::string& source);

}  // namespace detinfer

#endif  // DETINFER_CORE_JSON_DEPTH_H_
