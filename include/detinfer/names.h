// How detinfer's public functions name a setting in their error messages: as a command-line
// flag ("--kv-dtype") for the CLI, as a keyword argument ("kv_dtype") for the Python package.
// One function validates a setting for both, so both say exactly what is wrong.
#ifndef DETINFER_PUBLIC_NAMES_H_
#define DETINFER_PUBLIC_NAMES_H_

#include <string>
#include <string_view>

namespace detinfer {

enum class NameStyle { kFlag, kKeyword };

// "kv_dtype" -> "--kv-dtype" (kFlag) or "kv_dtype" (kKeyword).
std::string SettingName(std::string_view keyword, NameStyle style);

}  // namespace detinfer

#endif  // DETINFER_PUBLIC_NAMES_H_
