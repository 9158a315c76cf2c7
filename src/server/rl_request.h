// Bodies of SGLang's native endpoints for RL clients (docs/rl.md, "Server endpoints"), parsed
// and type-checked without a model. Pure functions of the body bytes, like api_request.h.
#ifndef DETINFER_SERVER_RL_REQUEST_H_
#define DETINFER_SERVER_RL_REQUEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "engine/engine.h"
#include "server/api_request.h"

namespace detinfer::server {

// POST /generate: token ids in, token ids out. Held as the completions request it equals
// (prompts = input_ids, sampling_params mapped to their OpenAI names), so /generate and
// /v1/completions run the very same engine requests.
struct GenerateRequest {
  CompletionRequest completion;
  bool max_new_tokens_given = false;  // else SGLang's default, 128, within the context
  bool return_logprob = false;
  bool batch = false;  // input_ids was a list of lists: one answer per prompt (and sample)
  std::vector<std::string> ignored_fields;
};

// POST /update_weights_from_tensor: one tensor, as sent (docs/rl.md).
struct TensorPayload {
  std::string name;  // Hugging Face name
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;  // decoded from base64
};

std::optional<ApiError> ParseGenerateRequest(std::string_view body, const ParseLimits& limits,
                                             GenerateRequest* out);
// An error of the completions request a /generate request runs as, naming the /generate field
// instead ("prompt[1]" -> "input_ids[1]", "max_tokens" -> "sampling_params.max_new_tokens").
ApiError AsGenerateError(ApiError e);

// {"model_path": "..."}.
std::optional<ApiError> ParseUpdateFromDiskRequest(std::string_view body,
                                                   const ParseLimits& limits, std::string* path,
                                                   std::vector<std::string>* ignored);
// {"tensors": [{"name", "dtype", "shape", "data"}, ...]}.
std::optional<ApiError> ParseUpdateFromTensorRequest(std::string_view body,
                                                     const ParseLimits& limits,
                                                     std::vector<TensorPayload>* tensors,
                                                     std::vector<std::string>* ignored);
// {"mode": "abort" | "retract" | "in_place"}; an empty body or no mode is abort (SGLang's).
std::optional<ApiError> ParsePauseRequest(std::string_view body, const ParseLimits& limits,
                                          Engine::PauseMode* mode,
                                          std::vector<std::string>* ignored);

// RFC 4648 base64 (standard alphabet, '=' padding optional) -> bytes; nullopt with `*where`
// set to the offset of the first bad character when it is not base64.
std::optional<std::vector<uint8_t>> DecodeBase64(std::string_view text, size_t* where);

}  // namespace detinfer::server

#endif  // DETINFER_SERVER_RL_REQUEST_H_
