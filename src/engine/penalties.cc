#include "engine/penalties.h"

#include <cmath>
#include <limits>
#include <string>

namespace detinfer {

Status ValidatePenalties(const PenaltyParams& p) {
  if (!(p.repetition > 0.0f) || !std::isfinite(p.repetition)) {
    return Status::InvalidArgument("repetition_penalty must be a finite number > 0, got " +
                                   std::to_string(p.repetition));
  }
  if (!(p.frequency >= -2.0f && p.frequency <= 2.0f)) {
    return Status::InvalidArgument("frequency_penalty must be in [-2, 2], got " +
                                   std::to_string(p.frequency));
  }
  if (!(p.presence >= -2.0f && p.presence <= 2.0f)) {
    return Status::InvalidArgument("presence_penalty must be in [-2, 2], got " +
                                   std::to_string(p.presence));
  }
  return Status::Ok();
}

bool ChangesLogits(const PenaltyParams& p, const TokenHistory& h) {
  if (!h.suppressed.empty()) return true;
  if (p.repetition != 1.0f && (!h.prompt.empty() || !h.generated.empty())) return true;
  return (p.frequency != 0.0f || p.presence != 0.0f) && !h.generated.empty();
}

void ApplyPenalties(const PenaltyParams& p, const TokenHistory& h, std::span<float> logits) {
  const size_t n = logits.size();
  const auto in_range = [n](int32_t id) { return id >= 0 && static_cast<size_t>(id) < n; };
  if (p.repetition != 1.0f) {
    // Each penalised token once, however often it occurs: mark, then scale the marked ones.
    std::vector<uint8_t> seen(n, 0);
    for (const auto* part : {&h.prompt, &h.generated}) {
      for (int32_t id : *part) {
        if (in_range(id)) seen[static_cast<size_t>(id)] = 1;
      }
    }
    for (size_t i = 0; i < n; ++i) {
      if (seen[i] == 0) continue;
      logits[i] = logits[i] > 0.0f ? logits[i] / p.repetition : logits[i] * p.repetition;
    }
  }
  if (p.frequency != 0.0f || p.presence != 0.0f) {
    std::vector<int32_t> count(n, 0);
    for (int32_t id : h.generated) {
      if (in_range(id)) ++count[static_cast<size_t>(id)];
    }
    for (size_t i = 0; i < n; ++i) {
      if (count[i] == 0) continue;
      logits[i] = logits[i] - p.frequency * static_cast<float>(count[i]);
      logits[i] = logits[i] - p.presence;
    }
  }
  for (int32_t id : h.suppressed) {
    if (in_range(id)) logits[static_cast<size_t>(id)] = -std::numeric_limits<float>::infinity();
  }
}

}  // namespace detinfer
