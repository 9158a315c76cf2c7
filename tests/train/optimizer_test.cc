// AdamW, the schedule and clipping against closed forms.
#include "train/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace detinfer {
namespace {

TEST(TrainOptimizer, FirstAdamWStepIsSignTimesLrPlusDecay) {
  // Step 1: mhat = g and vhat = g^2 exactly in real arithmetic, so the update is
  // p - lr*wd*p - lr*g/(|g| + eps).
  AdamWOptions o;
  AdamW opt(3, o);
  std::vector<float> p{0.5f, -2.0f, 1.0f}, g{0.25f, -3.0f, 1e-3f};
  const std::vector<uint8_t> decay{1, 1, 0};
  const float lr = 0.01f;
  opt.Step(1, lr, g, decay, &p);
  const double want[3] = {0.5 - 0.01 * 0.1 * 0.5 - 0.01 * 0.25 / (0.25 + 1e-8),
                          -2.0 + 0.01 * 0.1 * 2.0 + 0.01 * 3.0 / (3.0 + 1e-8),
                          1.0 - 0.01 * 1e-3 / (1e-3 + 1e-8)};
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(p[i], want[i], 2e-7 * std::abs(want[i])) << i;
}

TEST(TrainOptimizer, AdamWFollowsADoublePrecisionOracleOverManySteps) {
  AdamWOptions o;
  AdamW opt(1, o);
  std::vector<float> p{0.3f};
  double pd = 0.3, m = 0, v = 0;
  for (int t = 1; t <= 50; ++t) {
    const float g = std::sin(static_cast<float>(t)) * 0.1f;
    opt.Step(t, 1e-3f, {g}, {1}, &p);
    m = 0.9 * m + 0.1 * g;
    v = 0.95 * v + 0.05 * double(g) * g;
    const double mhat = m / (1 - std::pow(0.9, t)), vhat = v / (1 - std::pow(0.95, t));
    pd = pd - 1e-3 * 0.1 * pd - 1e-3 * mhat / (std::sqrt(vhat) + 1e-8);
  }
  EXPECT_NEAR(p[0], pd, 1e-5);
}

TEST(TrainOptimizer, ScheduleWarmsUpThenFollowsTheCosine) {
  LrSchedule s;
  s.lr = 1e-2;
  s.min_lr = 1e-3;
  s.warmup = 10;
  s.total = 110;
  EXPECT_DOUBLE_EQ(s.At(1), 1e-3);
  EXPECT_DOUBLE_EQ(s.At(10), 1e-2);
  EXPECT_NEAR(s.At(60), (1e-2 + 1e-3) / 2, 1e-15);  // half way: cos(pi/2) = 0
  EXPECT_DOUBLE_EQ(s.At(110), 1e-3);
  for (int64_t t = 11; t < 110; ++t) EXPECT_LT(s.At(t + 1), s.At(t)) << t;
}

TEST(TrainOptimizer, ClippingScalesToTheMaxNormAndReportsTheNormBefore) {
  std::vector<float> g{3.0f, 4.0f};
  EXPECT_DOUBLE_EQ(ClipGlobalNorm(&g, 1.0), 5.0);
  EXPECT_FLOAT_EQ(g[0], 0.6f);
  EXPECT_FLOAT_EQ(g[1], 0.8f);
  std::vector<float> small{0.3f, 0.4f};
  EXPECT_NEAR(ClipGlobalNorm(&small, 1.0), 0.5, 1e-7);
  EXPECT_EQ(small[0], 0.3f);  // under the limit: untouched
}

}  // namespace
}  // namespace detinfer
