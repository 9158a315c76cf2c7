#include "detinfer/names.h"

namespace detinfer {

std::string SettingName(std::string_view keyword, NameStyle style) {
  if (style == NameStyle::kKeyword) return std::string(keyword);
  std::string flag = "--";
  for (const char c : keyword) flag += c == '_' ? '-' : c;
  return flag;
}

}  // namespace detinfer
