// SGLang's native endpoints, so RL clients written for it work here (docs/rl.md, "Server
// endpoints"): token-in/token-out /generate, weight updates, pause/continue, flush, and the
// weight version. Updates and pauses are commands the engine thread runs between two steps
// (EngineLoop::Pause, ...): the handler thread waits for the engine's status and answers it.
#include <algorithm>

#include "server/rl_request.h"
#include "server/server_state.h"

namespace detinfer::server {

namespace {

const char* const kAdminPaths[] = {"/update_weights_from_disk", "/update_weights_from_tensor",
                                   "/pause_generation", "/continue_generation", "/flush_cache"};

// SGLang's answer shape ({"success", "message"}) with our error object beside it, so both
// kinds of client read it.
void SendCommandResult(httplib::Response& res, const State& st, const Status& status,
                       const std::string& done_message) {
  Json body = {{"success", status.ok()},
               {"status", status.ok() ? "ok" : "error"},
               {"message", status.ok() ? done_message : status.message()},
               {"weight_version", WeightVersionJson(st.loop->weight_version())},
               {"paused", st.loop->paused()}};
  if (status.ok()) {
    res.set_content(Dump(body), "application/json");
    return;
  }
  ApiError e = EngineError(status);
  // A refused update is the client's to fix (an unknown tensor, a file of another shape, a
  // read-only model): 400, and the old weights keep serving.
  if (status.code() == StatusCode::kNotFound || status.code() == StatusCode::kUnsupported ||
      status.code() == StatusCode::kIoError) {
    e.status = 400;
    e.type = "invalid_request_error";
  }
  body["error"] = ErrorJson(e)["error"];
  res.status = e.status;
  res.set_content(Dump(body), "application/json");
}

void HandleUpdateFromDisk(State& st, const httplib::Request& req, httplib::Response& res) {
  std::string path;
  std::vector<std::string> ignored;
  if (auto e = ParseUpdateFromDiskRequest(req.body, st.options.limits, &path, &ignored)) {
    SendError(res, *e);
    return;
  }
  WarnIgnored(res, ignored);
  const Status s = st.loop->UpdateWeightsFromDisk(path);
  SendCommandResult(res, st, s, "weights updated from " + path);
}

void HandleUpdateFromTensor(State& st, const httplib::Request& req, httplib::Response& res) {
  std::vector<TensorPayload> payloads;
  std::vector<std::string> ignored;
  if (auto e = ParseUpdateFromTensorRequest(req.body, st.options.limits, &payloads, &ignored)) {
    SendError(res, *e);
    return;
  }
  WarnIgnored(res, ignored);
  std::vector<NamedTensor> tensors;
  for (const TensorPayload& p : payloads) {
    tensors.push_back(NamedTensor{p.name, p.dtype, p.shape, p.bytes});
  }
  const Status s = st.loop->UpdateWeightsFromTensors(tensors);
  SendCommandResult(res, st, s,
                    "weights updated from " + std::to_string(tensors.size()) + " tensor(s)");
}

const char* PauseModeName(Engine::PauseMode mode) {
  switch (mode) {
    case Engine::PauseMode::kAbort: return "abort";
    case Engine::PauseMode::kRetract: return "retract";
    case Engine::PauseMode::kInPlace: return "in_place";
  }
  return "?";
}

void HandlePause(State& st, const httplib::Request& req, httplib::Response& res) {
  Engine::PauseMode mode = Engine::PauseMode::kAbort;
  std::vector<std::string> ignored;
  if (auto e = ParsePauseRequest(req.body, st.options.limits, &mode, &ignored)) {
    SendError(res, *e);
    return;
  }
  WarnIgnored(res, ignored);
  const Status s = st.loop->Pause(mode);
  SendCommandResult(res, st, s,
                    std::string("generation paused (mode ") + PauseModeName(mode) +
                        "); POST /continue_generation resumes it");
}

// SGLang's finish_reason object: {"type": "length", "length": n}, {"type": "stop", "matched":
// id}, {"type": "abort", "message": ...}.
Json FinishReasonObject(const CompletionRequest& req, const RequestResult& r) {
  const std::string type = FinishReasonText(r.finish);
  Json f = {{"type", type}};
  if (type == "length") {
    f["length"] = r.tokens.size();
  } else if (type == "stop") {
    // Without stop strings only a stop id can have ended it: the last token.
    const bool by_id = !r.tokens.empty() &&
                       (req.stop.empty() ||
                        std::find(req.stop_token_ids.begin(), req.stop_token_ids.end(),
                                  r.tokens.back()) != req.stop_token_ids.end());
    f["matched"] = by_id ? Json(r.tokens.back()) : Json(nullptr);
  } else if (type == "abort") {
    f["message"] = "aborted by POST /pause_generation";
  }
  return f;
}

// [[logprob, token id, null], ...]: SGLang's output_token_logprobs (the text slot is left
// null, as SGLang does without return_text_in_logprobs).
Json LogprobTriples(const std::vector<int32_t>& tokens, const std::vector<float>& lps) {
  Json out = Json::array();
  for (size_t i = 0; i < tokens.size() && i < lps.size(); ++i) {
    out.push_back(Json::array({lps[i], tokens[i], nullptr}));
  }
  return out;
}

Json GenerateAnswer(const State& st, const GenerateRequest& g, const CompletedChoice& c) {
  const RequestResult& r = c.result;
  Json meta = {{"id", r.id},
               {"finish_reason", FinishReasonObject(g.completion, r)},
               {"prompt_tokens", c.prompt.size()},
               {"completion_tokens", r.tokens.size()},
               {"cached_tokens", r.cached_tokens},
               {"weight_version", WeightVersionJson(r.weight_version)},
               {"fingerprint", Hex64(r.fingerprint)},
               {"system_fingerprint", ScheduleIdFor(st, r.weight_version)}};
  if (r.mixed_weights) meta["mixed_weights"] = true;
  if (g.completion.receipt) meta["receipt"] = c.receipt;
  if (g.return_logprob) {
    meta["output_token_logprobs"] = LogprobTriples(r.tokens, r.logprobs);
    // Our extension: the same under the distribution the token was drawn from (docs/rl.md).
    meta["output_token_sampling_logprobs"] = LogprobTriples(r.tokens, r.sampling_logprobs);
    if (g.completion.top_logprobs > 0) {
      Json tops = Json::array();
      for (const std::vector<TokenLogprob>& alts : r.top_logprobs) {
        Json one = Json::array();
        for (const TokenLogprob& t : alts) one.push_back(Json::array({t.logprob, t.token, nullptr}));
        tops.push_back(one);
      }
      meta["output_top_logprobs"] = tops;
    }
  }
  return {{"text", r.text}, {"output_ids", r.tokens}, {"meta_info", meta}};
}

// SGLang's default max_new_tokens (128), within what the context and the KV cache leave after
// the longest prompt.
int32_t DefaultMaxNewTokens(const State& st, const CompletionRequest& req) {
  const int64_t capacity =
      st.engine->cache().num_blocks() * st.engine->cache().config().block_size;
  int64_t fits = 128;
  for (const PromptInput& p : req.prompts) {
    const int64_t len = static_cast<int64_t>(p.ids.size());
    fits = std::min({fits, st.served.model->config().max_seq_len - len, capacity - len});
  }
  return static_cast<int32_t>(std::max<int64_t>(1, fits));
}

void HandleGenerate(State& st, const httplib::Request& req, httplib::Response& res) {
  GenerateRequest g;
  if (auto e = ParseGenerateRequest(req.body, st.options.limits, &g)) {
    SendError(res, *e);
    return;
  }
  WarnIgnored(res, g.ignored_fields);
  if (!g.max_new_tokens_given) g.completion.max_tokens = DefaultMaxNewTokens(st, g.completion);
  std::vector<CompletedChoice> choices;
  if (auto e = RunCompletionChoices(st, g.completion, res, &choices)) {
    SendError(res, AsGenerateError(*e));
    return;
  }
  // One prompt and one sample: an object, as SGLang answers; else a list, prompt-major.
  if (!g.batch && choices.size() == 1) {
    res.set_content(Dump(GenerateAnswer(st, g, choices[0])), "application/json");
    return;
  }
  Json list = Json::array();
  for (const CompletedChoice& c : choices) list.push_back(GenerateAnswer(st, g, c));
  res.set_content(Dump(list), "application/json");
}

}  // namespace

bool IsAdminPath(const std::string& path) {
  return std::any_of(std::begin(kAdminPaths), std::end(kAdminPaths),
                     [&](const char* p) { return path == p; });
}

std::optional<ApiError> AdminKeyError(const State& st, const httplib::Request& req) {
  ApiError e;
  if (st.options.admin_key.empty()) {
    e.status = 403;
    e.type = "permission_error";
    e.code = "admin_disabled";
    e.message = req.path +
                " is disabled: it changes what is served, so it needs an admin key. Start the "
                "server with --admin-key KEY (or the DETINFER_ADMIN_KEY environment variable) "
                "and send 'Authorization: Bearer KEY'";
    return e;
  }
  if (KeyMatches(req.get_header_value("Authorization"), st.options.admin_key)) {
    return std::nullopt;
  }
  e.status = 401;
  e.code = "invalid_admin_key";
  e.message = req.has_header("Authorization")
                  ? req.path + " needs the admin key (Authorization: Bearer KEY); the key sent "
                               "is not it"
                  : req.path + " needs the admin key (Authorization: Bearer KEY)";
  return e;
}

std::string ScheduleIdFor(const State& st, const WeightVersion& version) {
  if (version.counter == 0 || !st.served.schedule_inputs) return st.served.schedule_id;
  ScheduleInputs inputs = *st.served.schedule_inputs;
  inputs.weight_hash = version.hash;
  return ScheduleId(inputs);
}

Json WeightVersionJson(const WeightVersion& version) {
  return {{"counter", version.counter}, {"hash", Hex64(version.hash)}};
}

void RlRoutes(State& st) {
  httplib::Server& h = st.http;
  h.Post("/generate", [&st](const httplib::Request& req, httplib::Response& res) {
    HandleGenerate(st, req, res);
  });
  h.Get("/get_weight_version", [&st](const httplib::Request&, httplib::Response& res) {
    const WeightVersion v = st.loop->weight_version();
    res.set_content(Dump({{"weight_version", WeightVersionJson(v)},
                          {"schedule_id", ScheduleIdFor(st, v)},
                          {"paused", st.loop->paused()}}),
                    "application/json");
  });
  h.Post("/update_weights_from_disk", [&st](const httplib::Request& req, httplib::Response& res) {
    HandleUpdateFromDisk(st, req, res);
  });
  h.Post("/update_weights_from_tensor",
         [&st](const httplib::Request& req, httplib::Response& res) {
           HandleUpdateFromTensor(st, req, res);
         });
  h.Post("/pause_generation", [&st](const httplib::Request& req, httplib::Response& res) {
    HandlePause(st, req, res);
  });
  h.Post("/continue_generation", [&st](const httplib::Request&, httplib::Response& res) {
    SendCommandResult(res, st, st.loop->Resume(), "generation continued");
  });
  // SGLang takes GET or POST here.
  const auto flush = [&st](const httplib::Request&, httplib::Response& res) {
    SendCommandResult(res, st, st.loop->FlushCache(), "prefix cache flushed");
  };
  h.Get("/flush_cache", flush);
  h.Post("/flush_cache", flush);
  for (const char* path : {"/generate", "/update_weights_from_disk", "/update_weights_from_tensor",
                           "/pause_generation", "/continue_generation"}) {
    WrongMethod(h, path, "POST");
  }
  WrongMethod(h, "/get_weight_version", "GET");
}

}  // namespace detinfer::server
