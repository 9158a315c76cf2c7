#include "model/random_init.h"

#include "model/arch.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/storage_format.h"

namespace detinfer {

namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

// SplitMix64's output function (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The element-th output of a SplitMix64 stream whose state is keyed by (seed, tensor). Counter-
// based: element i is computed directly, not by stepping through 0..i-1.
uint64_t Draw(uint64_t seed, TensorRole role, int64_t layer, int64_t element) {
  // The roles after kNumTensorRoles (experts) get ids of their own, far above the others, so
  // that no dense model's draws changed when they were added.
  const int r = static_cast<int>(role);
  const uint64_t tensor_id =
      r < kNumTensorRoles
          ? static_cast<uint64_t>(r) +
                static_cast<uint64_t>(kNumTensorRoles) * static_cast<uint64_t>(layer + 1)
          : (uint64_t{1} << 48) + static_cast<uint64_t>(r) +
                uint64_t{64} * static_cast<uint64_t>(layer + 1);
  const uint64_t stream = Mix(seed ^ Mix(tensor_id * kGolden + kGolden));
  return Mix(stream + (static_cast<uint64_t>(element) + 1) * kGolden);
}

// Uniform in [-1, 1) on a grid of 2^-23: the top 24 bits as a signed integer, converted and
// scaled exactly (|n| <= 2^23 is representable, the power-of-two scale is exact).
float Uniform(uint64_t bits) {
  const int64_t n = static_cast<int64_t>(bits >> 40) - (int64_t{1} << 23);
  return static_cast<float>(n) * 0x1p-23f;
}

// Approximately N(0, 1): the Irwin-Hall sum of four 16-bit uniforms, centred (an exact integer
// in [-131070, 131070]) and divided by its standard deviation. Bounded tails (|z| <= 3.46).
float NormalIsh(uint64_t bits) {
  int64_t sum = 0;
  for (int i = 0; i < 4; ++i) sum += static_cast<int64_t>((bits >> (16 * i)) & 0xFFFF);
  // Var of one uniform integer on [0, 65535] is (65536^2 - 1) / 12; four of them, 4x that.
  static const float kInvStd =
      static_cast<float>(1.0 / std::sqrt(4.0 * (65536.0 * 65536.0 - 1.0) / 12.0));
  return static_cast<float>(sum - 131070) * kInvStd;
}

// 1/sqrt(n) in double, rounded once to float: sqrt and division are correctly rounded in IEEE
// 754, so this is the same float everywhere.
float InvSqrt(int64_t n) { return static_cast<float>(1.0 / std::sqrt(static_cast<double>(n))); }

}  // namespace

float RandomInitValue(const ModelConfig& c, uint64_t seed, TensorRole role, int64_t layer,
                      int64_t index) {
  const uint64_t bits = Draw(seed, role, layer, index);
  switch (role) {
    case TensorRole::kTokenEmbedding: return NormalIsh(bits) * InvSqrt(c.dim);
    case TensorRole::kAttnNorm:
    case TensorRole::kFfnNorm:
    case TensorRole::kFinalNorm:
    case TensorRole::kQNorm:
    case TensorRole::kKNorm:
    case TensorRole::kPostAttnNorm:
    case TensorRole::kPostFfnNorm:
      // Gemma's norms multiply by 1 + w (model/arch.h): the same scales, held as w.
      return (GetArchInfo(c.arch).norm_plus_one ? 0.0f : 1.0f) + Uniform(bits) * 0.125f;
    case TensorRole::kWo: return Uniform(bits) * InvSqrt(c.n_heads * c.head_dim);
    case TensorRole::kDown: return Uniform(bits) * InvSqrt(c.ffn_dim);
    case TensorRole::kExpertsDown: return Uniform(bits) * InvSqrt(c.expert_ffn_dim);
    default: return Uniform(bits) * InvSqrt(c.dim);  // fan_in = dim (q/k/v, gate, up, lm_head)
  }
}

Result<ModelWeights> InitRandomModel(const ModelConfig& config, uint64_t seed, DType dtype) {
  return InitRandomModel(config, seed, WeightRecipe{dtype, false});
}

Result<ModelWeights> InitRandomModel(const ModelConfig& config, uint64_t seed,
                                     const WeightRecipe& recipe) {
  const std::string who = "random model";
  DETINFER_RETURN_IF_ERROR(config.Validate(who));
  DETINFER_RETURN_IF_ERROR(CheckArchFeatures(config, who));
  ModelWeights w;
  w.config = config;
  w.format = ModelFormat::kHuggingFace;
  w.source = "random:seed=" + std::to_string(seed);
  w.layers.resize(static_cast<size_t>(config.n_layers));
  for (const auto& [role, layer] : ListRoles(config)) {
    const std::vector<int64_t> shape = ExpectedShape(config, role);
    const DType stored = RecipeDType(recipe, role, layer, config.n_layers, shape.back());
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    auto buf = AlignedBuffer::Allocate(StorageBytes(stored, n));
    if (!buf.ok()) {
      return Status::ResourceExhausted("random model: cannot allocate " + EntryName(role, layer) +
                                       ": " + buf.status().message());
    }
    void* data = buf->data();
    // Row by row: the f32 draws, then the one conversion rule of the stored format (a block
    // format's quantiser is row-local, so the bytes do not depend on how rows are grouped).
    const int64_t row_len = shape.back();
    std::vector<float> row(static_cast<size_t>(row_len));
    for (int64_t r = 0; r < n / std::max<int64_t>(row_len, 1); ++r) {
      for (int64_t i = 0; i < row_len; ++i) {
        row[static_cast<size_t>(i)] = RandomInitValue(config, seed, role, layer, r * row_len + i);
      }
      ConvertFromF32(row.data(), stored, static_cast<uint8_t*>(data) + StorageBytes(stored, r * row_len),
                     static_cast<size_t>(row_len));
    }
    TensorView& slot = *MutableViewOf(w, role, layer);
    slot = shape.size() == 1   ? TensorView::Contiguous(data, stored, {shape[0]})
           : shape.size() == 2 ? TensorView::Contiguous(data, stored, {shape[0], shape[1]})
                               : TensorView::Contiguous(data, stored, {shape[0], shape[1], shape[2]});
    w.owned.push_back(std::move(buf).value());
  }
  if (config.tied_embeddings) w.lm_head = w.token_embedding;
  return w;
}

}  // namespace detinfer
