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

}  // namespace detinfer::server

#endif  // DETINFER_SERVER_SERVER_STATE_H_
