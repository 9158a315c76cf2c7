#include "model/rope_scaling.h"

#include <algorithm>
#include <cmath>
#include <utility>

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

// A list of n positive finite numbers (longrope's factors).
Status GetFactors(const nlohmann::json& obj, const char* key, int64_t n, const std::string& src,
                  std::vector<double>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_array() || static_cast<int64_t>(it->size()) != n) {
    std::string msg = src;
    msg += ": rope scaling \"";
    msg += key;
    msg += "\" must be a list of ";
    msg += std::to_string(n);
    msg += " numbers (rotary_dim / 2), got ";
    msg += it == obj.end() ? std::string("nothing") : it->dump();
    return Status::InvalidArgument(msg);
  }
  out->clear();
  for (const auto& v : *it) {
    if (!v.is_number() || !(v.get<double>() > 0) || !std::isfinite(v.get<double>())) {
      std::string msg = src;
      msg += ": rope scaling \"";
      msg += key;
      msg += "\" has ";
      msg += v.dump();
      msg += " (each must be a positive number)";
      return Status::InvalidArgument(msg);
    }
    out->push_back(v.get<double>());
  }
  return Status::Ok();
}

}  // namespace

std::string_view RopeScalingName(RopeScaling::Kind kind) {
  switch (kind) {
    case RopeScaling::Kind::kNone: return "none";
    case RopeScaling::Kind::kLinear: return "linear";
    case RopeScaling::Kind::kLlama3: return "llama3";
    case RopeScaling::Kind::kFreqFactors: return "rope_freqs";
    case RopeScaling::Kind::kLongRope: return "longrope";
    case RopeScaling::Kind::kYarn: return "yarn";
  }
  return "?";
}

double PortableLn(double x) {
  // x = m * 2^e with m in [0.5, 1) (frexp is exact); ln m = 2 atanh(z), z = (m - 1) / (m + 1)
  // in [-1/3, 0): the odd series to z^79 is below 1e-38 of its sum.
  int e = 0;
  const double m = std::frexp(x, &e);
  const double z = (m - 1.0) / (m + 1.0), z2 = z * z;
  double sum = 0.0, power = z;
  for (int k = 0; k < 40; ++k) {
    sum = sum + power / double(2 * k + 1);
    power = power * z2;
  }
  constexpr double kLn2 = 0.6931471805599453;
  return double(e) * kLn2 + 2.0 * sum;
}

Result<RopeScaling> ParseHfRopeScaling(const nlohmann::json& obj, int64_t head_dim, double theta,
                                       const std::string& src, int64_t max_positions,
                                       int64_t config_original_max_positions) {
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
  } else if (type == "longrope" || type == "su") {
    s.kind = RopeScaling::Kind::kLongRope;
    DETINFER_RETURN_IF_ERROR(GetFactors(obj, "short_factor", head_dim / 2, src, &s.short_factor));
    DETINFER_RETURN_IF_ERROR(GetFactors(obj, "long_factor", head_dim / 2, src, &s.long_factor));
    known.insert(known.end(), {"short_factor", "long_factor", "factor", "attention_factor",
                               "original_max_position_embeddings"});
    // transformers: a top-level original_max_position_embeddings (Phi-3's) makes factor the
    // context ratio; without one the original is the context itself and factor is read here.
    double factor = 1.0;
    if (config_original_max_positions > 0) {
      s.original_max_positions = config_original_max_positions;
      factor = double(max_positions) / double(config_original_max_positions);
    } else {
      s.original_max_positions = max_positions;
      if (obj.contains("factor")) DETINFER_RETURN_IF_ERROR(GetPositive(obj, "factor", src, &factor));
    }
    s.factor = factor;
    if (obj.contains("attention_factor") && !obj["attention_factor"].is_null()) {
      DETINFER_RETURN_IF_ERROR(GetPositive(obj, "attention_factor", src, &s.attention_factor));
    } else if (factor > 1.0 && s.original_max_positions > 1) {
      s.attention_factor =
          std::sqrt(1.0 + PortableLn(factor) / PortableLn(double(s.original_max_positions)));
    }
    // Held in fp32, as transformers multiplies its fp32 cos/sin by it and a GGUF file stores
    // it: the model then has one attention factor whichever file it came from.
    s.attention_factor = static_cast<float>(s.attention_factor);
  } else if (type == "yarn") {
    s.kind = RopeScaling::Kind::kYarn;
    DETINFER_RETURN_IF_ERROR(GetPositive(obj, "factor", src, &s.factor));
    known.insert(known.end(), {"factor", "original_max_position_embeddings", "attention_factor",
                               "mscale", "mscale_all_dim", "beta_fast", "beta_slow", "truncate"});
    const auto given = [&](const char* key) { return obj.contains(key) && !obj[key].is_null(); };
    if (given("original_max_position_embeddings")) {
      double original = 0;
      DETINFER_RETURN_IF_ERROR(GetPositive(obj, "original_max_position_embeddings", src, &original));
      if (original != std::floor(original) || original > 1e9) {
        return Status::InvalidArgument(src + ": rope scaling original_max_position_embeddings must "
                                       "be a whole number of positions");
      }
      s.original_max_positions = static_cast<int64_t>(original);
      s.original_in_config = true;
      if (max_positions <= 0) {
        return Status::InvalidArgument(src + ": yarn with original_max_position_embeddings needs "
                                       "max_position_embeddings");
      }
      s.factor = double(max_positions) / original;  // transformers recomputes it so
    } else {
      if (max_positions <= 0) {
        return Status::InvalidArgument(src + ": yarn needs original_max_position_embeddings or "
                                       "max_position_embeddings");
      }
      s.original_max_positions = max_positions;
    }
    // transformers reads beta_fast / beta_slow with `or`: absent, null or 0 means the default.
    for (auto [key, field] : {std::pair{"beta_fast", &s.beta_fast}, {"beta_slow", &s.beta_slow}}) {
      if (given(key) && !(obj[key].is_number() && obj[key].get<double>() == 0.0)) {
        DETINFER_RETURN_IF_ERROR(GetPositive(obj, key, src, field));
      }
    }
    if (given("truncate")) {
      if (!obj["truncate"].is_boolean()) {
        return Status::InvalidArgument(src + ": rope scaling \"truncate\" must be true or false, got " +
                                       obj["truncate"].dump());
      }
      s.truncate = obj["truncate"].get<bool>();
    }
    const auto mscale_of = [](double scale, double m) {
      return scale <= 1.0 ? 1.0 : 0.1 * m * PortableLn(scale) + 1.0;
    };
    if (given("attention_factor")) {
      DETINFER_RETURN_IF_ERROR(GetPositive(obj, "attention_factor", src, &s.attention_factor));
    } else {
      double mscale = 0, mscale_all_dim = 0;
      if (given("mscale")) DETINFER_RETURN_IF_ERROR(GetPositive(obj, "mscale", src, &mscale));
      if (given("mscale_all_dim")) {
        DETINFER_RETURN_IF_ERROR(GetPositive(obj, "mscale_all_dim", src, &mscale_all_dim));
      }
      s.attention_factor = mscale > 0 && mscale_all_dim > 0
                               ? mscale_of(s.factor, mscale) / mscale_of(s.factor, mscale_all_dim)
                               : mscale_of(s.factor, 1.0);
    }
    s.attention_factor = static_cast<float>(s.attention_factor);  // fp32, as for longrope
  } else if (type == "dynamic") {
    return Status::Unsupported(
        src + ": rope scaling type 'dynamic' (NTK) is not supported: it rescales the frequencies "
              "as a sequence grows past max_position_embeddings, so a token's bits would depend "
              "on how long its sequence was when it was computed (prefill vs decode, chunking). "
              "Supported: linear, llama3, longrope, yarn");
  } else {
    return Status::Unsupported(src + ": rope scaling type '" + type +
                               "' is not supported (linear, llama3, longrope, yarn)");
  }
  // A field this kind does not read (yarn's beta_fast under "linear", a typo) is refused: it
  // may mean the file's model is not the one these parameters describe.
  for (const auto& [key, value] : obj.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return Status::Unsupported(src + ": rope scaling field \"" + key + "\" (= " + value.dump() +
                                 ") is not used by type '" + type + "'");
    }
  }
  DETINFER_RETURN_IF_ERROR(ComputeRopeDivisors(head_dim, theta, &s, max_positions));
  return s;
}

