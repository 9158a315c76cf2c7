// Verification hooks of the forward pass: per-layer, per-op taps and planted faults.
//
// Both exist for `detinfer verify` and the tests only (src/verify). In a normal run the
// observer pointer is null (one pointer test per op per step, not per element) and the fault
// is kNone, which selects the fault-free instantiation of the forward pass: the faulty code
// is a separate template instantiation chosen once per call, so it costs nothing in the hot
// loop (model/transformer.cc).
#ifndef DETINFER_MODEL_FORWARD_PROBE_H_
#define DETINFER_MODEL_FORWARD_PROBE_H_

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "kv/paged_kv_cache.h"

namespace detinfer {

// Bugs that can be planted to prove that verification catches and localises them. Each one
// makes a token's bits depend on how it was computed (otherwise no comparison could see it).
enum class Fault {
  kNone = 0,
  // Attention runs before the step's K/V are written: new tokens attend to stale slots.
  kKvWriteBeforeAttend,
  // RoPE uses position + 1 for tokens of a segment that continues a sequence (pos > 0).
  kRopeOffByOne,
  // In steps made only of single-token decodes, the last layer attends to the previous layer's
  // K/V (a per-layer cache view that was not advanced). Needs at least two layers.
  kStaleLayerCache,
  // A step's own tokens are attended with their unrounded fp32 K/V instead of the cache's
  // rounded values (visible with a bf16/f16 cache; SPEC §K5).
  kKvDtypeSkipRounding,
};
std::string_view FaultName(Fault fault);  // "none", "kv-write-before-attend", ...
Result<Fault> ParseFault(std::string_view name);
std::vector<Fault> AllFaults();  // every real fault (not kNone)

// The ops whose output rows are tapped, in the order a layer computes them (the localiser
// relies on this order: a row depends only on rows of earlier layers or earlier ops).
enum class TapOp {
  kAttnNorm = 0,  // RmsNorm(x) before attention            [dim]
  kQ,             // q after (q-norm and) RoPE               [heads x head_dim]
  kK,             // k after (k-norm and) RoPE, unrounded    [kv heads x head_dim]
  kV,             // v, unrounded                            [kv heads x head_dim]
  kKCache,        // k as stored in the cache (widened)      [kv heads x head_dim]
  kVCache,        // v as stored in the cache (widened)      [kv heads x head_dim]
  kAttention,     // attention output                        [heads x head_dim]
  kAttnResidual,  // x + attention . Wo                      [dim]
  kFfnNorm,       // RmsNorm(x) before the MLP               [dim]
  kFfnAct,        // SwiGlu(gate, up)                        [ffn]
  kLayerOut,      // x after the MLP residual                [dim]
  kLogits,        // final logits (layer index = n_layers)   [vocab]
};
inline constexpr int kNumTapOps = 12;
std::string_view TapOpName(TapOp op);  // "attn_norm", "q", ...

// Which sequence, position and token a tapped row belongs to.
struct TapRow {
  SeqId seq = 0;
  int64_t pos = 0;
  int32_t token = 0;
};

// One op's output for every row of a step: row r is data[r * stride, r * stride + width).
struct Tap {
  int64_t layer = 0;
  TapOp op = TapOp::kAttnNorm;
  const float* data = nullptr;
  int64_t stride = 0;
  int64_t width = 0;
  int64_t head_dim = 0;  // > 0: the row is heads of this size
  std::span<const TapRow> rows;
};

class ForwardObserver {
 public:
  virtual ~ForwardObserver() = default;
  virtual void OnTap(const Tap& tap) = 0;
};

// Emits kKCache and kVCache for `rows` of `layer`, read back from the cache (what every later
// reader will see).
void TapStoredKv(ForwardObserver& observer, const PagedKvCache& cache, int64_t layer,
                 std::span<const TapRow> rows);

}  // namespace detinfer

#endif  // DETINFER_MODEL_FORWARD_PROBE_H_
