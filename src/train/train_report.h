// What a training run shows and leaves behind besides the weights: the progress line, the loss
// curve as CSV (reproducible: no wall-clock columns) and as a PNG (gnuplot, when installed),
// and the held-out loss.
#ifndef DETINFER_TRAIN_TRAIN_REPORT_H_
#define DETINFER_TRAIN_TRAIN_REPORT_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/isa.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "train/param_layout.h"
#include "train/trainer.h"

namespace detinfer {

// "step 120/1500  loss 2.3141  lr 2.95e-03  |g| 0.84  5120 tok/s  ETA 1m23s"
std::string ProgressLine(const TrainStepLog& log, int64_t total_steps, int64_t tokens_so_far);

// step,loss,lr,grad_norm,tokens — one row per step, values printed round-trip exactly.
Status WriteLossCsv(std::span<const TrainStepLog> log, const std::string& path);

// Draws `csv_path` (WriteLossCsv) into `png_path` with gnuplot. Returns false (and draws
// nothing) when gnuplot is not installed or fails; the CSV holds the same numbers.
bool PlotLossCurve(const std::string& csv_path, const std::string& png_path,
                   const std::string& title);

struct HeldOutLoss {
  double mean_nats = 0;  // mean next-token loss over every target token
  int64_t tokens = 0;    // target tokens
  int64_t sequences = 0;
};
// The model's loss on `seqs` (inputs seq[0, n-1), targets seq[1, n)), from the training
// forward; per-sequence sums added in ascending index (double), so any thread count gives
// the same number.
Result<HeldOutLoss> EvaluateLoss(ThreadPool* pool, Isa isa, const ParamLayout& layout,
                                 const std::vector<float>& params,
                                 std::span<const std::vector<int32_t>> seqs);

}  // namespace detinfer

#endif  // DETINFER_TRAIN_TRAIN_REPORT_H_
