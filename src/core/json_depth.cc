#include "core/json_depth.h"

namespace detinfer {

Status CheckJsonDepth(std::string_view text, int max_depth, const std::string& source) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, whatever it is, cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        return Status::InvalidArgument(source + ": JSON nested deeper than " +
                                       std::to_string(max_depth) + " levels at byte " +
                                       std::to_string(i));
      }
    } else if (c == ']' || c == '}') {
      --depth;  // unbalanced text is the parser's to report
    }
  }
  return Status::Ok();
}

}  // namespace detinfer
