// Internal to src/server: what the HTTP handlers share. Includes cpp-httplib, so public headers
// do not.
#ifndef DETINFER_SERVER_SERVER_STATE_H_
#define DETINFER_SERVER_SERVER_STATE_H_

#include <httplib.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/connection_layer.h"
#include "server/responses.h"
#include "server/server.h"

namespace detinfer::server {

// cpp-httplib's routing and request processing, fed by our connection layer: it gets only
// requests that have fully arrived (server/connection_layer.h), never a socket to wait on.
class ListeningServer : public httplib::Server {
 public:
  // Processes the one complete request `conn` holds; returns whether the connection stays open.
  bool Serve(ClientConnection& conn, bool must_close);
  // httplib ends a streamed answer early when it thinks its own socket is closed (it never
  // opens one here): mark it open. Never closed by httplib, as stop() is never called.
  void MarkListening(int port) { svr_sock_ = port; }
};

struct HttpServer::State {
  ServedModel served;
  ServerOptions options;
  ChatFormat chat;  // the template and its end-of-turn ids
  Metrics metrics;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<EngineLoop> loop;
  ListeningServer http;
  std::unique_ptr<ConnectionLayer> connections;
  int port = 0;
  std::atomic<uint64_t> next_id{0};
  std::atomic<bool> stopped{false};
};

using State = HttpServer::State;

// Sends {"error": ...} with the error's status.
void SendError(httplib::Response& res, const ApiError& error);
// The HTTP status and error of a failed engine call.
ApiError EngineError(const Status& status);
// Adds "Warning: 299 detinfer ..." naming the ignored fields (sanitised for a header).
void WarnIgnored(httplib::Response& res, const std::vector<std::string>& fields);

// The model a request names: empty or the served name, else 404 model_not_found.
std::optional<ApiError> CheckModelName(const State& st, const std::string& model);
// `text` encoded by the served tokenizer (its own special tokens when add_special_tokens);
// errors name `param`.
std::optional<ApiError> EncodePrompt(const State& st, const std::string& text,
                                     const std::string& param, bool add_special_tokens,
                                     std::vector<int32_t>* ids);
// A conversation rendered with the served template (`text`) and encoded (`ids`). Without an
// explicit add_special_tokens: none after a model's own template (it writes its own), the
// tokenizer's BOS after a built-in one unless the text starts with it.
std::optional<ApiError> ChatPrompt(const State& st, const ChatInput& chat,
                                   std::optional<bool> add_special_tokens, std::string* text,
                                   std::vector<int32_t>* ids);

void HandleCompletion(State& state, ApiKind kind, const httplib::Request& req,
                      httplib::Response& res);
void HandleScore(State& state, const httplib::Request& req, httplib::Response& res);
void HandleTokenize(State& state, const httplib::Request& req, httplib::Response& res);
void HandleDetokenize(State& state, const httplib::Request& req, httplib::Response& res);

// The schedule id results computed under `version` report (system_fingerprint): the served one
// until the weights were updated, then the same inputs with the new weights' hash.
std::string ScheduleIdFor(const State& st, const WeightVersion& version);
// {"counter": c, "hash": "16 hex digits"}.
Json WeightVersionJson(const WeightVersion& version);
// The checks Engine::Submit makes on a prompt, as a 400 naming `param`.
std::optional<ApiError> CheckPromptIds(const State& st, const std::vector<int32_t>& ids,
                                       const std::string& param);
// The error for a job the loop did not accept (429 queue full, 503 stopping).
ApiError RefusedJob(const State& st, EngineLoop::Admission admission, httplib::Response& res);

// One choice of a completions request run to its end.
struct CompletedChoice {
  std::vector<int32_t> prompt;
  int32_t sample = 0;  // which of its prompt's n samples
  RequestResult result;
  Json receipt;  // with the request's `receipt`: the choice's run receipt (else null)
};
// Runs `req` (not streamed) as POST /v1/completions does — the same checks, engine requests
// and seeds — and waits for every choice; or the error to send.
std::optional<ApiError> RunCompletionChoices(State& st, const CompletionRequest& req,
                                             httplib::Response& res,
                                             std::vector<CompletedChoice>* out);

// Whether `header` is "Bearer KEY" (compared in constant time).
bool KeyMatches(const std::string& header, const std::string& key);
// Answers every method but `allowed` on `path` with 405 naming it.
void WrongMethod(httplib::Server& h, const std::string& path, const std::string& allowed);

// SGLang's native endpoints for RL clients (server/rl_handlers.cc).
bool IsAdminPath(const std::string& path);
// Why a request to an admin path may not go on (403 disabled, 401 no or wrong key), if so.
std::optional<ApiError> AdminKeyError(const State& st, const httplib::Request& req);
// Registers /generate, /get_weight_version and the admin endpoints.
void RlRoutes(State& state);

}  // namespace detinfer::server

#endif  // DETINFER_SERVER_SERVER_STATE_H_
