// Instruction-set paths and their runtime selection.
//
// Every kernel exists once per path (scalar everywhere; avx2, avx512 and avx512bf16 on x86-64;
// neon on aarch64) and all paths produce identical bits (SPEC §A7), also across processor
// families: the path only changes speed. avx512bf16 is avx512 plus the VNNI and BF16 dot-product
// instructions (AVX512_VNNI, AVX512_BF16: Zen 4, Sapphire Rapids); an op without a loop of its
// own there runs its avx512 loop. The path in use is chosen once per KernelContext: the best one
// this CPU (and OS) supports, or the one named by the environment variable
// DETINFER_ISA=scalar|avx2|avx512|avx512bf16|neon, where asking for a path the CPU lacks (an x86 path on
// ARM, too) is an error rather than a silent fallback.
#ifndef DETINFER_CORE_ISA_H_
#define DETINFER_CORE_ISA_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

// The processor family this build targets: which SIMD paths exist in it at all.
#if defined(__x86_64__)
#define DETINFER_ARCH_X86_64 1
#elif defined(__aarch64__)
#define DETINFER_ARCH_AARCH64 1
#endif

namespace detinfer {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kNeon = 3, kAvx512Bf16 = 4 };

// Every path, slowest first within a processor family.
inline constexpr Isa kAllIsas[] = {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Bf16,
                                    Isa::kNeon};

std::string_view IsaName(Isa isa);  // "scalar", "avx2", "avx512", "avx512bf16", "neon"
Result<Isa> ParseIsa(std::string_view name);

struct CpuFeatures {
  std::string vendor;
  std::string brand;
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false;
  bool avx512vnni = false, avx512bf16 = false;
  bool os_saves_ymm = false, os_saves_zmm = false;  // XCR0 says the OS preserves the state
  bool neon = false;  // aarch64: Advanced SIMD is part of the base architecture
};

CpuFeatures DetectCpuFeatures();
bool IsaSupported(Isa isa, const CpuFeatures& cpu);
// Every path this CPU can run, slowest (scalar) first.
std::vector<Isa> SupportedIsas(const CpuFeatures& cpu);
Isa BestIsa(const CpuFeatures& cpu);
// The path to use: `requested` if non-empty (the value of DETINFER_ISA), else the best.
// Unknown names and unsupported paths are errors naming the variable and the CPU's paths.
Result<Isa> SelectIsa(std::string_view requested, const CpuFeatures& cpu);
// SelectIsa with the process's DETINFER_ISA.
Result<Isa> SelectIsaFromEnvironment(const CpuFeatures& cpu);

}  // namespace detinfer

#endif  // DETINFER_CORE_ISA_H_
