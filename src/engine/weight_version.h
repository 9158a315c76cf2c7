// WeightVersion: which weights an engine serves, reported on every result (RequestResult) and
// folded into the schedule id (engine/schedule_id.h, ScheduleInputs::weight_hash).
#ifndef DETINFER_ENGINE_WEIGHT_VERSION_H_
#define DETINFER_ENGINE_WEIGHT_VERSION_H_

#include <cstdint>
#include <string>

namespace detinfer {

struct WeightVersion {
  // Successful weight updates this engine has applied (0: the weights it was created with).
  // Counts updates, not contents: pushing the same bytes twice makes it 2.
  uint64_t counter = 0;
  // Transformer::weight_hash(): XXH3-64 of every byte the forward pass reads. Equal for equal
  // weights (whatever file or update they came from), so it — not the counter — says whether
  // two engines compute the same bits.
  uint64_t hash = 0;
  bool operator==(const WeightVersion&) const = default;
};

// "<counter>:<hash as 16 hex digits>", e.g. "3:9f2c0a7d41b8e653".
std::string WeightVersionString(const WeightVersion& v);

}  // namespace detinfer

#endif  // DETINFER_ENGINE_WEIGHT_VERSION_H_
