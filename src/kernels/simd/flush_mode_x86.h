// The x86 MXCSR flush mode the bf16 matmul rule's emulation runs under (kernels/matmul_bf16.h):
// FTZ (bit 15) and DAZ (bit 6), set around the tiles and restored after. A panel-register type
// of kernels/simd/matmul_tile.h takes it by inheriting. Internal linkage (cmake/Flags.cmake).
#ifndef DETINFER_KERNELS_SIMD_FLUSH_MODE_X86_H_
#define DETINFER_KERNELS_SIMD_FLUSH_MODE_X86_H_

#include <immintrin.h>

namespace detinfer::kernels {
namespace {

struct X86FlushMode {
  static unsigned EnterFlushMode() {
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040u);
    return csr;
  }
  static void LeaveFlushMode(unsigned csr) { _mm_setcsr(csr); }
};

}  // namespace
}  // namespace detinfer::kernels

#endif  // DETINFER_KERNELS_SIMD_FLUSH_MODE_X86_H_
