// llama2.c checkpoint: the seven-int header, the size arithmetic, and the loader with
// ValidateWeights; every view of an accepted model is touched at both ends.
#include "fuzz_util.h"
#include "model/llama2c_loader.h"

using namespace detinfer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Result<ModelWeights> w = LoadLlama2c(fuzz::BytesAsFile(data, size));
  if (!w.ok()) {
    fuzz::CheckError(w.status());
    return 0;
  }
  fuzz::TouchView(w->token_embedding);
  fuzz::TouchView(w->lm_head);
  fuzz::TouchView(w->final_norm);
  for (const LayerWeights& l : w->layers) {
    for (const TensorView* v : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm,
                                &l.w_gate, &l.w_up, &l.w_down}) {
      fuzz::TouchView(*v);
    }
  }
  return 0;
}
