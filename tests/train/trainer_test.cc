// The training loop's invariants: a sequence's gradient does not depend on its batch or the
// thread count; two runs give the same weights bytes at 1 and 2 threads; training lowers the
// loss from its closed-form starting point ln(vocab).
#include "train/trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "model/hf_writer.h"
#include "model/model_test_util.h"
#include "test_util.h"
#include "train_test_util.h"

namespace detinfer {
namespace {

using testing::BitsEqual;

PackedParams PackOrDie(const ParamLayout& layout, const std::vector<float>& params) {
  auto r = PackParams(layout, params.data());
  if (!r.ok()) std::abort();
  return std::move(*r);
}

struct Fixture {
  ModelConfig config = testing::TinyTrainConfig();
  ParamLayout layout = *ParamLayout::Create(config);
  std::vector<float> params = InitParams(layout, 3);
  PackedParams packed = PackOrDie(layout, params);
  std::vector<std::vector<int32_t>> corpus = testing::CountingCorpus(config.vocab_size, 12);
};

TEST(TrainBatch, ASequencesGradientDoesNotDependOnItsBatchOrThreads) {
  Fixture f;
  const Isa isa = BestIsa(DetectCpuFeatures());
  KernelContext ctx;
  ctx.isa = isa;
  const size_t p = static_cast<size_t>(f.layout.size());
  // Each sequence alone, then the expected batch sum in ascending index.
  std::vector<std::vector<float>> alone;
  for (const auto& s : f.corpus) {
    std::vector<float> g(p);
    double loss = 0;
    ASSERT_TRUE(SequenceGradient(ctx, f.layout, f.params.data(), f.packed, s, g.data(), &loss).ok());
    alone.push_back(g);
  }
  std::vector<float> expect(p, 0.0f);
  for (const auto& g : alone) {
    for (size_t i = 0; i < p; ++i) expect[i] += g[i];
  }
  std::vector<std::span<const int32_t>> batch(f.corpus.begin(), f.corpus.end());
  for (int threads : {1, 2, 3}) {
    SCOPED_TRACE(threads);
    std::unique_ptr<ThreadPool> pool;
    if (threads > 1) pool = std::make_unique<ThreadPool>(threads);
    std::vector<float> grad;
    double loss = 0;
    int64_t targets = 0;
    ASSERT_TRUE(BatchGradient(pool.get(), isa, f.layout, f.params.data(), f.packed, batch, &grad,
                              &loss, &targets).ok());
    EXPECT_TRUE(BitsEqual(expect.data(), grad.data(), p));
    // A one-sequence batch is that sequence's gradient, whatever else was around it.
    for (size_t i : {size_t{0}, size_t{7}}) {
      ASSERT_TRUE(BatchGradient(pool.get(), isa, f.layout, f.params.data(), f.packed,
                                std::span(batch).subspan(i, 1), &grad, &loss, &targets).ok());
      EXPECT_TRUE(BitsEqual(alone[i].data(), grad.data(), p)) << "sequence " << i;
    }
  }
}

TEST(TrainBatch, BatchIndicesAreAFunctionOfSeedAndStep) {
  EXPECT_EQ(BatchIndices(1, 5, 8, 100), BatchIndices(1, 5, 8, 100));
  EXPECT_NE(BatchIndices(1, 5, 8, 100), BatchIndices(1, 6, 8, 100));
  EXPECT_NE(BatchIndices(1, 5, 8, 100), BatchIndices(2, 5, 8, 100));
  for (int64_t i : BatchIndices(9, 3, 64, 10)) {
    EXPECT_GE(i, 0);
    EXPECT_LT(i, 10);
  }
}

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

TEST(TrainRun, TwoRunsWriteIdenticalSafetensorsAtOneAndTwoThreads) {
  const ModelConfig c = testing::TinyTrainConfig();
  const auto corpus = testing::CountingCorpus(c.vocab_size, 40);
  TrainOptions o;
  o.model = c;
  o.seed = 7;
  o.steps = 6;
  o.batch_size = 5;
  o.schedule.warmup = 2;
  o.isa = BestIsa(DetectCpuFeatures());
  testing::TempDir dir;
  std::vector<std::vector<uint8_t>> files;
  for (int threads : {1, 2}) {
    o.threads = threads;
    auto r = Train(corpus, o, nullptr);
    ASSERT_TRUE(r.ok()) << r.status().message();
    auto layout = ParamLayout::Create(c);
    auto w = ParamsToWeights(*layout, r->params);
    ASSERT_TRUE(w.ok());
    const std::string out = dir.file("run" + std::to_string(threads));
    ASSERT_TRUE(WriteHuggingFace(*w, out).ok());
    files.push_back(ReadBytes(out + "/model.safetensors"));
  }
  ASSERT_GT(files[0].size(), 1000u);
  EXPECT_TRUE(files[0] == files[1]) << "the 1- and 2-thread runs wrote different weights";
  // And training did change them (the files are not just the initial weights twice).
  auto layout = ParamLayout::Create(c);
  auto w0 = ParamsToWeights(*layout, InitParams(*layout, o.seed));
  ASSERT_TRUE(WriteHuggingFace(*w0, dir.file("init")).ok());
  EXPECT_FALSE(ReadBytes(dir.file("init") + "/model.safetensors") == files[0]);
}

TEST(TrainRun, ShortRunLowersTheLossFromLnVocab) {
  const ModelConfig c = testing::TinyTrainConfig();
  const auto corpus = testing::CountingCorpus(c.vocab_size, 60);
  TrainOptions o;
  o.model = c;
  o.seed = 2;
  o.steps = 60;
  o.batch_size = 8;
  o.schedule.lr = 1e-2;
  o.schedule.warmup = 5;
  o.isa = BestIsa(DetectCpuFeatures());
  o.threads = 2;
  auto r = Train(corpus, o, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->log.size(), 60u);
  // At initialisation the predictions are near uniform: loss ~ ln(vocab) (within 30%).
  const double ln_v = std::log(static_cast<double>(c.vocab_size));
  EXPECT_NEAR(r->log.front().loss, ln_v, 0.3 * ln_v);
  // Each next token is a function of the previous one: the loss must fall far below ln(V).
  double last = 0;
  for (size_t i = r->log.size() - 5; i < r->log.size(); ++i) last += r->log[i].loss / 5;
  EXPECT_LT(last, 0.35 * ln_v);
}

TEST(TrainRun, BadOptionsAreClearErrors) {
  TrainOptions o;
  o.model = testing::TinyTrainConfig();
  EXPECT_EQ(Train({}, o, nullptr).status().message(), "train: the corpus has no sequences");
  o.steps = 0;
  EXPECT_EQ(Train({{1, 2}}, o, nullptr).status().message(), "train: --steps must be at least 1");
  o.steps = 1;
  auto r = Train({{1, 99}}, o, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("token id 99 is outside the vocabulary [0, 24)"),
            std::string::npos)
      << r.status().message();
  o.model.rope_style = RopeStyle::kInterleaved;
  EXPECT_EQ(Train({{1, 2}}, o, nullptr).status().message(),
            "train: only rotate-half RoPE is supported");
}

}  // namespace
}  // namespace detinfer
