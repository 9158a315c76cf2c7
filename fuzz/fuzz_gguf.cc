// GGUF: the header/metadata/tensor-info reader, the model config from metadata, the embedded
// vocabulary (built into a tokenizer and used once), and the whole loader with ValidateWeights.
#include "fuzz_util.h"
#include "model/gguf.h"
#include "model/gguf_loader.h"
#include "model/gguf_vocab.h"

using namespace detinfer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Result<GgufFile> g = GgufFile::Parse(fuzz::BytesAsFile(data, size));
  if (!g.ok()) {
    fuzz::CheckError(g.status());
    return 0;
  }
  for (const auto& [name, t] : g->tensors()) {
    Result<TensorView> v = g->View(name);
    if (!v.ok()) fuzz::Fail("a tensor the reader accepted has no view: " + v.status().ToString());
    fuzz::TouchView(*v);
  }
  fuzz::CheckError(GgufModelConfig(*g).status());
  Result<std::unique_ptr<Tokenizer>> tok = GgufTokenizer(*g);
  if (!tok.ok()) {
    fuzz::CheckError(tok.status());
  } else if (*tok) {
    Result<std::vector<int32_t>> ids = (*tok)->Encode("Hello world, \xc3\xa9t\xc3\xa9 42!", true);
    if (ids.ok()) fuzz::CheckError((*tok)->Decode(*ids).status());
  }
  Result<ModelWeights> w = LoadGguf(std::move(g).value());
  if (!w.ok()) fuzz::CheckError(w.status());
  return 0;
}
