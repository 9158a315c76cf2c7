// HttpServer: routes, authentication, error bodies, start and graceful stop.
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "detinfer/engine.h"
#include "engine/schedule_id.h"
#include "server/responses.h"
#include "server/server_state.h"

namespace detinfer::server {

namespace {

// One complete request in memory, the answer to the client's socket: what httplib's parser and
// writers need of a connection.
class LayerStream final : public httplib::Stream {
 public:
  explicit LayerStream(ClientConnection& conn) : conn_(conn) {}
  bool is_readable() const override { return true; }
  bool is_writable() const override { return conn_.Writable(); }
  ssize_t read(char* ptr, size_t size) override { return conn_.Read(ptr, size); }
  ssize_t write(const char* ptr, size_t size) override { return conn_.Write(ptr, size); }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = conn_.peer_ip();
    port = conn_.peer_port();
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    conn_.LocalAddress(&ip, &port);
  }
  // httplib (built without poll) refuses descriptors past select()'s FD_SETSIZE; it never waits
  // on this one (every wait is ours, with poll), so past that it gets none.
  socket_t socket() const override { return conn_.fd() < FD_SETSIZE ? conn_.fd() : INVALID_SOCKET; }

 private:
  ClientConnection& conn_;
};

}  // namespace

bool ListeningServer::Serve(ClientConnection& conn, bool must_close) {
  LayerStream strm(conn);
  bool closed = false;
  const bool ok = process_request(strm, must_close, closed, nullptr);
  return ok && !closed && !must_close;
}

void SendError(httplib::Response& res, const ApiError& error) {
  res.status = error.status;
  res.set_content(Dump(ErrorJson(error)), "application/json");
}

ApiError EngineError(const Status& status) {
  ApiError e;
  e.message = status.message();
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
      e.status = 400;
      break;
    case StatusCode::kResourceExhausted:  // KV capacity outgrown, or shutting down
      e.status = 503;
      e.type = "server_error";
      break;
    default:
      e.status = 500;
      e.type = "server_error";
  }
  return e;
}

void WarnIgnored(httplib::Response& res, const std::vector<std::string>& fields) {
  if (fields.empty()) return;
  // Field names come from the client: keep printable ASCII only, so the header stays one line.
  std::string list;
  for (size_t i = 0; i < fields.size() && i < 16; ++i) {
    std::string name;
    for (const char c : fields[i].substr(0, 64)) {
      if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') name += c;
    }
    if (!list.empty()) list += ", ";
    list += name;
  }
  if (fields.size() > 16) list += ", ...";
  res.set_header("Warning", "299 detinfer \"unknown fields ignored: " + list + "\"");
}

namespace {

// Only the known routes get their own label, so a scan of random paths cannot grow /metrics.
std::string EndpointLabel(const std::string& path) {
  static const char* kKnown[] = {"/v1/completions", "/v1/chat/completions", "/v1/score",
                                 "/tokenize", "/detokenize", "/v1/models", "/health", "/metrics",
                                 "/generate", "/get_weight_version", "/update_weights_from_disk",
                                 "/update_weights_from_tensor", "/pause_generation",
                                 "/continue_generation", "/flush_cache"};
  for (const char* k : kKnown) {
    if (path == k) return k;
  }
  if (path.rfind("/v1/models/", 0) == 0) return "/v1/models/{id}";
  return "other";
}

}  // namespace

bool KeyMatches(const std::string& header, const std::string& key) {
  const std::string prefix = "Bearer ";
  if (header.size() != prefix.size() + key.size() || header.compare(0, prefix.size(), prefix) != 0) {
    return false;
  }
  // Compares every byte whatever the first mismatch, so timing does not reveal the key.
  unsigned char diff = 0;
  for (size_t i = 0; i < key.size(); ++i) {
    diff = static_cast<unsigned char>(diff | (header[prefix.size() + i] ^ key[i]));
  }
  return diff == 0;
}

