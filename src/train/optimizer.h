// AdamW, the learning-rate schedule and global-norm gradient clipping, over flat f32 vectors
// (train/param_layout.h).
//
// Why the bits are reproducible: every update is elementwise (element i depends only on
// element i of params, grad and the moments), written with explicit IEEE operations in a fixed
// order (no FMA contraction: -ffp-contract=off), and the only reduction, the squared gradient
// norm, is ONE sequential double-precision sum in ascending index order. The scalar terms
// (beta^t, the cosine) are computed in double from the step number alone.
#ifndef DETINFER_TRAIN_OPTIMIZER_H_
#define DETINFER_TRAIN_OPTIMIZER_H_

#include <cstdint>
#include <vector>

namespace detinfer {

struct AdamWOptions {
  float beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f, weight_decay = 0.1f;
};

// Linear warm-up from lr/warmup to lr over `warmup` steps, then cosine decay to min_lr at
// step `total` (steps are numbered from 1).
struct LrSchedule {
  double lr = 3e-3, min_lr = 3e-4;
  int64_t warmup = 50, total = 1000;
  double At(int64_t step) const;
};

class AdamW {
 public:
  AdamW(int64_t size, AdamWOptions options);
  // One update with learning rate lr (step counts from 1). `decay_mask[i]` != 0 applies
  // weight decay to element i (matrices and embeddings; not norm gains). Per element, in order:
  //   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*(g*g)
  //   mhat = m / (1 - b1^t); vhat = v / (1 - b2^t)          (the denominators in double, then f32)
  //   p = p - lr*wd*p (when decayed);  p = p - lr * mhat / (sqrt(vhat) + eps)
  void Step(int64_t step, float lr, const std::vector<float>& grad,
            const std::vector<uint8_t>& decay_mask, std::vector<float>* params);

 private:
  AdamWOptions o_;
  std::vector<float> m_, v_;
};

// Sqrt of the sum of g[i]^2 (double, ascending i). If it exceeds max_norm (> 0), scales g by
// max_norm / norm (one f32 multiply per element). Returns the norm before clipping.
double ClipGlobalNorm(std::vector<float>* grad, double max_norm);

}  // namespace detinfer

#endif  // DETINFER_TRAIN_OPTIMIZER_H_
