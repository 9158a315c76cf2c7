// Hugging Face tokenizer.json (byte-level BPE): the JSON, vocab/merges/added tokens, normalizer
// and pre-tokenizer (regexes from the file are compiled), then one encode and decode.
#include "fuzz_util.h"
#include "tokenizer/hf_tokenizer_json.h"

using namespace detinfer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<std::unique_ptr<Tokenizer>> tok = ParseHfTokenizerJson(text, fuzz::kSource);
  if (!tok.ok()) {
    fuzz::CheckError(tok.status());
    return 0;
  }
  Result<std::vector<int32_t>> ids =
      (*tok)->Encode("Hello world, it's 2024!\n\xc3\xa9t\xc3\xa9", true);
  if (!ids.ok()) {
    fuzz::CheckError(ids.status());
    return 0;
  }
  for (int32_t id : *ids) {
    if (id < 0 || id >= (*tok)->vocab_size()) fuzz::Fail("encode gave id " + std::to_string(id));
  }
  fuzz::CheckError((*tok)->Decode(*ids).status());
  return 0;
}