Status ComputeRopeDivisors(int64_t head_dim, double theta, RopeScaling* s,
                           int64_t max_positions) {
  s->divisors.clear();
  if (s->kind == RopeScaling::Kind::kNone || s->kind == RopeScaling::Kind::kFreqFactors) {
    return Status::Ok();
  }
  if (s->kind == RopeScaling::Kind::kLongRope) {
    // The fixed rule (rope_scaling.h): by the context the model runs, never the sequence.
    const std::vector<double>& f =
        max_positions > s->original_max_positions ? s->long_factor : s->short_factor;
    for (const double v : f) s->divisors.push_back(static_cast<float>(v));
    return Status::Ok();
  }
  const int64_t half = head_dim / 2;
  s->divisors.resize(static_cast<size_t>(half));
  double low = 0, high = 0;  // yarn's ramp (rope_scaling.h)
  if (s->kind == RopeScaling::Kind::kYarn) {
    const double dim = double(head_dim), ln_base = PortableLn(theta);
    const auto correction_dim = [&](double rotations) {
      return dim * PortableLn(double(s->original_max_positions) / (rotations * kTwoPi)) /
             (2.0 * ln_base);
    };
    low = correction_dim(s->beta_fast);
    high = correction_dim(s->beta_slow);
    if (s->truncate) low = std::floor(low), high = std::ceil(high);
    low = std::max(low, 0.0);
    high = std::min(high, dim - 1.0);
    if (low == high) high += 0.001;  // transformers: "prevent singularity"
  }
  for (int64_t i = 0; i < half; ++i) {
    double d = s->factor;
    if (s->kind == RopeScaling::Kind::kYarn) {
      const double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
      d = 1.0 / (ramp / s->factor + (1.0 - ramp));
    }
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
    case RopeScaling::Kind::kLongRope: {
      // The top-level original_max_position_embeddings (Phi-3's) goes in config.json itself.
      nlohmann::json j{{"rope_type", "longrope"},
                       {"short_factor", s.short_factor},
                       {"long_factor", s.long_factor},
                       {"attention_factor", s.attention_factor}};
      return j;
    }
    case RopeScaling::Kind::kYarn: {
      // factor and attention_factor as used, so the file reads back to the same divisors.
      nlohmann::json j{{"rope_type", "yarn"},       {"factor", s.factor},
                       {"beta_fast", s.beta_fast},  {"beta_slow", s.beta_slow},
                       {"truncate", s.truncate},    {"attention_factor", s.attention_factor}};
      if (s.original_in_config) j["original_max_position_embeddings"] = s.original_max_positions;
      return j;
    }
    case RopeScaling::Kind::kFreqFactors:
      break;
  }
  return Status::Unsupported("RoPE frequency factors from a GGUF file (rope_freqs.weight) have no "
                             "config.json form; write the model as GGUF");
}

}  // namespace detinfer
