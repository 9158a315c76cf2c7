// The OpenAI-compatible HTTP server behind `detinfer serve` (docs/server.md).
//
// Endpoints: POST /v1/completions, /v1/chat/completions, /v1/score (our extension); GET
// /v1/models, /health, /metrics; for RL clients, SGLang's native ones (server/rl_handlers.cc,
// docs/rl.md): POST /generate, /update_weights_from_disk, /update_weights_from_tensor,
// /pause_generation, /continue_generation, /flush_cache; GET /get_weight_version. One engine thread serves every request (server/engine_loop.h),
// so a request's tokens, logprobs and fingerprint are those it gets when served alone.
#ifndef DETINFER_SERVER_SERVER_H_
#define DETINFER_SERVER_SERVER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/status.h"
#include "engine/engine.h"
#include "engine/schedule_id.h"
#include "kernels/context.h"
#include "model/transformer.h"
#include "server/api_request.h"
#include "server/chat_template.h"
#include "server/engine_loop.h"
#include "tokenizer/tokenizer.h"

namespace detinfer::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                     // 0: any free port (see HttpServer::port())
  std::string api_key;                 // empty: no key needed
  // Needed (as "Authorization: Bearer KEY") by the endpoints that change what is served:
  // weight updates, pause, continue, flush. Empty: those endpoints are disabled (403). Must
  // differ from api_key, so a client that may generate cannot also change the weights.
  std::string admin_key;
  std::string model_name = "detinfer";  // what /v1/models lists and requests may name
  EngineLoopOptions loop;
  size_t max_body_bytes = size_t{1} << 20;
  // How chat messages become a prompt (ChatFormat::Choose). Unset: the built-in template the
  // tokenizer's special tokens point to.
  std::optional<ChatFormat> chat_format;
  int http_threads = 0;  // 0: enough for every running and queued request, plus a few
  // The connection layer (server/connection_layer.h): what clients may hold open.
  int max_connections = 1024;              // --max-connections
  int max_connections_per_address = 256;   // --max-connections-per-address
  std::chrono::milliseconds request_timeout{15000};  // --request-timeout: headers and body
  std::chrono::milliseconds keep_alive_timeout{5000};  // an idle connection between requests
  size_t max_header_bytes = 16384;         // --max-header-bytes: request line + headers
  int max_headers = 100;                   // --max-headers: header fields per request
  std::chrono::milliseconds shutdown_grace{10000};
  ParseLimits limits;
};

// What is served; the model and tokenizer must outlive the server.
struct ServedModel {
  const Transformer* model = nullptr;
  const Tokenizer* tokenizer = nullptr;  // null: token ids only
  std::string schedule_id;               // engine/schedule_id.h; reported as system_fingerprint
  // Set (to the same model as `model`, which may then be left null): the weight-update
  // endpoints change it in place. Null: they answer 400 (the model is read-only).
  Transformer* updatable_model = nullptr;
  // What schedule_id was computed from; needed with updatable_model, so that after an update
  // the id takes the new weights' hash (ScheduleInputs::weight_hash) as the library's does.
  std::optional<ScheduleInputs> schedule_inputs = std::nullopt;
};

class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>> Create(const ServedModel& served,
                                                    const KernelContext& ctx,
                                                    const EngineOptions& engine_options,
                                                    const ServerOptions& options);
  ~HttpServer();  // Stop()s if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the socket (error naming host and port if it cannot) and starts serving.
  Status Start();
  int port() const;
  // Graceful: refuses new requests (503), lets accepted ones finish for up to the grace period,
  // cancels the rest, then closes the socket. Idempotent.
  void Stop();
  std::string MetricsText() const;  // what GET /metrics returns

  struct State;  // server/server_state.h

 private:
  HttpServer() = default;
  std::unique_ptr<State> state_;
};

}  // namespace detinfer::server

#endif  // DETINFER_SERVER_SERVER_H_
