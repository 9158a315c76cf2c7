#include "server/rl_request.h"

#include <array>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

namespace detinfer::server {

namespace {

using Json = nlohmann::json;

// sampling_params' names (SGLang's) -> the completions request's (OpenAI's). The rest of
// SGLang's sampling params are not supported and are reported as ignored.
const std::map<std::string, std::string>& SamplingParamNames() {
  static const std::map<std::string, std::string> kNames = {
      {"max_new_tokens", "max_tokens"},
      {"temperature", "temperature"},
      {"top_p", "top_p"},
      {"top_k", "top_k"},
      {"min_p", "min_p"},
      {"min_new_tokens", "min_tokens"},
      {"repetition_penalty", "repetition_penalty"},
      {"presence_penalty", "presence_penalty"},
      {"frequency_penalty", "frequency_penalty"},
      {"seed", "seed"},
      {"sampling_seed", "seed"},
      {"stop", "stop"},
      {"stop_token_ids", "stop_token_ids"},
      {"ignore_eos", "ignore_eos"},
      {"skip_special_tokens", "skip_special_tokens"},
      {"n", "n"}};
  return kNames;
}

void ReplaceAll(std::string& s, const std::string& from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

// An error of the translated completions request, naming the /generate field it came from.
ApiError RenamedError(ApiError e, const std::map<std::string, std::string>& completion_to_generate) {
  const auto it = completion_to_generate.find(e.param);
  if (it == completion_to_generate.end()) return e;
  ReplaceAll(e.message, "'" + it->first + "'", "'" + it->second + "'");
  e.param = it->second;
  return e;
}

// input_ids: a non-empty list of ids, or a non-empty list of such lists (a batch).
std::optional<ApiError> CheckInputIds(const Json& v, bool* batch) {
  const auto bad = [] {
    return ParamError("input_ids",
                      "'input_ids' must be a non-empty list of token ids, or a non-empty list of "
                      "such lists");
  };
  if (!v.is_array() || v.empty()) return bad();
  *batch = v[0].is_array();
  for (size_t i = 0; i < v.size(); ++i) {
    if (*batch != v[i].is_array()) return bad();
    if (*batch && v[i].empty()) {
      return ParamError("input_ids", "'input_ids[" + std::to_string(i) + "]' is empty (no tokens)");
    }
  }
  return std::nullopt;
}

std::optional<ApiError> GenerateFields(const Json& j, const ParseLimits& limits,
                                       GenerateRequest* out) {
  Json completion = Json::object();
  std::map<std::string, std::string> renamed = {{"prompt", "input_ids"}};
  bool have_ids = false;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const Json& v = it.value();
    if (key == "input_ids") {
      if (auto e = CheckInputIds(v, &out->batch)) return e;
      completion["prompt"] = v;
      have_ids = true;
    } else if (key == "text") {
      if (!v.is_null()) {
        return ParamError("text",
                          "'text' is not taken by /generate (token ids in, token ids out): send "
                          "'input_ids', or the text to /v1/completions");
      }
    } else if (key == "sampling_params") {
      if (v.is_null()) continue;
      if (!v.is_object()) return ParamError(key, "'sampling_params' must be an object");
      for (auto p = v.begin(); p != v.end(); ++p) {
        const auto name = SamplingParamNames().find(p.key());
        if (name == SamplingParamNames().end()) {
          out->ignored_fields.push_back("sampling_params." + p.key());
          continue;
        }
        if (completion.contains(name->second)) {
          return ParamError("sampling_params." + p.key(), "'sampling_params." + p.key() +
                                                              "' is given twice (as '" + p.key() +
                                                              "' and under another name)");
        }
        completion[name->second] = p.value();
        renamed[name->second] = "sampling_params." + p.key();
        if (p.key() == "max_new_tokens" && !p.value().is_null()) out->max_new_tokens_given = true;
      }
    } else if (key == "return_logprob") {
      if (v.is_null()) continue;
      if (!v.is_boolean()) return ParamError(key, "'return_logprob' must be true or false");
      out->return_logprob = v.get<bool>();
    } else if (key == "top_logprobs_num") {
      if (v.is_null()) continue;
      completion["logprobs"] = v;
      renamed["logprobs"] = "top_logprobs_num";
    } else if (key == "stream") {
      if (!v.is_null() && v != false) {
        return ParamError("stream",
                          "'stream' is not supported on /generate; stream from /v1/completions");
      }
    } else if (key == "model") {
      completion["model"] = v;
    } else if (key == "receipt") {  // ours, as on /v1/completions: meta_info.receipt
      completion["receipt"] = v;
    } else {
      out->ignored_fields.push_back(key);
    }
  }
  if (!have_ids) return ParamError("input_ids", "'input_ids' is required");
  if (out->batch && j["input_ids"].size() > limits.max_prompts) {
    return ParamError("input_ids", "'input_ids' lists " + std::to_string(j["input_ids"].size()) +
                                       " prompts; at most " + std::to_string(limits.max_prompts) +
                                       " are accepted");
  }
  if (auto e = ParseCompletionRequest(completion.dump(), ApiKind::kCompletion, limits,
                                      &out->completion)) {
    return RenamedError(*e, renamed);
  }
  return std::nullopt;
}

// A body that may be empty (POST with no JSON at all means "defaults").
std::optional<ApiError> ParseOptionalObject(std::string_view body, const ParseLimits& limits,
                                            Json* out) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    *out = Json::object();
    return std::nullopt;
  }
  return ParseJsonObject(body, limits, out);
}

