#include "model/forward_probe.h"

#include <string>

namespace detinfer {

namespace {

constexpr std::string_view kFaultNames[] = {"none", "kv-write-before-attend", "rope-off-by-one",
                                            "stale-layer-cache", "kv-dtype-skip-rounding"};
constexpr std::string_view kTapNames[kNumTapOps] = {
    "attn_norm", "q", "k", "v", "k_cache", "v_cache", "attention", "attn_residual",
    "ffn_norm", "ffn_act", "layer_out", "logits"};

}  // namespace

std::string_view FaultName(Fault fault) { return kFaultNames[static_cast<int>(fault)]; }

std::vector<Fault> AllFaults() {
  return {Fault::kKvWriteBeforeAttend, Fault::kRopeOffByOne, Fault::kStaleLayerCache,
          Fault::kKvDtypeSkipRounding};
}

Result<Fault> ParseFault(std::string_view name) {
  for (int i = 0; i < static_cast<int>(std::size(kFaultNames)); ++i) {
    if (kFaultNames[i] == name) return static_cast<Fault>(i);
  }
  std::string known;
  for (Fault f : AllFaults()) {
    if (!known.empty()) known += ", ";
    known += FaultName(f);
  }
  std::string msg = "unknown fault '";
  msg += name;
  msg += "' (known: ";
  msg += known;
  msg += ")";
  return Status::InvalidArgument(msg);
}

std::string_view TapOpName(TapOp op) { return kTapNames[static_cast<int>(op)]; }

void TapStoredKv(ForwardObserver& observer, const PagedKvCache& cache, int64_t layer,
                 std::span<const TapRow> rows) {
  const KvCacheConfig& c = cache.config();
  const int64_t width = c.n_kv_heads * c.head_dim;
  std::vector<float> k(static_cast<size_t>(width * static_cast<int64_t>(rows.size())));
  std::vector<float> v(k.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    const size_t at = r * static_cast<size_t>(width);
    if (!cache.ReadRow(layer, rows[r].seq, rows[r].pos, k.data() + at, v.data() + at).ok()) {
      return;  // cannot happen for rows the step has just written; taps are best effort
    }
  }
  observer.OnTap({layer, TapOp::kKCache, k.data(), width, width, c.head_dim, rows});
  observer.OnTap({layer, TapOp::kVCache, v.data(), width, width, c.head_dim, rows});
}

}  // namespace detinfer
