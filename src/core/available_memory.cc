#include "core/available_memory.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace detinfer {

namespace {

std::optional<int64_t> ParseInt(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  int64_t v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || v < 0) return std::nullopt;
  return v;
}

std::optional<std::string> ReadSmallFile(const char* path) {
  std::ifstream f(path);
  if (!f) return std::nullopt;
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

std::optional<int64_t> MemAvailableFromMeminfo(std::string_view meminfo) {
  constexpr std::string_view kKey = "MemAvailable:";
  const size_t at = meminfo.find(kKey);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = meminfo.substr(at + kKey.size());
  rest = rest.substr(0, rest.find('\n'));
  const auto kb = ParseInt(rest);
  if (!kb || rest.find("kB") == std::string_view::npos) return std::nullopt;
  return *kb * 1024;
}

std::optional<int64_t> CgroupRoom(std::string_view memory_max, std::string_view memory_current) {
  if (memory_max.rfind("max", 0) == 0) return std::nullopt;  // no limit
  const auto max = ParseInt(memory_max), current = ParseInt(memory_current);
  if (!max || !current) return std::nullopt;
  return std::max<int64_t>(0, *max - *current);
}

std::optional<int64_t> AvailableMemoryBytes() {
  std::optional<int64_t> out;
  if (auto m = ReadSmallFile("/proc/meminfo")) out = MemAvailableFromMeminfo(*m);
  const auto max = ReadSmallFile("/sys/fs/cgroup/memory.max");
  const auto current = ReadSmallFile("/sys/fs/cgroup/memory.current");
  if (max && current) {
    if (auto room = CgroupRoom(*max, *current)) out = out ? std::min(*out, *room) : *room;
  }
  return out;
}

}  // namespace detinfer