std::optional<ApiError> TensorField(const Json& t, size_t index, TensorPayload* out) {
  const std::string at = "tensors[" + std::to_string(index) + "]";
  if (!t.is_object())
    return ParamError(at, "'" + at + "' must be an object {name, dtype, shape, data}");
  if (!t.contains("name") || !t["name"].is_string() || t["name"].get<std::string>().empty()) {
    return ParamError(at + ".name", "'" + at + ".name' must be the tensor's Hugging Face name");
  }
  out->name = t["name"].get<std::string>();
  const std::string who = at + " ('" + out->name + "')";
  if (!t.contains("dtype") || !t["dtype"].is_string()) {
    return ParamError(at + ".dtype", "'" + at + ".dtype' of " + who +
                                         " must be a string such as \"f32\" or \"bf16\"");
  }
  std::string dtype = t["dtype"].get<std::string>();
  if (dtype.rfind("torch.", 0) == 0) dtype = dtype.substr(6);  // as str(tensor.dtype) prints it
  auto parsed = ParseDType(dtype);
  if (!parsed.ok()) return ParamError(at + ".dtype", who + ": " + parsed.status().message());
  out->dtype = *parsed;
  if (!t.contains("shape") || !t["shape"].is_array()) {
    return ParamError(at + ".shape", "'" + at + ".shape' of " + who + " must be a list of sizes");
  }
  for (const Json& d : t["shape"]) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0) {
      return ParamError(at + ".shape", "'" + at + ".shape' of " + who +
                                           " must hold non-negative integers, got " + d.dump());
    }
    out->shape.push_back(d.get<int64_t>());
  }
  if (!t.contains("data") || !t["data"].is_string()) {
    return ParamError(at + ".data",
                      "'" + at + ".data' of " + who +
                          " must be a string: the row-major little-endian bytes, base64");
  }
  size_t where = 0;
  auto bytes = DecodeBase64(t["data"].get<std::string>(), &where);
  if (!bytes) {
    return ParamError(at + ".data", "'" + at + ".data' of " + who + " is not base64 (character " +
                                        std::to_string(where) + ")");
  }
  out->bytes = std::move(*bytes);
  for (auto it = t.begin(); it != t.end(); ++it) {
    if (it.key() != "name" && it.key() != "dtype" && it.key() != "shape" && it.key() != "data") {
      return ParamError(at + "." + it.key(),
                        "'" + at + "." + it.key() + "' of " + who +
                            " is not a tensor field (name, dtype, shape, data)");
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::vector<uint8_t>> DecodeBase64(std::string_view text, size_t* where) {
  static const std::array<int8_t, 256> kValue = [] {
    std::array<int8_t, 256> v{};
    v.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) v[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
    return v;
  }();
  size_t end = text.size();
  while (end > 0 && text[end - 1] == '=' && text.size() - end < 2) --end;
  std::vector<uint8_t> out;
  out.reserve(end / 4 * 3 + 3);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < end; ++i) {
    const int8_t v = kValue[static_cast<unsigned char>(text[i])];
    if (v < 0) {
      *where = i;
      return std::nullopt;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((acc >> bits) & 0xffu));
    }
  }
  // A lone sixth-bit group cannot end a byte string: "A" or "AAAAA" is truncated.
  if (end % 4 == 1) {
    *where = end - 1;
    return std::nullopt;
  }
  return out;
}

