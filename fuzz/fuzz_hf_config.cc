// config.json: every accepted config must pass ModelConfig::Validate and have products of its
// sizes that fit comfortably in int64 (the loaders multiply them).
#include "fuzz_util.h"
#include "model/hf_loader.h"

using namespace detinfer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<ModelConfig> c = ParseHfConfig(text, fuzz::kSource);
  if (!c.ok()) {
    fuzz::CheckError(c.status());
    return 0;
  }
  if (!c->Validate(fuzz::kSource).ok()) fuzz::Fail("accepted config fails Validate");
  for (int64_t v : {c->dim, c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, c->ffn_dim,
                    c->vocab_size, c->max_seq_len}) {
    if (v <= 0 || v > INT32_MAX) fuzz::Fail("config value " + std::to_string(v) + " accepted");
  }
  return 0;
}
