// The schedule id: a hash of everything that determines a request's bits, so that two runs
// that differ can be told apart at once from two runs that used different configurations.
#ifndef DETINFER_ENGINE_SCHEDULE_ID_H_
#define DETINFER_ENGINE_SCHEDULE_ID_H_

#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "core/isa.h"

namespace detinfer {

struct ScheduleInputs {
  // Not part of the id: every path gives the same bits on x86-64 and aarch64 alike (SPEC §A7,
  // issue #22), so runs on two machines with different paths must — and do — share an id (a
  // fleet of mixed CPUs, a receipt replayed elsewhere). Kept so callers can report the path.
  Isa isa = Isa::kScalar;
  DType kv_dtype = DType::kF32;
  uint64_t model_hash = 0;
  uint64_t tokenizer_hash = 0;
  // The weights actually served when they are no longer the file's (after Engine::UpdateWeights*:
  // WeightVersion::hash). 0 leaves it out, so a run that never updated its weights keeps the id
  // it always had (receipts stay replayable).
  uint64_t weight_hash = 0;
};

// 16 hex digits: XXH3-64 of the engine version, the reduction constants (attention key block,
// matmul panel width, row-reduction lanes, block-matmul rule), the KV dtype, the file hashes
// and, when given, the hash of the updated weights.
std::string ScheduleId(const ScheduleInputs& inputs);
// The text the id hashes (for `--json` output and for humans).
std::string ScheduleDescription(const ScheduleInputs& inputs);

std::string Hex64(uint64_t value);

}  // namespace detinfer

#endif  // DETINFER_ENGINE_SCHEDULE_ID_H_
