#include "engine/request.h"

#include <xxhash.h>

namespace detinfer {

std::string_view FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone: return "none";
    case FinishReason::kLength: return "length";
    case FinishReason::kStop: return "stop";
    case FinishReason::kContext: return "context";
    case FinishReason::kError: return "error";
    case FinishReason::kAbort: return "abort";
  }
  return "?";
}

uint64_t Fingerprint(const std::vector<int32_t>& tokens, const std::vector<float>& logprobs) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  const uint64_t n = tokens.size();
  XXH3_64bits_update(state, &n, sizeof n);
  XXH3_64bits_update(state, tokens.data(), tokens.size() * sizeof(int32_t));
  XXH3_64bits_update(state, logprobs.data(), logprobs.size() * sizeof(float));
  const uint64_t h = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return h;
}

}  // namespace detinfer
