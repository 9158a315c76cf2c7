// ISA path selection: the best path by default, named errors for unknown or unsupported paths.
#include "core/isa.h"

#include <gtest/gtest.h>

namespace detinfer {
namespace {

CpuFeatures Avx2Only() {
  CpuFeatures c;
  c.avx2 = c.fma = c.f16c = c.os_saves_ymm = true;
  return c;
}

CpuFeatures Avx512() {
  CpuFeatures c = Avx2Only();
  c.avx512f = c.avx512bw = c.avx512vl = c.os_saves_zmm = true;
  return c;
}

TEST(IsaTest, EmptyRequestSelectsTheBestPath) {
  EXPECT_EQ(*SelectIsa("", CpuFeatures{}), Isa::kScalar);
  EXPECT_EQ(*SelectIsa("", Avx2Only()), Isa::kAvx2);
  EXPECT_EQ(*SelectIsa("", Avx512()), Isa::kAvx512);
  // AVX-512 without OS support for the zmm state is not usable.
  CpuFeatures no_zmm = Avx512();
  no_zmm.os_saves_zmm = false;
  EXPECT_EQ(*SelectIsa("", no_zmm), Isa::kAvx2);
  const CpuFeatures host = DetectCpuFeatures();
  EXPECT_EQ(*SelectIsa("", host), BestIsa(host));
}

TEST(IsaTest, NamedPathsAndUnknownNames) {
  EXPECT_EQ(*SelectIsa("scalar", Avx512()), Isa::kScalar);
  EXPECT_EQ(*SelectIsa("avx2", Avx512()), Isa::kAvx2);
  auto bad = SelectIsa("sse9", Avx512());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("DETINFER_ISA"), std::string::npos);
  EXPECT_NE(bad.status().message().find("sse9"), std::string::npos);
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) EXPECT_EQ(*ParseIsa(IsaName(isa)), isa);
}

TEST(IsaTest, UnsupportedPathListsTheSupportedOnes) {
  auto r = SelectIsa("avx512", Avx2Only());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("DETINFER_ISA=avx512"), std::string::npos);
  EXPECT_NE(r.status().message().find("supports: scalar, avx2)"), std::string::npos)
      << r.status().message();
  auto s = SelectIsa("avx2", CpuFeatures{});
  EXPECT_EQ(s.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(s.status().message().find("supports: scalar)"), std::string::npos);
  const auto all = SupportedIsas(Avx512());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all.front(), Isa::kScalar);
  EXPECT_EQ(all.back(), Isa::kAvx512);
}

}  // namespace
}  // namespace detinfer
