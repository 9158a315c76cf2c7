#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "kernels/context.h"

namespace detinfer {

namespace {

uint64_t SplitMix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

std::vector<uint8_t> WeightDecayMask(const ParamLayout& layout) {
  std::vector<uint8_t> mask(static_cast<size_t>(layout.size()), 0);
  for (const ParamSlice& s : layout.slices()) {
    if (s.rank != 2) continue;
    std::fill_n(mask.begin() + s.offset, s.rows * s.cols, uint8_t{1});
  }
  return mask;
}

std::vector<int64_t> BatchIndices(uint64_t seed, int64_t step, int64_t batch_size, int64_t n) {
  std::vector<int64_t> out(static_cast<size_t>(batch_size));
  for (int64_t b = 0; b < batch_size; ++b) {
    const uint64_t key = SplitMix64(seed) ^ static_cast<uint64_t>(step * batch_size + b);
    out[static_cast<size_t>(b)] = static_cast<int64_t>(SplitMix64(key) % static_cast<uint64_t>(n));
  }
  return out;
}

Status SumSequenceGradients(ThreadPool* pool, Isa isa, int64_t size, int64_t n,
                            const SequenceGradientFn& seq_grad, std::vector<float>* grad) {
  const size_t p = static_cast<size_t>(size);
  grad->assign(p, 0.0f);
  // Sequences run in waves of a few per thread; within a wave each has its own gradient
  // buffer, and the buffers are added in ascending index after the wave. The wave size only
  // bounds memory: the additions happen in ascending batch index whatever it is.
  const int64_t wave = 4 * static_cast<int64_t>(pool ? pool->num_threads() : 1);
  std::vector<std::vector<float>> bufs(static_cast<size_t>(std::max<int64_t>(0, std::min(wave, n))));
  std::vector<Status> status(bufs.size());
  for (int64_t w0 = 0; w0 < n; w0 += wave) {
    const int64_t cnt = std::min(wave, n - w0);
    auto task = [&](int64_t j) {
      KernelContext ctx;  // single-threaded kernels: one sequence per task
      ctx.isa = isa;
      std::vector<float>& b = bufs[static_cast<size_t>(j)];
      b.resize(p);
      status[static_cast<size_t>(j)] = seq_grad(ctx, w0 + j, b.data());
    };
    if (pool != nullptr) {
      pool->ParallelFor(cnt, task);
    } else {
      for (int64_t j = 0; j < cnt; ++j) task(j);
    }
    for (int64_t j = 0; j < cnt; ++j) {
      const size_t js = static_cast<size_t>(j);
      if (!status[js].ok()) {
        return Status(status[js].code(), "batch sequence " + std::to_string(w0 + j) + ": " +
                                             status[js].message());
      }
    }
    // g[i] = (((g[i] + s_0[i]) + s_1[i]) + ...) in ascending batch index: block by block so g
    // stays in cache while the wave's buffers stream past (the order per element is the same).
    constexpr size_t kBlock = 2048;
    float* g = grad->data();
    for (size_t b0 = 0; b0 < p; b0 += kBlock) {
      const size_t b1 = std::min(p, b0 + kBlock);
      for (int64_t j = 0; j < cnt; ++j) {
        const float* s = bufs[static_cast<size_t>(j)].data();
        for (size_t i = b0; i < b1; ++i) g[i] += s[i];
      }
    }
  }
  return Status::Ok();
}

Status BatchGradient(ThreadPool* pool, Isa isa, const ParamLayout& layout, const float* params,
                     const PackedParams& packed, std::span<const std::span<const int32_t>> batch,
                     std::vector<float>* grad, double* loss_sum, int64_t* targets) {
  const int64_t n = static_cast<int64_t>(batch.size());
  std::vector<double> losses(static_cast<size_t>(n), 0.0);
  DETINFER_RETURN_IF_ERROR(SumSequenceGradients(
      pool, isa, layout.size(), n,
      [&](const KernelContext& ctx, int64_t i, float* g) {
        return SequenceGradient(ctx, layout, params, packed, batch[static_cast<size_t>(i)], g,
                                &losses[static_cast<size_t>(i)]);
      },
      grad));
  *loss_sum = 0.0;
  *targets = 0;
  for (int64_t i = 0; i < n; ++i) {  // ascending batch index
    *loss_sum += losses[static_cast<size_t>(i)];
    *targets += static_cast<int64_t>(batch[static_cast<size_t>(i)].size()) - 1;
  }
  return Status::Ok();
}

Result<TrainResult> Train(const std::vector<std::vector<int32_t>>& corpus,
                          const TrainOptions& options,
                          const std::function<void(const TrainStepLog&)>& on_step) {
  if (corpus.empty()) return Status::InvalidArgument("train: the corpus has no sequences");
  if (options.steps < 1) return Status::InvalidArgument("train: --steps must be at least 1");
  if (options.batch_size < 1) {
    return Status::InvalidArgument("train: the batch size must be at least 1");
  }
  if (options.threads < 1) return Status::InvalidArgument("train: --threads must be at least 1");
  DETINFER_ASSIGN_OR_RETURN(ParamLayout layout, ParamLayout::Create(options.model));
  TrainResult r;
  r.params = InitParams(layout, options.seed);
  const std::vector<uint8_t> decay = WeightDecayMask(layout);
  AdamW opt(layout.size(), options.adamw);
  LrSchedule sched = options.schedule;
  sched.total = options.steps;
  std::unique_ptr<ThreadPool> pool;
  if (options.threads > 1) pool = std::make_unique<ThreadPool>(options.threads);
  const auto start = std::chrono::steady_clock::now();
  std::vector<float> grad;
  for (int64_t step = 1; step <= options.steps; ++step) {
    DETINFER_ASSIGN_OR_RETURN(PackedParams packed,
                              PackParams(layout, r.params.data(), {options.isa, pool.get()}));
    const std::vector<int64_t> idx = BatchIndices(options.seed, step, options.batch_size,
                                                  static_cast<int64_t>(corpus.size()));
    std::vector<std::span<const int32_t>> batch;
    for (int64_t i : idx) batch.emplace_back(corpus[static_cast<size_t>(i)]);
    double loss_sum = 0;
    int64_t targets = 0;
    DETINFER_RETURN_IF_ERROR(BatchGradient(pool.get(), options.isa, layout, r.params.data(),
                                           packed, batch, &grad, &loss_sum, &targets));
    // Mean over the batch's target tokens: one f32 multiply per element, after the sum.
    const float inv = 1.0f / static_cast<float>(targets);
    for (float& g : grad) g *= inv;
    TrainStepLog log;
    log.step = step;
    log.loss = loss_sum / static_cast<double>(targets);
    log.grad_norm = ClipGlobalNorm(&grad, options.clip_norm);
    log.lr = sched.At(step);
    log.tokens = targets;
    opt.Step(step, static_cast<float>(log.lr), grad, decay, &r.params);
    log.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.log.push_back(log);
    if (on_step) on_step(log);
  }
  return r;
}

}  // namespace detinfer
