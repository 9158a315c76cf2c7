// The training loop: batches of sequences, per-sequence gradients summed in ascending sequence
// index, mean over the batch's target tokens, global-norm clipping, AdamW with warm-up + cosine.
//
// Reproducibility: the batch of step s is a function of (seed, s) alone; a sequence's gradient
// is computed by one task on its own buffer with single-threaded kernels (any thread may run
// it, the bits are the same), and the buffers are added into the batch gradient strictly in
// ascending batch index once they are all done. So the thread count decides only who computes
// a sequence, never an operation order: two runs with the same options give the same weights
// bit for bit on any thread count (tested).
#ifndef DETINFER_TRAIN_TRAINER_H_
#define DETINFER_TRAIN_TRAINER_H_

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/isa.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "kernels/context.h"
#include "model/config.h"
#include "train/optimizer.h"
#include "train/param_layout.h"
#include "train/sequence_pass.h"

namespace detinfer {

struct TrainOptions {
  ModelConfig model;
  uint64_t seed = 1;
  int64_t steps = 1000;
  int64_t batch_size = 32;
  LrSchedule schedule;  // its `total` is set to `steps` by Train
  AdamWOptions adamw;
  double clip_norm = 1.0;  // <= 0: no clipping
  int threads = 1;
  Isa isa = Isa::kScalar;
};

struct TrainStepLog {
  int64_t step = 0;
  double loss = 0;       // mean next-token loss (nats) of the step's batch, before the update
  double lr = 0;
  double grad_norm = 0;  // before clipping
  int64_t tokens = 0;    // target tokens in the batch
  double seconds = 0;    // wall time since training started (reporting only; never feeds back)
};

struct TrainResult {
  std::vector<float> params;
  std::vector<TrainStepLog> log;
};

// Runs seq_grad(ctx, i, buf) for every i in [0, n), each into its own buffer of `size` floats
// (which it overwrites) with a single-threaded KernelContext of `isa`, on any of pool's threads
// (pool may be null: one thread), and writes the sum of the buffers to *grad (resized to
// `size`), added element by element in ascending i: g = ((0 + b_0) + b_1) + ... So the thread
// count decides only who computes a sequence, never an operation order. seq_grad must touch
// nothing shared but its own index's outputs. The first error (lowest i) is returned, as
// "batch sequence i: ...".
using SequenceGradientFn =
    std::function<Status(const KernelContext& ctx, int64_t index, float* grad)>;
Status SumSequenceGradients(ThreadPool* pool, Isa isa, int64_t size, int64_t n,
                            const SequenceGradientFn& seq_grad, std::vector<float>* grad);

// Sum over `batch` (ascending index) of each sequence's SequenceGradient, written to *grad
// (resized to layout.size()); *loss_sum and *targets are the summed loss and target count.
// pool may be null (one thread).
Status BatchGradient(ThreadPool* pool, Isa isa, const ParamLayout& layout, const float* params,
                     const PackedParams& packed, std::span<const std::span<const int32_t>> batch,
                     std::vector<float>* grad, double* loss_sum, int64_t* targets);

// Weight decay applies to matrices and embeddings, not to norm gains: 1 / 0 per element.
std::vector<uint8_t> WeightDecayMask(const ParamLayout& layout);

// The indices (into a corpus of n sequences) of step `step`'s batch.
std::vector<int64_t> BatchIndices(uint64_t seed, int64_t step, int64_t batch_size, int64_t n);

// Trains from InitParams(layout, seed). on_step (may be empty) is called after every step.
Result<TrainResult> Train(const std::vector<std::vector<int32_t>>& corpus,
                          const TrainOptions& options,
                          const std::function<void(const TrainStepLog&)>& on_step);

}  // namespace detinfer

#endif  // DETINFER_TRAIN_TRAINER_H_
