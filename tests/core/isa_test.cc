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
  // VNNI and BF16 on top of AVX-512 make the avx512bf16 path; one of them alone does not.
  CpuFeatures bf16 = Avx512();
  bf16.avx512vnni = true;
  EXPECT_EQ(*SelectIsa("", bf16), Isa::kAvx512);
  bf16.avx512bf16 = true;
  EXPECT_EQ(*SelectIsa("", bf16), Isa::kAvx512Bf16);
  EXPECT_EQ(*SelectIsa("avx512", bf16), Isa::kAvx512);
  bf16.avx512vnni = false;
  EXPECT_EQ(SelectIsa("avx512bf16", bf16).status().code(), StatusCode::kUnsupported);
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
  for (Isa isa : kAllIsas) {
    EXPECT_EQ(*ParseIsa(IsaName(isa)), isa);
  }
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

// An ARM CPU: NEON is its best path, and an x86 path is refused by name rather than replaced.
TEST(IsaTest, ArmCpuSelectsNeonAndRefusesX86Paths) {
  CpuFeatures arm;
  arm.neon = true;
  EXPECT_EQ(*SelectIsa("", arm), Isa::kNeon);
  EXPECT_EQ(*SelectIsa("scalar", arm), Isa::kScalar);
  auto r = SelectIsa("avx2", arm);
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("supports: scalar, neon)"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(SelectIsa("neon", Avx512()).status().code(), StatusCode::kUnsupported);
}

// The host's own paths are the ones this build holds kernels for.
TEST(IsaTest, HostPathsBelongToThisBuildsFamily) {
  for (Isa isa : SupportedIsas(DetectCpuFeatures())) {
#if defined(DETINFER_ARCH_X86_64)
    EXPECT_NE(isa, Isa::kNeon);
#elif defined(DETINFER_ARCH_AARCH64)
    EXPECT_TRUE(isa == Isa::kScalar || isa == Isa::kNeon) << IsaName(isa);
#endif
  }
}

}  // namespace
}  // namespace detinfer
