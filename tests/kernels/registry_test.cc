#include "kernels/registry.h"

#include <gtest/gtest.h>

namespace detinfer {
namespace {

int Scalar() { return 0; }
int Avx2() { return 1; }
int Avx512() { return 2; }
using Fn = int (*)();

CpuFeatures Cpu(bool avx2, bool avx512) {
  CpuFeatures f;
  f.avx2 = f.fma = f.f16c = f.os_saves_ymm = avx2;
  f.avx512f = f.avx512bw = f.avx512vl = f.os_saves_zmm = avx512;
  return f;
}

TEST(OpRegistryTest, BestPicksTheHighestPriorityPathTheCpuRuns) {
  const auto reg = CpuOpRegistry<Fn>("op", &Scalar, &Avx2, &Avx512);
  EXPECT_EQ(reg.Best(Device::kCpu, Cpu(false, false))->fn(), 0);
  EXPECT_EQ(reg.Best(Device::kCpu, Cpu(true, false))->fn(), 1);
  EXPECT_EQ(reg.Best(Device::kCpu, Cpu(true, true))->fn(), 2);
  EXPECT_EQ(reg.Best(Device::kCpu, Cpu(true, true))->isa, Isa::kAvx512);
}

TEST(OpRegistryTest, PriorityNotRegistrationOrderDecides) {
  using E = OpRegistry<Fn>::Entry;
  OpRegistry<Fn> reg("op", {E{Device::kCpu, Isa::kAvx2, 5, &Avx2},
                            E{Device::kCpu, Isa::kAvx512, 1, &Avx512},
                            E{Device::kCpu, Isa::kScalar, 0, &Scalar}});
  EXPECT_EQ(reg.Best(Device::kCpu, Cpu(true, true))->fn(), 1);
}

TEST(OpRegistryTest, ForGivesExactlyTheNamedPathOrAnError) {
  const auto reg = CpuOpRegistry<Fn>("op", &Scalar, &Avx2, &Avx512);
  EXPECT_EQ((*reg.For(Device::kCpu, Isa::kAvx2))(), 1);
  using E = OpRegistry<Fn>::Entry;
  OpRegistry<Fn> partial("softmax", {E{Device::kCpu, Isa::kScalar, 0, &Scalar}});
  auto r = partial.For(Device::kCpu, Isa::kAvx512);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "softmax: no implementation for the avx512 path");
  OpRegistry<Fn> none("rope", {});
  EXPECT_FALSE(none.Best(Device::kCpu, Cpu(true, true)).ok());
}

}  // namespace
}  // namespace detinfer