// Answers every method but `allowed` (and HEAD, which httplib routes to GET handlers) on `path`
// with 405 Method Not Allowed and an Allow header.
void WrongMethod(httplib::Server& h, const std::string& path, const std::string& allowed) {
  const auto handler = [allowed](const httplib::Request& req, httplib::Response& res) {
    ApiError e;
    e.status = 405;
    e.code = "method_not_allowed";
    e.message = req.method + " is not allowed on " + req.path + "; use " + allowed;
    res.set_header("Allow", allowed == "GET" ? "GET, HEAD" : allowed);
    SendError(res, e);
  };
  if (allowed != "GET") h.Get(path, handler);
  if (allowed != "POST") h.Post(path, handler);
  h.Put(path, handler);
  h.Patch(path, handler);
  h.Delete(path, handler);
}

namespace {

void Routes(State& st) {
  httplib::Server& h = st.http;
  h.set_pre_routing_handler([&st](const httplib::Request& req, httplib::Response& res) {
    // What changes the served weights or stops generation needs the admin key, and only it
    // (rl_handlers.cc).
    if (IsAdminPath(req.path)) {
      if (auto e = AdminKeyError(st, req)) {
        SendError(res, *e);
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    }
    // Everything that runs the model or its tokenizer needs the key; /health and /metrics do
    // not (probes and scrapers).
    const bool guarded = req.path.rfind("/v1/", 0) == 0 || req.path == "/tokenize" ||
                         req.path == "/detokenize" || req.path == "/generate" ||
                         req.path == "/get_weight_version";
    if (st.options.api_key.empty() || !guarded) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    if (KeyMatches(req.get_header_value("Authorization"), st.options.api_key)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    ApiError e;
    e.status = 401;
    e.code = "invalid_api_key";
    e.message = req.has_header("Authorization")
                    ? "the API key is wrong (Authorization: Bearer KEY)"
                    : "an API key is required (Authorization: Bearer KEY)";
    SendError(res, e);
    return httplib::Server::HandlerResponse::Handled;
  });
  h.Post("/v1/completions", [&st](const httplib::Request& req, httplib::Response& res) {
    HandleCompletion(st, ApiKind::kCompletion, req, res);
  });
  h.Post("/v1/chat/completions", [&st](const httplib::Request& req, httplib::Response& res) {
    HandleCompletion(st, ApiKind::kChat, req, res);
  });
  h.Post("/v1/score", [&st](const httplib::Request& req, httplib::Response& res) {
    HandleScore(st, req, res);
  });
  // vLLM serves these outside /v1; clients written for it call them there.
  h.Post("/tokenize", [&st](const httplib::Request& req, httplib::Response& res) {
    HandleTokenize(st, req, res);
  });
  h.Post("/detokenize", [&st](const httplib::Request& req, httplib::Response& res) {
    HandleDetokenize(st, req, res);
  });
  // A known route asked with the wrong method is 405 naming the right one, not "no route".
  for (const char* path :
       {"/v1/completions", "/v1/chat/completions", "/v1/score", "/tokenize", "/detokenize"}) {
    WrongMethod(h, path, "POST");
  }
  const auto model_object = [&st] {
    return Json{{"id", st.options.model_name},
                {"object", "model"},
                {"created", 0},
                {"owned_by", "detinfer"},
                {"max_model_len", st.served.model->config().max_seq_len},
                // What the engine holds: its KV cache's capacity and cost (the default capacity
                // is sized from the memory available after the weights, docs/formats.md).
                {"kv_dtype", std::string(DTypeName(st.engine->cache().config().dtype))},
                {"kv_bytes_per_token", KvBytesPerToken(st.served.model->config(),
                                                       st.engine->cache().config().dtype)},
                {"kv_capacity_tokens",
                 int64_t{st.engine->cache().num_blocks()} * st.engine->cache().config().block_size},
                {"chat_template", std::string(st.chat.name())},
                {"schedule_id", ScheduleIdFor(st, st.loop->weight_version())},
                {"weight_version", WeightVersionJson(st.loop->weight_version())}};
  };
  h.Get("/v1/models", [model_object](const httplib::Request&, httplib::Response& res) {
    res.set_content(Dump({{"object", "list"}, {"data", Json::array({model_object()})}}),
                    "application/json");
  });
  // OpenAI's "retrieve model": the model object for the served name (which may contain '/',
  // as "org/name" does), 404 model_not_found for any other.
  h.Get(R"(/v1/models/(.+))",
        [&st, model_object](const httplib::Request& req, httplib::Response& res) {
          const std::string id = req.matches[1].str();
          if (id != st.options.model_name) {
            ApiError e;
            e.status = 404;
            e.param = "model";
            e.code = "model_not_found";
            e.message = "the model '" + id + "' does not exist; this server serves '";
            e.message += st.options.model_name;
            e.message += "'";
            SendError(res, e);
            return;
          }
          res.set_content(Dump(model_object()), "application/json");
        });
  h.Get("/health", [&st](const httplib::Request&, httplib::Response& res) {
    const bool up = !st.loop->stopping();
    res.status = up ? 200 : 503;
    res.set_content(Dump({{"status", up ? "ok" : "shutting_down"}}), "application/json");
  });
  h.Get("/metrics", [&st](const httplib::Request&, httplib::Response& res) {
    res.set_content(st.metrics.Render(st.loop->Gauges()), "text/plain; version=0.0.4");
  });
  for (const char* path : {"/v1/models", R"(/v1/models/(.+))", "/health", "/metrics"}) {
    WrongMethod(h, path, "GET");
  }
  RlRoutes(st);
  // Every other error httplib produces itself (404 route, 413 body too large, 400 bad request
  // line) also gets an OpenAI-shaped body.
  h.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    ApiError e;
    e.status = res.status;
    if (res.status == 404) {
      e.message = "no route " + req.method + " " + req.path;
      e.code = "not_found";
    } else if (res.status == 413) {
      e.message = "the request body is larger than the limit (--max-body-bytes)";
      e.code = "body_too_large";
    } else {
      e.message = "bad request (HTTP " + std::to_string(res.status) + ")";
    }
    SendError(res, e);
  });
  h.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        ApiError e;
        e.status = 500;
        e.type = "server_error";
        e.message = "internal error";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& ex) {
          e.message += std::string(": ") + ex.what();
        } catch (...) {
        }
        SendError(res, e);
      });
  h.set_logger([&st](const httplib::Request& req, const httplib::Response& res) {
    st.metrics.CountRequest(EndpointLabel(req.path), res.status);
  });
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Create(const ServedModel& served,
                                                       const KernelContext& ctx,
                                                       const EngineOptions& engine_options,
                                                       const ServerOptions& options) {
  if (served.model == nullptr && served.updatable_model == nullptr) {
    return Status::InvalidArgument("serve: no model");
  }
  if (served.model != nullptr && served.updatable_model != nullptr &&
      served.model != served.updatable_model) {
    return Status::InvalidArgument("serve: 'model' and 'updatable_model' name different models");
  }
  if (served.updatable_model != nullptr && !served.schedule_inputs) {
    return Status::InvalidArgument(
        "serve: a model whose weights can be updated needs its schedule inputs, so that the "
        "schedule id can follow its weights");
  }
  if (!options.admin_key.empty() && options.admin_key == options.api_key) {
    return Status::InvalidArgument(
        "--admin-key must differ from --api-key: a client that may generate must not also be "
        "able to change the weights");
  }
  if (options.loop.max_running < 1) {
    return Status::InvalidArgument("--max-concurrency must be >= 1, got " +
                                   std::to_string(options.loop.max_running));
  }
  if (options.loop.max_queued < 0) {
    return Status::InvalidArgument("--max-queue must be >= 0, got " +
                                   std::to_string(options.loop.max_queued));
  }
  if (options.port < 0 || options.port > 65535) {
    return Status::InvalidArgument("--port must be in [0, 65535], got " +
                                   std::to_string(options.port));
  }
  const auto at_least = [](const char* flag, int64_t value, int64_t min) -> Status {
    if (value >= min) return Status::Ok();
    std::string m = flag;
    m += " must be >= ";
    m += std::to_string(min);
    m += ", got ";
    m += std::to_string(value);
    return Status::InvalidArgument(m);
  };
  DETINFER_RETURN_IF_ERROR(at_least("--max-connections", options.max_connections, 1));
  DETINFER_RETURN_IF_ERROR(
      at_least("--max-connections-per-address", options.max_connections_per_address, 1));
  DETINFER_RETURN_IF_ERROR(at_least("--max-header-bytes",
                                    static_cast<int64_t>(options.max_header_bytes), 1024));
  DETINFER_RETURN_IF_ERROR(at_least("--max-headers", options.max_headers, 1));
  if (options.request_timeout.count() <= 0 || options.keep_alive_timeout.count() <= 0) {
    return Status::InvalidArgument("--request-timeout must be > 0 seconds");
  }
  std::unique_ptr<HttpServer> s(new HttpServer());
  s->state_ = std::make_unique<State>();
  State& st = *s->state_;
  st.served = served;
  if (st.served.model == nullptr) st.served.model = served.updatable_model;
  st.options = options;
  st.chat = options.chat_format ? *options.chat_format
                                : ChatFormat::Builtin(DetectChatTemplate(served.tokenizer),
                                                      served.tokenizer);
  if (served.updatable_model != nullptr) {
    DETINFER_ASSIGN_OR_RETURN(st.engine, Engine::Create(*served.updatable_model, ctx,
                                                        engine_options, served.tokenizer));
  } else {
    DETINFER_ASSIGN_OR_RETURN(st.engine,
                              Engine::Create(*served.model, ctx, engine_options, served.tokenizer));
  }
  st.loop = std::make_unique<EngineLoop>(*st.engine, options.loop, &st.metrics);
  const int threads = options.http_threads > 0
                          ? options.http_threads
                          : static_cast<int>(options.loop.max_running + options.loop.max_queued + 8);
  st.http.set_payload_max_length(options.max_body_bytes);
  // Only what the Keep-Alive answer header says: the connection layer keeps the connections.
  st.http.set_keep_alive_max_count(1000000);
  st.http.set_keep_alive_timeout(
      std::max<time_t>(1, static_cast<time_t>(options.keep_alive_timeout.count() / 1000)));
  ConnectionOptions co;
  co.request.max_header_bytes = options.max_header_bytes;
  co.request.max_headers = options.max_headers;
  co.request.max_body_bytes = options.max_body_bytes;
  co.max_connections = options.max_connections;
  co.max_connections_per_address = options.max_connections_per_address;
  co.request_timeout = options.request_timeout;
  co.idle_timeout = options.keep_alive_timeout;
  co.workers = threads;
  st.connections = std::make_unique<ConnectionLayer>(
      co, [&st](ClientConnection& conn, bool must_close) { return st.http.Serve(conn, must_close); },
      [&st](int status, const std::string& code, const std::string& message,
            const std::string& target) {
        ApiError e;
        e.status = status;
        e.code = code;
        e.message = message;
        if (status == 429) e.type = "rate_limit_error";
        if (status >= 500) e.type = "server_error";
        st.metrics.CountRequest(EndpointLabel(target.substr(0, target.find('?'))), status);
        return Dump(ErrorJson(e));
      });
  Routes(st);
  return s;
}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() {
  State& st = *state_;
  DETINFER_RETURN_IF_ERROR(st.connections->Listen(st.options.host, st.options.port));
  st.port = st.connections->port();
  st.http.MarkListening(st.port);
  st.connections->Start();
  return Status::Ok();
}

int HttpServer::port() const { return state_->port; }

void HttpServer::Stop() {
  if (!state_ || state_->stopped.exchange(true)) return;
  State& st = *state_;
  // Order: refuse new work and finish (or cancel) accepted work first, so that every handler
  // thread has its answer; only then close the socket and join the handler threads.
  st.loop->Shutdown(st.options.shutdown_grace);
  st.connections->Stop();
}

std::string HttpServer::MetricsText() const {
  return state_->metrics.Render(state_->loop->Gauges());
}

}  // namespace detinfer::server
