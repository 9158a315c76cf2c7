// Helpers of the verification hooks of Transformer::Forward (model/forward_probe.h): the rows
// a tap describes, and the planted faults. Internal to src/model; none runs in a normal call.
#ifndef DETINFER_MODEL_TRANSFORMER_FAULTS_H_
#define DETINFER_MODEL_TRANSFORMER_FAULTS_H_

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "kernels/attention.h"
#include "kernels/context.h"
#include "kv/paged_kv_cache.h"
#include "model/forward_probe.h"
#include "model/transformer.h"

namespace detinfer {

// (sequence, position, token) of every row of a step, segment after segment.
std::vector<TapRow> TapRowsOf(std::span<const Segment> segs);

// Fault::kRopeOffByOne: the RoPE position of every row, one too far for segments that continue
// a sequence (pos > 0); one too near where one too far would leave the table.
std::vector<int32_t> OffByOnePositions(std::span<const Segment> segs, int64_t max_seq_len);

// Fault::kStaleLayerCache: the layer whose K/V layer `layer` attends to.
int64_t StaleKvLayer(std::span<const Segment> segs, int64_t layer, int64_t n_layers);

// Fault::kKvDtypeSkipRounding: attention where the step's own tokens use their unrounded K/V
// (the step's k, v rows [T, Hkv, hd]) and earlier positions the cache's rounded ones.
Status AttendUnrounded(const KernelContext& ctx, const PagedKvCache& cache, int64_t layer,
                       std::span<const Segment> segs, const TensorView& q,
                       const TensorView& step_k, const TensorView& step_v,
                       std::span<const AttentionSeq> aseqs, const AttentionOptions& opts,
                       const TensorView& out, const TensorView& lse);

}  // namespace detinfer

#endif  // DETINFER_MODEL_TRANSFORMER_FAULTS_H_
