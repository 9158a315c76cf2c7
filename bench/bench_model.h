// The benchmark model: the random 110M-parameter Llama shape the project's anchors were
// measured on (dim 768, ffn 2048, 12 layers, 12 heads, vocab 32000), built once per dtype.
#ifndef DETINFER_BENCH_BENCH_MODEL_H_
#define DETINFER_BENCH_BENCH_MODEL_H_

#include "core/dtype.h"
#include "model/transformer.h"

namespace detinfer::bench {

ModelConfig Bench110MConfig();
// The model for `dtype`, created on first use and kept for the process (one at a time, so the
// f32, bf16 and f16 models never hold memory together).
const Transformer& Bench110M(DType dtype);

}  // namespace detinfer::bench

#endif  // DETINFER_BENCH_BENCH_MODEL_H_
