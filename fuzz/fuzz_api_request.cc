// HTTP request bodies of the server (/v1/completions, /v1/chat/completions, /v1/score,
// /tokenize, /detokenize, and the RL endpoints /generate, /update_weights_from_disk,
// /update_weights_from_tensor, /pause_generation): byte 0 picks the endpoint, the rest is the body. Any input must give either a request within the
// parse limits or an error naming a field, never an exception, a crash or an over-read.
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "server/api_request.h"
#include "server/rl_request.h"

using namespace detinfer;
using server::ApiKind;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  const server::ParseLimits limits;
  const int endpoint = data[0] % 9;
  if (endpoint == 5) {
    server::GenerateRequest g;
    const auto err = server::ParseGenerateRequest(body, limits, &g);
    if (err && err->message.empty()) fuzz::Fail("generate: error without a message");
    if (!err && g.completion.prompts.empty()) fuzz::Fail("generate: accepted without input_ids");
    if (!err && g.completion.prompts.size() > limits.max_prompts) {
      fuzz::Fail("generate: more prompts than the limit accepted");
    }
    return 0;
  }
  if (endpoint == 6 || endpoint == 8) {
    std::vector<std::string> ignored;
    std::string path;
    Engine::PauseMode mode;
    const auto err = endpoint == 6
                         ? server::ParseUpdateFromDiskRequest(body, limits, &path, &ignored)
                         : server::ParsePauseRequest(body, limits, &mode, &ignored);
    if (err && err->message.empty()) fuzz::Fail("update/pause: error without a message");
    if (!err && endpoint == 6 && path.empty()) fuzz::Fail("update from disk: an empty path accepted");
    return 0;
  }
  if (endpoint == 7) {
    std::vector<server::TensorPayload> tensors;
    std::vector<std::string> ignored;
    const auto err = server::ParseUpdateFromTensorRequest(body, limits, &tensors, &ignored);
    if (err) {
      if (err->message.empty()) fuzz::Fail("update from tensor: error without a message");
      return 0;
    }
    for (const server::TensorPayload& t : tensors) {
      if (t.name.empty()) fuzz::Fail("update from tensor: a tensor without a name accepted");
    }
    return 0;
  }
  if (endpoint == 3) {
    server::TokenizeRequest r;
    const auto err = server::ParseTokenizeRequest(body, limits, &r);
    if (err && err->message.empty()) fuzz::Fail("tokenize: error without a message");
    if (!err && r.is_chat && r.chat.raw.size() != r.chat.messages.size()) {
      fuzz::Fail("tokenize: the ordered messages differ from the checked ones");
    }
    return 0;
  }
  if (endpoint == 4) {
    server::DetokenizeRequest r;
    const auto err = server::ParseDetokenizeRequest(body, limits, &r);
    if (err && err->message.empty()) fuzz::Fail("detokenize: error without a message");
    return 0;
  }
  if (endpoint == 2) {
    server::ScoreRequest r;
    const auto err = server::ParseScoreRequest(body, limits, &r);
    if (err && err->message.empty()) fuzz::Fail("score: error without a message");
    return 0;
  }
  server::CompletionRequest r;
  const ApiKind kind = endpoint == 0 ? ApiKind::kCompletion : ApiKind::kChat;
  const auto err = server::ParseCompletionRequest(body, kind, limits, &r);
  if (err) {
    if (err->message.empty()) fuzz::Fail("completion: error without a message");
    return 0;
  }
  if (r.prompts.size() > limits.max_prompts) fuzz::Fail("more prompts than the limit accepted");
  if (r.stop.size() > limits.max_stops) fuzz::Fail("more stop strings than the limit accepted");
  if (r.chat.messages.size() > limits.max_messages) {
    fuzz::Fail("more messages than the limit accepted");
  }
  if (r.top_logprobs > limits.max_top_logprobs) fuzz::Fail("top_logprobs above the limit accepted");
  if (kind == ApiKind::kChat && r.chat.messages.empty()) fuzz::Fail("chat request without messages");
  if (kind == ApiKind::kChat && r.chat.raw.size() != r.chat.messages.size()) {
    fuzz::Fail("the ordered messages differ from the checked ones");
  }
  return 0;
}
