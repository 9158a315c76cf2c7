// AvailableMemoryBytes and its parsers: the default KV capacity is sized from them
// (tests/api/engine_config_test.cc).
#include "core/available_memory.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace detinfer {
namespace {

TEST(AvailableMemoryTest, ParsesMeminfoAndCgroupFiles) {
  const char* meminfo =
      "MemTotal:       24576000 kB\nMemFree:         1000000 kB\n"
      "MemAvailable:   20000000 kB\nBuffers:           12345 kB\n";
  EXPECT_EQ(MemAvailableFromMeminfo(meminfo), int64_t{20000000} * 1024);
  EXPECT_FALSE(MemAvailableFromMeminfo("MemTotal: 1 kB\n").has_value());
  EXPECT_FALSE(MemAvailableFromMeminfo("MemAvailable: lots\n").has_value());
  EXPECT_EQ(CgroupRoom("8589934592\n", "1073741824\n"), int64_t{7} << 30);
  EXPECT_EQ(CgroupRoom("1000\n", "5000\n"), 0);  // over its limit already: no room
  EXPECT_FALSE(CgroupRoom("max\n", "1073741824\n").has_value());
  EXPECT_FALSE(CgroupRoom("garbage", "1").has_value());
}

// On this machine (Linux): some memory is available, and no more than the machine has.
TEST(AvailableMemoryTest, ThisMachineHasSomeAndNoMoreThanItsTotal) {
  const auto got = AvailableMemoryBytes();
  ASSERT_TRUE(got.has_value());
  EXPECT_GT(*got, 0);
  std::ifstream f("/proc/meminfo");
  std::ostringstream s;
  s << f.rdbuf();
  const std::string text = s.str();
  const size_t at = text.find("MemTotal:");
  ASSERT_NE(at, std::string::npos);
  const int64_t total_kb = std::stoll(text.substr(at + 9));
  EXPECT_LE(*got, total_kb * 1024);
}

}  // namespace
}  // namespace detinfer
