// model.safetensors.index.json: the weight_map, whose shard names must never escape the model
// directory.
#include "fuzz_util.h"
#include "model/hf_loader.h"

using namespace detinfer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto map = ParseSafetensorsIndex(text, fuzz::kSource);
  if (!map.ok()) {
    fuzz::CheckError(map.status());
    return 0;
  }
  for (const auto& [tensor, shard] : *map) {
    if (shard.empty() || shard == "." || shard == ".." ||
        shard.find('/') != std::string::npos || shard.find('\0') != std::string::npos) {
      fuzz::Fail("shard name '" + shard + "' accepted");
    }
  }
  return 0;
}
