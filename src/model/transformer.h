// Transformer: the decoder-only Llama-family forward pass over a batch of segments.
//
// One call takes any mix of segments — (sequence, first absolute position, tokens) — so prefill
// chunks and decode tokens of many sequences run in one step. Each layer is
// model/decoder_layer.h's RunDecoderLayer (the one layer routine, shared with training), whose
// attention writes the step's K/V to the cache, rounded once (SPEC §K5), and attends over the
// cache (kernels/attention.h, paged); then logits = RmsNorm(x, final_norm) · lm_head^T for the
// rows the caller asks for.
//
// Internally q/k rows are always in the rotate-half layout (files in the interleaved convention
// are reordered once, at Create), so the same weights give the same bits from any file format;
// the K rows in the cache are in that layout too.
//
// Why the bits of a token never depend on the rest of the batch: every kernel computes a row
// (or a (query, head)) alone, in an order fixed by the model's shapes (kernels/*.h); fusing
// weights along their output dimension leaves every column's arithmetic as it was; and a
// token's K/V reach attention only through the cache, already rounded, on every path.
#ifndef DETINFER_MODEL_TRANSFORMER_H_
#define DETINFER_MODEL_TRANSFORMER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/status.h"
#include "kernels/context.h"
#include "kernels/matmul.h"
#include "kernels/rope.h"
#include "kv/paged_kv_cache.h"
#include "model/decoder_layer.h"
#include "model/forward_probe.h"
#include "model/packed_cache.h"
#include "model/weights.h"

namespace detinfer {

struct Segment {
  SeqId seq = 0;
  int64_t pos = 0;                  // absolute position of tokens[0]
  std::span<const int32_t> tokens;  // at least one
  bool all_logits = false;          // logits for every token, else for the last one only
};

class Transformer {
 public:
  // Packs the weights for the matmul kernels and builds the RoPE table. The weights stay
  // owned by the transformer (norms and embeddings are read in place). ctx gives the packing
  // its ISA path and threads (load time only: the packed bytes are the same whatever they are).
  // With `cache` (a directory set), the packed matrices come from a packed-weight cache file
  // when a valid one exists, else are packed and the file written (model/packed_cache.h); the
  // bits are the same either way.
  static Result<Transformer> Create(ModelWeights weights, const KernelContext& ctx = {},
                                    const PackedCacheOptions* cache = nullptr);
  // What Create did with the cache (kWriting while the file is being written).
  const PackedCacheReport& packed_cache() const { return cache_report_; }
  // Waits for a cache file being written (the destructor waits too) and says how it went.
  const PackedCacheReport& WaitForPackedCache();

  const ModelConfig& config() const { return weights_.config; }
  const ModelWeights& weights() const { return weights_; }
  // XXH3-64 of every byte the forward pass reads (packed matrices, embedding, norms, biases),
  // computed once by Create: the same weights in the same dtypes hash alike from any file
  // format; other weights hash differently. Part of the engine's weight version.
  uint64_t weight_hash() const { return weight_hash_; }

  // Takes the weights and everything derived from them from `next` (built by Create, e.g. by
  // model/weight_update.h), keeping this transformer's observer and fault. next's views may
  // point into this model's storage (tensors an update left alone): that storage moves over,
  // and what no view reads any more is freed. Cannot fail; defined in weight_update.cc.
  void AdoptWeights(Transformer next);

  // A KV cache shaped for this model.
  Result<PagedKvCache> NewCache(int64_t capacity_tokens, DType dtype = DType::kF32,
                                int64_t block_size = 16) const;

  // Runs one step. Every segment's sequence must exist in `cache` and hold exactly `pos`
  // committed positions (its tokens continue it); room is reserved here, all or nothing
  // before anything is written. On success logits holds, segment after segment, one row of
  // vocab_size fp32 logits per requested position.
  Status Forward(const KernelContext& ctx, PagedKvCache& cache, std::span<const Segment> segs,
                 std::vector<float>* logits) const;

  // SPEC §A5 (cache off): logits of the last token of `tokens`, computed from scratch in a
  // fresh cache that lives only for this call.
  Status ForwardNoCache(const KernelContext& ctx, std::span<const int32_t> tokens,
                        std::vector<float>* logits, DType kv_dtype = DType::kF32) const;

  // Verification only (src/verify, tests; model/forward_probe.h): an observer that sees every
  // op's output rows (null = none, the normal case) and a planted fault (kNone = none).
  void SetObserver(ForwardObserver* observer) { observer_ = observer; }
  void InjectFault(Fault fault) { fault_ = fault; }
  Fault fault() const { return fault_; }

 private:
  Status CheckSegments(const PagedKvCache& cache, std::span<const Segment> segs) const;
  // The forward pass; F != kNone plants that fault (a separate instantiation, see Forward).
  template <Fault F>
  Status ForwardImpl(const KernelContext& ctx, PagedKvCache& cache, std::span<const Segment> segs,
                     std::vector<float>* logits) const;

  uint64_t HashWeights(const KernelContext& ctx) const;  // weight_update.cc

  ModelWeights weights_;
  uint64_t weight_hash_ = 0;
  PackedCacheReport cache_report_;
  std::shared_ptr<PackedCacheWriter> cache_writer_;  // null unless a file is being written
  DecoderParams params_;  // model/decoder_layer.h: all the forward reads but the embedding
  ForwardObserver* observer_ = nullptr;
  Fault fault_ = Fault::kNone;
};

}  // namespace detinfer

#endif  // DETINFER_MODEL_TRANSFORMER_H_
