// Engine::UpdateWeightsFrom{Tensors,Disk} (SPEC §A11): after an update the engine computes the
// bits of a fresh engine loaded with the new weights; the prefix cache never serves K/V of other
// weights; a failed update changes nothing; the weight version follows the bytes.
//
// Every expectation is an independent fact: a fresh engine over a model built directly from the
// new weights (or from the file), never a value the update path itself reported.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "core/storage_format.h"
#include "engine/engine.h"
#include "engine/schedule_id.h"
#include "engine_test_util.h"
#include "model/arch.h"
#include "model/gguf_writer.h"
#include "model/hf_writer.h"
#include "model/loader.h"
#include "model/model_test_util.h"
#include "model/random_init.h"
#include "model/tensor_roles.h"

namespace detinfer {
namespace {

using testing::SameBits;

ModelWeights UpdateTestWeights(Arch arch, uint64_t seed, DType dtype, bool tied = false) {
  ModelConfig c = testing::TinyEngineConfig(arch);
  c.tied_embeddings = tied;
  auto w = InitRandomModel(c, seed, dtype);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  return std::move(w).value();
}

Transformer BuildUpdateTestModel(ModelWeights w) {
  auto t = Transformer::Create(std::move(w));
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(t).value();
}

// Every tensor of `w` under its Hugging Face name (rotate-half rows: the test configs are).
// Phi-3's fused q/k/v and gate/up are joined into `*fused` (which must outlive the result).
std::vector<NamedTensor> AsNamedTensors(const ModelWeights& w,
                                        std::vector<std::vector<uint8_t>>* fused = nullptr) {
  std::vector<NamedTensor> out;
  ModelWeights& mw = const_cast<ModelWeights&>(w);
  for (const auto& [role, layer] : ListFileRoles(w.config)) {
    NamedTensor t;
    t.name = HfTensorName(w.config.arch, role, layer);
    const std::vector<TensorRole> parts =
        role == TensorRole::kQkv      ? std::vector{TensorRole::kWq, TensorRole::kWk, TensorRole::kWv}
        : role == TensorRole::kGateUp ? std::vector{TensorRole::kGate, TensorRole::kUp}
                                      : std::vector{role};
    if (parts.size() == 1) {
      const TensorView& v = *MutableViewOf(mw, role, layer);
      t.dtype = v.dtype;
      t.shape.assign(v.shape, v.shape + v.rank);
      t.bytes = std::span(static_cast<const uint8_t*>(v.data), StorageBytes(v.dtype, v.numel()));
    } else {
      std::vector<uint8_t>& joined = fused->emplace_back();
      for (const TensorRole part : parts) {
        const TensorView& v = *MutableViewOf(mw, part, layer);
        const auto* p = static_cast<const uint8_t*>(v.data);
        joined.insert(joined.end(), p, p + StorageBytes(v.dtype, v.numel()));
        t.dtype = v.dtype;
      }
      t.shape = ExpectedShape(w.config, role);
      t.bytes = std::span(joined.data(), joined.size());
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<Request> UpdateTestRequests() {
  std::vector<Request> out;
  for (int i = 0; i < 3; ++i) {
    Request r;
    r.id = "r" + std::to_string(i);
    for (int32_t k = 0; k < 20 + 13 * i; ++k) r.prompt.push_back((5 + 7 * k + 3 * i) % 64);
    r.max_new_tokens = 12;
    r.sampling.temperature = i == 0 ? 0.0f : 0.8f;
    r.sampling.seed = 100 + static_cast<uint64_t>(i);
    r.top_logprobs = 2;
    r.prompt_logprobs = i == 2;
    out.push_back(std::move(r));
  }
  return out;
}

EngineOptions UpdateTestOptions(bool prefix_cache = true) {
  EngineOptions o;
  o.chunk_size = 8;
  o.block_size = 4;
  o.prefix_cache = prefix_cache;
  return o;
}

std::vector<RequestResult> RunFreshUpdateEngine(const Transformer& model, std::vector<Request> requests,
                                    bool prefix_cache = true) {
  auto e = Engine::Create(model, KernelContext{}, UpdateTestOptions(prefix_cache));
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return (*e)->Generate(std::move(requests));
}

void ExpectSameUpdateResults(const std::vector<RequestResult>& got,
                       const std::vector<RequestResult>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(SameBits(got[i], want[i])) << what << " #" << i;
}

std::unique_ptr<Engine> MutableUpdateEngine(Transformer& model, bool prefix_cache = true) {
  auto e = Engine::Create(model, KernelContext{}, UpdateTestOptions(prefix_cache));
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return std::move(e).value();
}

TEST(WeightUpdateTest, TensorUpdateEqualsAFreshEngineOnTheNewWeights) {
  for (const Arch arch : {Arch::kLlama, Arch::kQwen2, Arch::kQwen3, Arch::kPhi3}) {
    for (const DType dtype : {DType::kF32, DType::kBF16}) {
      for (const bool tied : {false, true}) {
        const std::string what = std::string(ArchName(arch)) + " " +
                                 std::string(DTypeName(dtype)) + (tied ? " tied" : "");
        Transformer served = BuildUpdateTestModel(UpdateTestWeights(arch, 1, dtype, tied));
        const ModelWeights next = UpdateTestWeights(arch, 2, dtype, tied);
        const Transformer fresh = BuildUpdateTestModel(UpdateTestWeights(arch, 2, dtype, tied));
        auto engine = MutableUpdateEngine(served);
        const uint64_t old_hash = engine->weight_version().hash;
        (void)engine->Generate(UpdateTestRequests());  // fills the prefix cache with old K/V
        std::vector<std::vector<uint8_t>> fused;
        const std::vector<NamedTensor> tensors = AsNamedTensors(next, &fused);
        const Status st = engine->UpdateWeightsFromTensors(tensors);
        ASSERT_TRUE(st.ok()) << what << ": " << st.ToString();
        ExpectSameUpdateResults(engine->Generate(UpdateTestRequests()),
                          RunFreshUpdateEngine(fresh, UpdateTestRequests()), what);
        EXPECT_EQ(engine->weight_version().counter, 1u) << what;
        EXPECT_EQ(engine->weight_version().hash, fresh.weight_hash()) << what;
        EXPECT_NE(engine->weight_version().hash, old_hash) << what;
        EXPECT_EQ(served.weight_hash(), fresh.weight_hash()) << "the caller's model is updated";
      }
    }
  }
}

TEST(WeightUpdateTest, PartialUpdateRepacksWhatChangedAndKeepsATiedHeadConsistent) {
  for (const bool tied : {false, true}) {
    Transformer served = BuildUpdateTestModel(UpdateTestWeights(Arch::kQwen2, 1, DType::kF32, tied));
    const ModelWeights donor = UpdateTestWeights(Arch::kQwen2, 2, DType::kF32, tied);
    // The reference: seed 1's weights with the same tensors overwritten by seed 2's, built fresh.
    ModelWeights expected = UpdateTestWeights(Arch::kQwen2, 1, DType::kF32, tied);
    std::vector<NamedTensor> update;
    const std::pair<TensorRole, int64_t> changed[] = {{TensorRole::kTokenEmbedding, -1},
                                                      {TensorRole::kWk, 1},
                                                      {TensorRole::kBq, 0},
                                                      {TensorRole::kFfnNorm, 1},
                                                      {TensorRole::kDown, 0}};
    for (const NamedTensor& t : AsNamedTensors(donor)) {
      for (const auto& [role, layer] : changed) {
        if (t.name != HfTensorName(Arch::kQwen2, role, layer)) continue;
        update.push_back(t);
        std::memcpy(MutableViewOf(expected, role, layer)->data, t.bytes.data(), t.bytes.size());
      }
    }
    ASSERT_EQ(update.size(), 5u);
    const Transformer fresh = BuildUpdateTestModel(std::move(expected));
    auto engine = MutableUpdateEngine(served);
    ASSERT_TRUE(engine->UpdateWeightsFromTensors(update).ok());
    ExpectSameUpdateResults(engine->Generate(UpdateTestRequests()),
                      RunFreshUpdateEngine(fresh, UpdateTestRequests()), tied ? "tied" : "untied");
    EXPECT_EQ(engine->weight_version().hash, fresh.weight_hash());
    // A second update of the same tensors (the first update's buffers are replaced, not kept).
    ASSERT_TRUE(engine->UpdateWeightsFromTensors(update).ok());
    EXPECT_EQ(engine->weight_version().counter, 2u);
    EXPECT_EQ(engine->weight_version().hash, fresh.weight_hash());
  }
}

TEST(WeightUpdateTest, DiskUpdateEqualsAFreshLoadOfTheFile) {
  testing::TempDir dir;
  for (const DType dtype : {DType::kF32, DType::kBF16}) {
    const std::string path = dir.file(std::string(DTypeName(dtype)));
    ASSERT_TRUE(WriteHuggingFace(UpdateTestWeights(Arch::kQwen3, 7, dtype), path).ok());
    Transformer served = BuildUpdateTestModel(UpdateTestWeights(Arch::kQwen3, 1, DType::kF32));
    auto engine = MutableUpdateEngine(served);
    (void)engine->Generate(UpdateTestRequests());
    ASSERT_TRUE(engine->UpdateWeightsFromDisk(path).ok());
    auto loaded = LoadModel(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    const Transformer fresh = BuildUpdateTestModel(std::move(loaded).value());
    ExpectSameUpdateResults(engine->Generate(UpdateTestRequests()),
                      RunFreshUpdateEngine(fresh, UpdateTestRequests()), std::string(DTypeName(dtype)));
    EXPECT_EQ(engine->weight_version().hash, fresh.weight_hash());
  }
}

TEST(WeightUpdateTest, TensorsInHuggingFaceOrderUpdateAModelFromAnInterleavedFile) {
  // GGUF llama files keep q/k rows interleaved; updates come in Hugging Face's rotate-half order.
  testing::TempDir dir;
  const std::string path = dir.file("served.gguf");
  ASSERT_TRUE(WriteGguf(UpdateTestWeights(Arch::kLlama, 1, DType::kF32), path).ok());
  auto loaded = LoadModel(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->config.rope_style, RopeStyle::kInterleaved);
  Transformer served = BuildUpdateTestModel(std::move(loaded).value());
  const ModelWeights next = UpdateTestWeights(Arch::kLlama, 2, DType::kF32);
  const Transformer fresh = BuildUpdateTestModel(UpdateTestWeights(Arch::kLlama, 2, DType::kF32));
  auto engine = MutableUpdateEngine(served);
  ASSERT_TRUE(engine->UpdateWeightsFromTensors(AsNamedTensors(next)).ok());
  ExpectSameUpdateResults(engine->Generate(UpdateTestRequests()), RunFreshUpdateEngine(fresh, UpdateTestRequests()),
                    "interleaved");
  EXPECT_EQ(engine->weight_version().hash, fresh.weight_hash());
}

TEST(WeightUpdateTest, PrefixCacheNeverServesKvOfOtherWeights) {
  Transformer served = BuildUpdateTestModel(UpdateTestWeights(Arch::kLlama, 1, DType::kF32));
  const ModelWeights next = UpdateTestWeights(Arch::kLlama, 2, DType::kF32);
  const Transformer fresh = BuildUpdateTestModel(UpdateTestWeights(Arch::kLlama, 2, DType::kF32));
  Request first;
  first.id = "first";
  for (int32_t k = 0; k < 33; ++k) first.prompt.push_back((3 + 11 * k) % 64);
  first.max_new_tokens = 6;
  Request second = first;  // the same 33-token prefix, then more
  second.id = "second";
  for (int32_t k = 0; k < 5; ++k) second.prompt.push_back((9 + 5 * k) % 64);
  second.sampling.temperature = 0.7f;
  second.sampling.seed = 4;

  auto engine = MutableUpdateEngine(served);
  ASSERT_TRUE(engine->Generate({first})[0].status.ok());
  // Without an update the second request would reuse the first one's blocks.
  {
    Transformer again = BuildUpdateTestModel(UpdateTestWeights(Arch::kLlama, 1, DType::kF32));
    auto control = MutableUpdateEngine(again);
    (void)control->Generate({first});
    EXPECT_GT(control->Generate({second})[0].cached_tokens, 0);
  }
  ASSERT_TRUE(engine->UpdateWeightsFromTensors(AsNamedTensors(next)).ok());
  const RequestResult got = engine->Generate({second})[0];
  EXPECT_EQ(got.cached_tokens, 0) << "K/V of the old weights was reused";
  const RequestResult cold = RunFreshUpdateEngine(fresh, {second}, /*prefix_cache=*/false)[0];
  EXPECT_TRUE(SameBits(got, cold));
  // Blocks computed under the new weights are reused again, with the same bits.
  const RequestResult warm = engine->Generate({second})[0];
  EXPECT_GT(warm.cached_tokens, 0);
  EXPECT_TRUE(SameBits(warm, cold));
}

TEST(WeightUpdateTest, FailedUpdatesLeaveTheOldWeightsServing) {
  Transformer served = BuildUpdateTestModel(UpdateTestWeights(Arch::kQwen2, 1, DType::kBF16));
  const Transformer reference = BuildUpdateTestModel(UpdateTestWeights(Arch::kQwen2, 1, DType::kBF16));
  const std::vector<RequestResult> before = RunFreshUpdateEngine(reference, UpdateTestRequests());
  auto engine = MutableUpdateEngine(served);
  const WeightVersion v0 = engine->weight_version();
  ExpectSameUpdateResults(engine->Generate(UpdateTestRequests()), before, "before");

  const ModelWeights good = UpdateTestWeights(Arch::kQwen2, 2, DType::kBF16);
  const std::vector<NamedTensor> all = AsNamedTensors(good);
  const auto with = [&](const std::function<void(std::vector<NamedTensor>&)>& edit) {
    std::vector<NamedTensor> t = all;
    edit(t);
    return t;
  };
  std::vector<float> f32_bytes(64 * 32, 0.5f);
  std::vector<float> nan_norm(32, 1.0f);
  nan_norm[5] = std::nanf("");
  struct FailedUpdateCase {
    std::string what;
    std::vector<NamedTensor> tensors;
    std::vector<std::string> message;
  };
  std::vector<FailedUpdateCase> cases;
  cases.push_back({"unknown name", with([](auto& t) {
                     t.back().name = "model.layers.9.self_attn.q_proj.weight";
                   }),
                   {"model.layers.9.self_attn.q_proj.weight", "not a tensor"}});
  cases.push_back({"wrong shape", with([](auto& t) {
                     t[1].shape = {t[1].shape[0] / 2, t[1].shape[0] * 2};
                   }),
                   {all[1].name, "shape"}});
  cases.push_back({"wrong dtype", with([&](auto& t) {
                     t[0].dtype = DType::kF32;
                     t[0].bytes = std::span(reinterpret_cast<const uint8_t*>(f32_bytes.data()),
                                            f32_bytes.size() * sizeof(float));
                   }),
                   {all[0].name, "f32", "bf16"}});
  cases.push_back({"short bytes", with([](auto& t) { t[2].bytes = t[2].bytes.first(8); }),
                   {all[2].name, "bytes"}});
  cases.push_back({"given twice", with([](auto& t) { t.push_back(t[3]); }),
                   {all[3].name, "twice"}});
  cases.push_back({"nan norm", with([&](auto& t) {
                     for (NamedTensor& x : t) {
                       if (x.name != "model.norm.weight") continue;
                       x.bytes = std::span(reinterpret_cast<const uint8_t*>(nan_norm.data()),
                                           nan_norm.size() * sizeof(float));
                     }
                   }),
                   {"model.norm.weight", "nan"}});
  for (const FailedUpdateCase& c : cases) {
    const Status st = engine->UpdateWeightsFromTensors(c.tensors);
    EXPECT_FALSE(st.ok()) << c.what;
    for (const std::string& part : c.message) {
      EXPECT_NE(st.message().find(part), std::string::npos) << c.what << ": " << st.ToString();
    }
    EXPECT_EQ(engine->weight_version(), v0) << c.what;
    ExpectSameUpdateResults(engine->Generate(UpdateTestRequests()), before, c.what);
  }

  // Files of another architecture or other shapes, and no file at all.
  testing::TempDir dir;
  ModelConfig wider = testing::TinyEngineConfig(Arch::kQwen2);
  wider.ffn_dim = 64;
  const std::pair<std::string, Result<ModelWeights>> files[] = {
      {"arch", InitRandomModel(testing::TinyEngineConfig(Arch::kQwen3), 3, DType::kBF16)},
      {"ffn_dim", InitRandomModel(wider, 3, DType::kBF16)},
  };
  for (const auto& [field, w] : files) {
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(WriteHuggingFace(*w, dir.file(field)).ok());
    const Status st = engine->UpdateWeightsFromDisk(dir.file(field));
    EXPECT_FALSE(st.ok()) << field;
    EXPECT_NE(st.message().find(field), std::string::npos) << st.ToString();
    EXPECT_EQ(engine->weight_version(), v0) << field;
    ExpectSameUpdateResults(engine->Generate(UpdateTestRequests()), before, field);
  }
  EXPECT_FALSE(engine->UpdateWeightsFromDisk(dir.file("missing")).ok());
  EXPECT_EQ(engine->weight_version(), v0);
  ExpectSameUpdateResults(engine->Generate(UpdateTestRequests()), before, "missing file");
}

TEST(WeightUpdateTest, VersionHashFollowsTheBytes) {
  Transformer served = BuildUpdateTestModel(UpdateTestWeights(Arch::kLlama, 1, DType::kF32));
  auto engine = MutableUpdateEngine(served);
  const WeightVersion v0 = engine->weight_version();
  EXPECT_EQ(v0.counter, 0u);
  // The same bytes again: a new counter, the same hash.
  const ModelWeights same = UpdateTestWeights(Arch::kLlama, 1, DType::kF32);
  ASSERT_TRUE(engine->UpdateWeightsFromTensors(AsNamedTensors(same)).ok());
  EXPECT_EQ(engine->weight_version().counter, 1u);
  EXPECT_EQ(engine->weight_version().hash, v0.hash);
  // One changed element changes the hash.
  ModelWeights tweaked = UpdateTestWeights(Arch::kLlama, 1, DType::kF32);
  MutableViewOf(tweaked, TensorRole::kWv, 1)->as<float>()[17] += 1.0f;
  ASSERT_TRUE(engine->UpdateWeightsFromTensors(AsNamedTensors(tweaked)).ok());
  EXPECT_EQ(engine->weight_version().counter, 2u);
  EXPECT_NE(engine->weight_version().hash, v0.hash);
  // Results carry the version; the schedule id takes the hash.
  const RequestResult r = engine->Generate({UpdateTestRequests()[0]})[0];
  EXPECT_EQ(r.weight_version, engine->weight_version());
  EXPECT_FALSE(r.mixed_weights);
  ScheduleInputs a, b;
  b.weight_hash = engine->weight_version().hash;
  EXPECT_NE(ScheduleId(a), ScheduleId(b));
  // The same weights from a file hash alike.
  testing::TempDir dir;
  ASSERT_TRUE(WriteHuggingFace(same, dir.path()).ok());
  auto loaded = LoadModel(dir.path());
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(BuildUpdateTestModel(std::move(loaded).value()).weight_hash(), v0.hash);
}

TEST(WeightUpdateTest, AnEngineOverAConstModelRefusesUpdates) {
  const Transformer model = BuildUpdateTestModel(UpdateTestWeights(Arch::kLlama, 1, DType::kF32));
  auto e = Engine::Create(model, KernelContext{}, UpdateTestOptions());
  ASSERT_TRUE(e.ok());
  const Status st = (*e)->UpdateWeightsFromTensors(
      AsNamedTensors(UpdateTestWeights(Arch::kLlama, 2, DType::kF32)));
  EXPECT_EQ(st.code(), StatusCode::kUnsupported) << st.ToString();
}

}  // namespace
}  // namespace detinfer
