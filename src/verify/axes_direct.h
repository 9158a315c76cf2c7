// Axes that drive the Transformer directly rather than through the engine: slot identity
// (SPEC §R2) and the multi-token resume; and the feeding helpers dump-slots shares.
#ifndef DETINFER_VERIFY_AXES_DIRECT_H_
#define DETINFER_VERIFY_AXES_DIRECT_H_

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "kernels/context.h"
#include "kv/paged_kv_cache.h"
#include "model/transformer.h"
#include "verify/axes.h"

namespace detinfer::verify {

// Feeds tokens[0, sum(pieces)) into sequence 0 of `cache` (which must hold it at length 0), one
// forward step per piece. With `logits`, appends the logits row of every fed position
// (all_logits) or, when `all_rows` is false, of each piece's last position only.
Status FeedPieces(const Transformer& model, const KernelContext& ctx, PagedKvCache& cache,
                  std::span<const int32_t> tokens, std::span<const int64_t> pieces, bool all_rows,
                  std::vector<std::vector<float>>* logits);

// The stored bytes (storage dtype) of the K (value = false) or V row of (layer, pos) of `seq`.
// Empty when the cache has no such row.
std::vector<uint8_t> StoredRow(const PagedKvCache& cache, int64_t layer, bool value, SeqId seq,
                               int64_t pos);

AxisDef SlotIdentityAxis();
AxisDef ResumeAxis();

}  // namespace detinfer::verify

#endif  // DETINFER_VERIFY_AXES_DIRECT_H_
