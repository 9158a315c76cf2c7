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
  Isa isa = Isa::kScalar;   // all paths give the same bits; included so a report says which ran
  DType kv_dtype = DType::kF32;
  uint64_t model_hash = 0;
  uint64_t tokenizer_hash = 0;
};

// 16 hex digits: XXH3-64 of the engine version, the reduction constants (attention key block,
// matmul panel width, row-reduction lanes), the ISA path, the KV dtype and the file hashes.
std::string ScheduleId(const ScheduleInputs& inputs);
// The text the id hashes (for `--json` output and for humans).
std::string ScheduleDescription(const ScheduleInputs& inputs);

std::string Hex64(uint64_t value);

}  // namespace detinfer

#endif  // DETINFER_ENGINE_SCHEDULE_ID_H_
