#include "train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/portable_math.h"

namespace detinfer {

double LrSchedule::At(int64_t step) const {
  if (warmup > 0 && step <= warmup) {
    return lr * static_cast<double>(step) / static_cast<double>(warmup);
  }
  if (step >= total) return min_lr;
  const double progress =
      static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
  return min_lr + 0.5 * (lr - min_lr) * (1.0 + PortableCos(std::numbers::pi * progress));
}

AdamW::AdamW(int64_t size, AdamWOptions options)
    : o_(options), m_(static_cast<size_t>(size), 0.0f), v_(static_cast<size_t>(size), 0.0f) {}

void AdamW::Step(int64_t step, float lr, const std::vector<float>& grad,
                 const std::vector<uint8_t>& decay_mask, std::vector<float>* params) {
  // beta^t by repeated multiplication: exact same value on every machine (no libm pow).
  double b1t = 1.0, b2t = 1.0;
  for (int64_t i = 0; i < step; ++i) {
    b1t *= static_cast<double>(o_.beta1);
    b2t *= static_cast<double>(o_.beta2);
  }
  const float c1 = static_cast<float>(1.0 - b1t), c2 = static_cast<float>(1.0 - b2t);
  const float b1 = o_.beta1, b2 = o_.beta2, nb1 = 1.0f - o_.beta1, nb2 = 1.0f - o_.beta2;
  const float decay = lr * o_.weight_decay;
  float* p = params->data();
  for (size_t i = 0; i < grad.size(); ++i) {
    const float g = grad[i];
    m_[i] = b1 * m_[i] + nb1 * g;
    v_[i] = b2 * v_[i] + nb2 * (g * g);
    const float mhat = m_[i] / c1, vhat = v_[i] / c2;
    if (decay_mask[i] != 0) p[i] = p[i] - decay * p[i];
    p[i] = p[i] - lr * mhat / (std::sqrt(vhat) + o_.eps);
  }
}

double ClipGlobalNorm(std::vector<float>* grad, double max_norm) {
  double ss = 0.0;
  for (float g : *grad) ss += static_cast<double>(g) * static_cast<double>(g);
  const double norm = std::sqrt(ss);
  if (max_norm > 0 && norm > max_norm) {
    const float scale = static_cast<float>(max_norm / norm);
    for (float& g : *grad) g *= scale;
  }
  return norm;
}

}  // namespace detinfer
