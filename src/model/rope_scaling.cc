#include "model/rope_scaling.h"

#include <cmath>

#include "core/portable_math.h"

namespace detinfer {

namespace {

constexpr double kTwoPi = 6.283185307179586;  // 2 * math.pi, as transformers computes it

Status GetPositive(const nlohmann::json& obj, const char* key, const std::string& src,
                   double* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    return Status::InvalidArgument(src + ": rope scaling needs \"" + key + "\"");
  }
  if (!it->is_number() || !(it->get<double>() > 0) || !std::isfinite(it->get<double>())) {
    return Status::InvalidArgument(src + ": rope scaling \"" + key +
                                   "\" must be a positive number, got " + it->dump());
  }
  *out = it->get<double>();
  return Status::Ok();
}

}  // namespace

std::string_view RopeScalingName(RopeScaling::Kind kind) {
  switch (kind) {
    case RopeScaling::Kind::kNone: return "none";
    case RopeScaling::Kind::kLinear: return "linear";
    case RopeScaling::Kind::kLlama3: return "llama3";
    case RopeScaling::Kind::kFreqFactors: return "rope_freqs";
  }
  return "?";
}

Result<RopeScaling> ParseHfRopeScaling(const nlohmann::json& obj, int64_t head_dim, double theta,
                                       const std::string& src) {
  RopeScaling s;
  if (obj.is_null()) return s;
  if (!obj.is_object()) {
    return Status::InvalidArgument(src + ": rope scaling must be an object, got " + obj.dump());
  }
  // transformers reads "rope_type", and "type" in older files.
  auto type_it = obj.find("rope_type");
  if (type_it == obj.end()) type_it = obj.find("type");
  if (type_it == obj.end() || !type_it->is_string()) {
    return Status::InvalidArgument(src + ": rope scaling " + obj.dump() + " names no rope_type");
  }
  const std::string type = type_it->get<std::string>();
  std::vector<std::string> known = {"rope_type", "type"};
  if (type == "default") {
    s.kind = RopeScaling::Kind::kNone;
  } else if (type == "linear") {
    s.kind = RopeScaling::Kind::kLinear;
    DETINFER_RETURN_IF_ERROR(GetPositive(obj, "factor", src, &s.factor));
    known.push_back("factor");
  } else if (type == "llama3") {
    s.kind = RopeScaling::Kind::kLlama3;
    double original = 0;
    DETINFER_RETURN_IF_ERROR(GetPositive(obj, "factor", src, &s.factor));
    DETINFER_RETURN_IF_ERROR(GetPositive(obj, "low_freq_factor", src, &s.low_freq_factor));
    DETINFER_RETURN_IF_ERROR(GetPositive(obj, "high_freq_factor", src, &s.high_freq_factor));
    DETINFER_RETURN_IF_ERROR(GetPositive(obj, "original_max_position_embeddings", src, &original));
    if (!(s.high_freq_factor > s.low_freq_factor)) {
      return Status::InvalidArgument(src + ": rope scaling high_freq_factor " +
                                     std::to_string(s.high_freq_factor) +
                                     " must exceed low_freq_factor " +
                                     std::to_string(s.low_freq_factor));
    }
    if (original != std::floor(original) || original > 1e9) {
      return Status::InvalidArgument(src + ": rope scaling original_max_position_embeddings must "
                                     "be a whole number of positions");
    }
    s.original_max_positions = static_cast<int64_t>(original);
    known.insert(known.end(), {"factor", "low_freq_factor", "high_freq_factor",
                               "original_max_position_embeddings"});
  } else {
    return Status::Unsupported(src + ": rope scaling type '" + type +
                               "' is not supported (linear, llama3)");
  }
  // A field this kind does not read (yarn's beta_fast under "linear", a typo) is refused: it
  // may mean the file's model is not the one these parameters describe.
  for (const auto& [key, value] : obj.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return Status::Unsupported(src + ": rope scaling field \"" + key + "\" (= " + value.dump() +
                                 ") is not used by type '" + type + "'");
    }
  }
  DETINFER_RETURN_IF_ERROR(ComputeRopeDivisors(head_dim, theta, &s));
  return s;
}

Status ComputeRopeDivisors(int64_t head_dim, double theta, RopeScaling* s) {
  s->divisors.clear();
  if (s->kind == RopeScaling::Kind::kNone || s->kind == RopeScaling::Kind::kFreqFactors) {
    return Status::Ok();
  }
  const int64_t half = head_dim / 2;
  s->divisors.resize(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    double d = s->factor;
    if (s->kind == RopeScaling::Kind::kLlama3) {
      const double inv = PortablePow(theta, -double(2 * i) / double(head_dim));
      const double wavelen = kTwoPi / inv;
      const double original = double(s->original_max_positions);
      if (wavelen < original / s->high_freq_factor) {
        d = 1.0;
      } else if (wavelen > original / s->low_freq_factor) {
        d = s->factor;
      } else {
        const double smooth = (original / wavelen - s->low_freq_factor) /
                              (s->high_freq_factor - s->low_freq_factor);
        d = 1.0 / ((1.0 - smooth) / s->factor + smooth);
      }
    }
    s->divisors[size_t(i)] = static_cast<float>(d);
  }
  return Status::Ok();
}

Result<nlohmann::json> HfRopeScalingJson(const RopeScaling& s) {
  switch (s.kind) {
    case RopeScaling::Kind::kNone:
      return nlohmann::json(nullptr);
    case RopeScaling::Kind::kLinear:
      return nlohmann::json{{"rope_type", "linear"}, {"factor", s.factor}};
    case RopeScaling::Kind::kLlama3:
      return nlohmann::json{{"rope_type", "llama3"},
                            {"factor", s.factor},
                            {"low_freq_factor", s.low_freq_factor},
                            {"high_freq_factor", s.high_freq_factor},
                            {"original_max_position_embeddings", s.original_max_positions}};
    case RopeScaling::Kind::kFreqFactors:
      break;
  }
  return Status::Unsupported("RoPE frequency factors from a GGUF file (rope_freqs.weight) have no "
                             "config.json form; write the model as GGUF");
}

}  // namespace detinfer
