// Elementwise ops: residual add and embedding lookup.
//
// Both are exact or single-rounding operations, so every path gives the same bits trivially
// as long as it performs the same IEEE operation: Add is one fp32 addition per element;
// EmbeddingGather copies f32 rows and widens bf16/f16 rows exactly (bf16: the 16 bits become
// the top half of the f32; f16: vcvtph2ps on SIMD paths, core/dtype.h's F16ToF32 on the scalar
// path, identical for all 65536 patterns, a signalling NaN coming out quiet on both).
#ifndef DETINFER_KERNELS_ELEMENTWISE_H_
#define DETINFER_KERNELS_ELEMENTWISE_H_

#include <cstdint>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/context.h"

namespace detinfer {

// out = a + b, all [M, D] f32 (rows may be strided). out may be a or b itself (in place), but
// may not otherwise overlap either.
Status Add(const KernelContext& ctx, TensorView a, TensorView b, TensorView out);

// out[i, :] = table[ids[i], :] widened to f32. table: [V, D] f32, bf16 or f16; out: [n, D] f32,
// not overlapping the table. An id outside [0, V) is OutOfRange naming the id, its index and
// V; nothing is written then.
Status EmbeddingGather(const KernelContext& ctx, TensorView table, const int32_t* ids, int64_t n,
                       TensorView out);

}  // namespace detinfer

#endif  // DETINFER_KERNELS_ELEMENTWISE_H_
