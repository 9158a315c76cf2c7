// llama2.c tokenizer.bin: lengths and counts, then one encode and decode.
#include <span>

#include "fuzz_util.h"
#include "tokenizer/llama2c_tokenizer.h"

using namespace detinfer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The first byte picks "read to the end" or a vocab_size, as a checkpoint would give one.
  if (size < 1) return 0;
  const int32_t vocab = data[0] < 128 ? -1 : data[0];
  Result<std::unique_ptr<Tokenizer>> tok =
      ParseLlama2cTokenizer(std::span<const uint8_t>(data + 1, size - 1), fuzz::kSource, vocab);
  if (!tok.ok()) {
    fuzz::CheckError(tok.status());
    return 0;
  }
  Result<std::vector<int32_t>> ids =
      (*tok)->Encode("Once upon a time, \xc3\xa9t\xc3\xa9 \xf0\x9f\x99\x82", true);
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
