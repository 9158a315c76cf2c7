// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator. The draw for generated token t of a request is a pure function of
// (request seed, t) — SPEC §K6 — so it cannot depend on how many forward passes ran, on
// batching or on caching: there is no generator state to advance.
#ifndef DETINFER_ENGINE_PHILOX_H_
#define DETINFER_ENGINE_PHILOX_H_

#include <array>
#include <cstdint>

namespace detinfer {

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

// One Philox4x32 block with 10 rounds (the Random123 reference parameters).
PhiloxCounter Philox4x32_10(PhiloxCounter counter, PhiloxKey key);

// The uniform draw in [0, 1) for (seed, index): 24 random bits scaled by 2^-24, exactly
// representable in fp32 (no rounding can reach 1.0).
float UniformDraw(uint64_t seed, uint64_t index);

}  // namespace detinfer

#endif  // DETINFER_ENGINE_PHILOX_H_
