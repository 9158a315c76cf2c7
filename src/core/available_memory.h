// How much memory this process can still take: what the engine sizes its default KV capacity
// from (include/detinfer/engine.h, DefaultKvCapacityTokens).
#ifndef DETINFER_CORE_AVAILABLE_MEMORY_H_
#define DETINFER_CORE_AVAILABLE_MEMORY_H_

#include <cstdint>
#include <optional>
#include <string_view>

namespace detinfer {

// The smaller of the kernel's estimate of memory available without swapping (/proc/meminfo
// MemAvailable) and the room left under this process's cgroup v2 limit (memory.max minus
// memory.current), in bytes; nullopt when neither can be read (not Linux, no /proc).
std::optional<int64_t> AvailableMemoryBytes();

// The parts, for tests: MemAvailable of a /proc/meminfo text ("MemAvailable:  123 kB"), and
// the room under a cgroup's memory.max / memory.current texts ("max" = no limit).
std::optional<int64_t> MemAvailableFromMeminfo(std::string_view meminfo);
std::optional<int64_t> CgroupRoom(std::string_view memory_max, std::string_view memory_current);

}  // namespace detinfer

#endif  // DETINFER_CORE_AVAILABLE_MEMORY_H_
