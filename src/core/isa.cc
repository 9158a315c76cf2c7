#include "core/isa.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace detinfer {

namespace {

#if defined(__x86_64__)
uint64_t ReadXcr0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}
#endif

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

}  // namespace

std::string_view IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx512Bf16: return "avx512bf16";
    case Isa::kNeon: return "neon";
  }
  return "?";
}

Result<Isa> ParseIsa(std::string_view name) {
  if (name == "scalar") return Isa::kScalar;
  if (name == "avx2") return Isa::kAvx2;
  if (name == "avx512") return Isa::kAvx512;
  if (name == "avx512bf16") return Isa::kAvx512Bf16;
  if (name == "neon") return Isa::kNeon;
  return Status::InvalidArgument("unknown ISA path '" + std::string(name) +
                                 "' (expected scalar, avx2, avx512, avx512bf16 or neon)");
}

#if defined(__aarch64__)
CpuFeatures DetectCpuFeatures() {
  CpuFeatures f;
  f.vendor = "arm";
  f.neon = true;  // Advanced SIMD is mandatory in AArch64
  // The kernel names the part; there is no brand string register as on x86.
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("CPU part", 0) == 0 || line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) f.brand = Trim(line.substr(colon + 1));
      break;
    }
  }
  return f;
}
#else
CpuFeatures DetectCpuFeatures() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  const unsigned max_leaf = a;
  char vendor[13] = {};
  std::memcpy(vendor + 0, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  f.vendor = vendor;

  __get_cpuid(1, &a, &b, &c, &d);
  const bool osxsave = (c >> 27) & 1;
  f.fma = (c >> 12) & 1;
  f.f16c = (c >> 29) & 1;
  if (osxsave) {
    const uint64_t xcr0 = ReadXcr0();
    f.os_saves_ymm = (xcr0 & 0x6) == 0x6;            // SSE + AVX state
    f.os_saves_zmm = (xcr0 & 0xe6) == 0xe6;          // + opmask, ZMM_Hi256, Hi16_ZMM
  }
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = (b >> 5) & 1;
    f.avx512f = (b >> 16) & 1;
    f.avx512bw = (b >> 30) & 1;
    f.avx512vl = (b >> 31) & 1;
    f.avx512vnni = (c >> 11) & 1;
    if (a >= 1) {  // leaf 7's subleaf count
      unsigned a1, b1, c1, d1;
      __cpuid_count(7, 1, a1, b1, c1, d1);
      f.avx512bf16 = (a1 >> 5) & 1;
    }
  }
  unsigned ext_max = __get_cpuid_max(0x80000000u, nullptr);
  if (ext_max >= 0x80000004u) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; ++i) {
      __get_cpuid(0x80000002u + i, &a, &b, &c, &d);
      std::memcpy(brand + 16 * i + 0, &a, 4);
      std::memcpy(brand + 16 * i + 4, &b, 4);
      std::memcpy(brand + 16 * i + 8, &c, 4);
      std::memcpy(brand + 16 * i + 12, &d, 4);
    }
    f.brand = Trim(brand);
  }
  return f;
}
#endif

bool IsaSupported(Isa isa, const CpuFeatures& cpu) {
  const bool avx2 = cpu.avx2 && cpu.fma && cpu.f16c && cpu.os_saves_ymm;
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2: return avx2;
    case Isa::kAvx512:
      return avx2 && cpu.avx512f && cpu.avx512bw && cpu.avx512vl && cpu.os_saves_zmm;
    case Isa::kAvx512Bf16:
      return IsaSupported(Isa::kAvx512, cpu) && cpu.avx512vnni && cpu.avx512bf16;
    case Isa::kNeon: return cpu.neon;
  }
  return false;
}

std::vector<Isa> SupportedIsas(const CpuFeatures& cpu) {
  std::vector<Isa> out;
  for (Isa isa : kAllIsas) {
    if (IsaSupported(isa, cpu)) out.push_back(isa);
  }
  return out;
}

Isa BestIsa(const CpuFeatures& cpu) { return SupportedIsas(cpu).back(); }

Result<Isa> SelectIsa(std::string_view requested, const CpuFeatures& cpu) {
  if (requested.empty()) return BestIsa(cpu);
  Result<Isa> isa = ParseIsa(requested);
  if (!isa.ok()) {
    return Status::InvalidArgument("DETINFER_ISA: " + isa.status().message());
  }
  if (!IsaSupported(*isa, cpu)) {
    std::string have;
    for (Isa s : SupportedIsas(cpu)) {
      if (!have.empty()) have += ", ";
      have += IsaName(s);
    }
    return Status::Unsupported("DETINFER_ISA=" + std::string(requested) +
                               ": this CPU does not support that path (it supports: " + have +
                               ")");
  }
  return *isa;
}

Result<Isa> SelectIsaFromEnvironment(const CpuFeatures& cpu) {
  const char* env = std::getenv("DETINFER_ISA");
  return SelectIsa(env ? std::string_view(env) : std::string_view(), cpu);
}

}  // namespace detinfer
