// OpRegistry: the implementations of one op and the rule that picks one.
//
// Each op registers one implementation per (device, ISA path) with a priority. For a device,
// the implementation used is the highest-priority one whose path the machine supports, unless
// a caller (a test, DETINFER_ISA through KernelContext::isa) names a path, in which case that
// exact path is used or the call fails — never a silent fallback, since a test that asked for
// AVX2 and silently got scalar would prove nothing. Choosing among paths never changes bits
// (SPEC §A7); it only changes speed. A GPU backend will register under its own device.
#ifndef DETINFER_KERNELS_REGISTRY_H_
#define DETINFER_KERNELS_REGISTRY_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/isa.h"
#include "core/status.h"

namespace detinfer {

enum class Device { kCpu };

template <typename Fn>
class OpRegistry {
 public:
  struct Entry {
    Device device;
    Isa isa;
    int priority;  // higher wins
    Fn fn;
  };

  explicit OpRegistry(std::string_view op, std::vector<Entry> entries)
      : op_(op), entries_(std::move(entries)) {}

  std::string_view op() const { return op_; }

  // The implementation for exactly `isa` on `device`.
  Result<Fn> For(Device device, Isa isa) const {
    for (const Entry& e : entries_) {
      if (e.device == device && e.isa == isa) return e.fn;
    }
    return Status::Unsupported(std::string(op_) + ": no implementation for the " +
                               std::string(IsaName(isa)) + " path");
  }

  // The highest-priority implementation on `device` that `cpu` can run.
  Result<Entry> Best(Device device, const CpuFeatures& cpu) const {
    const Entry* best = nullptr;
    for (const Entry& e : entries_) {
      if (e.device != device || !IsaSupported(e.isa, cpu)) continue;
      if (best == nullptr || e.priority > best->priority) best = &e;
    }
    if (best == nullptr) {
      return Status::Unsupported(std::string(op_) + ": no implementation runs on this CPU");
    }
    return *best;
  }

 private:
  std::string op_;
  std::vector<Entry> entries_;
};

// The usual CPU registrations, one per processor family: a build holds only its family's SIMD
// paths (the x86 ones are compiled with x86 instructions, the NEON ones with ARM's), and every
// path gives the scalar path's bits. Priorities: scalar < avx2 < avx512 < avx512bf16; scalar <
// neon. An op with no loop of its own for avx512bf16 runs its avx512 loop there.
template <typename Fn>
OpRegistry<Fn> CpuOpRegistry(std::string_view op, Fn scalar, Fn avx2, Fn avx512,
                             Fn avx512bf16) {
  using E = typename OpRegistry<Fn>::Entry;
  return OpRegistry<Fn>(op, {E{Device::kCpu, Isa::kScalar, 0, scalar},
                             E{Device::kCpu, Isa::kAvx2, 1, avx2},
                             E{Device::kCpu, Isa::kAvx512, 2, avx512},
                             E{Device::kCpu, Isa::kAvx512Bf16, 3, avx512bf16}});
}
template <typename Fn>
OpRegistry<Fn> CpuOpRegistry(std::string_view op, Fn scalar, Fn avx2, Fn avx512) {
  return CpuOpRegistry(op, scalar, avx2, avx512, avx512);
}
template <typename Fn>
OpRegistry<Fn> CpuOpRegistry(std::string_view op, Fn scalar, Fn neon) {
  using E = typename OpRegistry<Fn>::Entry;
  return OpRegistry<Fn>(op, {E{Device::kCpu, Isa::kScalar, 0, scalar},
                             E{Device::kCpu, Isa::kNeon, 1, neon}});
}
template <typename Fn>
OpRegistry<Fn> CpuOpRegistry(std::string_view op, Fn scalar) {
  using E = typename OpRegistry<Fn>::Entry;
  return OpRegistry<Fn>(op, {E{Device::kCpu, Isa::kScalar, 0, scalar}});
}

// The SIMD arguments of a CpuOpRegistry call for this build's family:
//   CpuOpRegistry("op", scalar::F DETINFER_SIMD_PATHS(avx2::F, avx512::F, neon::F))
// An op without a NEON loop yet names its scalar loop as the neon argument: the neon path then
// runs that loop (same bits by definition) and docs/kernels.md lists which ops do.
// DETINFER_SIMD_PATHS_BF16 is the same for an op with its own avx512bf16 loop.
#if defined(DETINFER_ARCH_X86_64)
#define DETINFER_SIMD_PATHS(avx2_fn, avx512_fn, neon_fn) , avx2_fn, avx512_fn
#define DETINFER_SIMD_PATHS_BF16(avx2_fn, avx512_fn, avx512bf16_fn, neon_fn) \
  , avx2_fn, avx512_fn, avx512bf16_fn
#elif defined(DETINFER_ARCH_AARCH64)
#define DETINFER_SIMD_PATHS(avx2_fn, avx512_fn, neon_fn) , neon_fn
#define DETINFER_SIMD_PATHS_BF16(avx2_fn, avx512_fn, avx512bf16_fn, neon_fn) , neon_fn
#else
#define DETINFER_SIMD_PATHS(avx2_fn, avx512_fn, neon_fn)
#define DETINFER_SIMD_PATHS_BF16(avx2_fn, avx512_fn, avx512bf16_fn, neon_fn)
#endif

}  // namespace detinfer

#endif  // DETINFER_KERNELS_REGISTRY_H_
