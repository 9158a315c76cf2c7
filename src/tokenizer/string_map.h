// A string -> token id map that can be probed with a string_view without building a string.
#ifndef DETINFER_TOKENIZER_STRING_MAP_H_
#define DETINFER_TOKENIZER_STRING_MAP_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace detinfer {

struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

using TokenIdMap = std::unordered_map<std::string, int32_t, StringViewHash, std::equal_to<>>;

// The id of `text`, or -1.
inline int32_t FindToken(const TokenIdMap& map, std::string_view text) {
  auto it = map.find(text);
  return it == map.end() ? -1 : it->second;
}

}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_STRING_MAP_H_