ApiError AsGenerateError(ApiError e) {
  if (e.param.rfind("prompt", 0) == 0) {
    e.param = "input_ids" + e.param.substr(6);
    ReplaceAll(e.message, "'prompt", "'input_ids");
  } else if (e.param == "max_tokens") {
    e.param = "sampling_params.max_new_tokens";
    ReplaceAll(e.message, "max_tokens", "max_new_tokens");
  }
  return e;
}

std::optional<ApiError> ParseGenerateRequest(std::string_view body, const ParseLimits& limits,
                                             GenerateRequest* out) {
  try {
    Json j;
    if (auto e = ParseJsonObject(body, limits, &j)) return e;
    *out = GenerateRequest{};
    return GenerateFields(j, limits, out);
  } catch (const std::exception& ex) {
    return ParamError("", std::string("malformed request: ") + ex.what());
  }
}

std::optional<ApiError> ParseUpdateFromDiskRequest(std::string_view body,
                                                   const ParseLimits& limits, std::string* path,
                                                   std::vector<std::string>* ignored) {
  try {
    Json j;
    if (auto e = ParseJsonObject(body, limits, &j)) return e;
    bool have_path = false;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "model_path") {
        if (!it.value().is_string() || it.value().get<std::string>().empty()) {
          return ParamError("model_path",
                            "'model_path' must be a model file or directory (a string)");
        }
        *path = it.value().get<std::string>();
        have_path = true;
      } else {
        ignored->push_back(it.key());
      }
    }
    if (!have_path) return ParamError("model_path", "'model_path' is required");
    return std::nullopt;
  } catch (const std::exception& ex) {
    return ParamError("", std::string("malformed request: ") + ex.what());
  }
}

std::optional<ApiError> ParseUpdateFromTensorRequest(std::string_view body,
                                                     const ParseLimits& limits,
                                                     std::vector<TensorPayload>* tensors,
                                                     std::vector<std::string>* ignored) {
  try {
    Json j;
    if (auto e = ParseJsonObject(body, limits, &j)) return e;
    bool have_tensors = false;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() != "tensors") {
        ignored->push_back(it.key());
        continue;
      }
      const Json& list = it.value();
      if (!list.is_array() || list.empty()) {
        return ParamError("tensors",
                          "'tensors' must be a non-empty list of {name, dtype, shape, data}");
      }
      for (size_t i = 0; i < list.size(); ++i) {
        TensorPayload t;
        if (auto e = TensorField(list[i], i, &t)) return e;
        tensors->push_back(std::move(t));
      }
      have_tensors = true;
    }
    if (!have_tensors) return ParamError("tensors", "'tensors' is required");
    return std::nullopt;
  } catch (const std::exception& ex) {
    return ParamError("", std::string("malformed request: ") + ex.what());
  }
}

std::optional<ApiError> ParsePauseRequest(std::string_view body, const ParseLimits& limits,
                                          Engine::PauseMode* mode,
                                          std::vector<std::string>* ignored) {
  try {
    Json j;
    if (auto e = ParseOptionalObject(body, limits, &j)) return e;
    *mode = Engine::PauseMode::kAbort;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() != "mode") {
        ignored->push_back(it.key());
        continue;
      }
      const Json& v = it.value();
      if (v.is_null()) continue;
      const std::string m = v.is_string() ? v.get<std::string>() : v.dump();
      if (m == "abort") {
        *mode = Engine::PauseMode::kAbort;
      } else if (m == "retract") {
        *mode = Engine::PauseMode::kRetract;
      } else if (m == "in_place") {
        *mode = Engine::PauseMode::kInPlace;
      } else {
        return ParamError("mode", "'mode' is '" + m + "'; expected abort, retract or in_place");
      }
    }
    return std::nullopt;
  } catch (const std::exception& ex) {
    return ParamError("", std::string("malformed request: ") + ex.what());
  }
}

}  // namespace detinfer::server
