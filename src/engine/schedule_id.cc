#include "engine/schedule_id.h"

#include <xxhash.h>

#include <cstdio>

#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/matmul_bf16.h"
#include "kernels/qmatmul.h"
#include "kernels/reduction_order.h"

namespace detinfer {

std::string Hex64(uint64_t value) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(value));
  return buf;
}

std::string ScheduleDescription(const ScheduleInputs& in) {
  return std::string("detinfer ") + DETINFER_VERSION +
         "; attention_key_block=" + std::to_string(kAttentionKeyBlock) +
         "; attention_partition=" + std::to_string(kAttentionPartition) +
         "; matmul_panel=" + std::to_string(kMatmulPanelWidth) +
         "; reduction_lanes=" + std::to_string(kReductionLanes) +
         "; block_matmul=" + kBlockMatmulRule + "; bf16_matmul=" + kBf16MatmulRule +
         "; kv_dtype=" + std::string(DTypeName(in.kv_dtype)) +
         "; model=" + Hex64(in.model_hash) + "; tokenizer=" + Hex64(in.tokenizer_hash) +
         (in.weight_hash != 0 ? "; weights=" + Hex64(in.weight_hash) : std::string());
}

std::string ScheduleId(const ScheduleInputs& in) {
  const std::string d = ScheduleDescription(in);
  return Hex64(XXH3_64bits(d.data(), d.size()));
}

}  // namespace detinfer
