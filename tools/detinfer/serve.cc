// `detinfer serve MODEL`: the OpenAI-compatible HTTP server (docs/server.md). Runs until
// SIGINT or SIGTERM, then stops gracefully: new requests get 503, accepted ones finish (or are
// cancelled after --shutdown-grace seconds), and the process exits 0.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "cli_common.h"
#include "detinfer/engine.h"
#include "detinfer/load.h"
#include "detinfer/runtime.h"
#include "model/chat_config.h"
#include "server/server.h"
#include "subcommands.h"

namespace detinfer::cli {

namespace {

struct ServeOptions {
  std::string model, tokenizer, host = "127.0.0.1", api_key, admin_key, name, chat_template;
  int port = 8080;
  int64_t max_concurrency = 32, max_queue = 64;
  size_t max_body_bytes = size_t{1} << 20;
  double shutdown_grace = 10.0;
  double request_timeout = 15.0;
  int max_connections = 1024, max_connections_per_address = 256, max_headers = 100;
  size_t max_header_bytes = 16384;
  EngineFlags engine;
  SpeculativeFlags speculative;
};

int RunServe(const ServeOptions& o) {
  // Signals are taken by sigwait below, never by a handler: block them before any thread
  // starts, so that every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up is a failed write, not a crash

  if (o.shutdown_grace < 0) {
    return Fail(Status::InvalidArgument("--shutdown-grace must be >= 0"));
  }
  if (!(o.request_timeout > 0) || o.request_timeout > 86400) {
    return Fail(Status::InvalidArgument("--request-timeout must be in (0, 86400] seconds"));
  }
  auto rt = MakeRuntime(o.engine.threads);
  if (!rt.ok()) return Fail(rt.status());
  auto b = LoadModelBundle(o.model, o.tokenizer, rt->ctx, BundleOptionsFor(o.engine.weight_cache));
  if (!b.ok()) return Fail(b.status());
  NoteWeightCache(*b);
  auto eopts = ToEngineOptions(o.engine, b->model->config());
  if (!eopts.ok()) return Fail(eopts.status());
  auto spec = ToSpeculativeOptions(o.speculative);
  if (!spec.ok()) return Fail(spec.status());
  auto draft = LoadDraftModel(o.speculative, *b, rt->ctx);
  if (!draft.ok()) return Fail(draft.status());
  eopts->speculative = *spec;
  if (*draft) eopts->speculative.draft_model = (*draft)->model.get();

  server::ServerOptions so;
  so.host = o.host;
  so.port = o.port;
  so.api_key = o.api_key;
  so.admin_key = o.admin_key;
  if (so.admin_key.empty()) {
    // From the environment, so the key need not show in the process list.
    if (const char* env = std::getenv("DETINFER_ADMIN_KEY")) so.admin_key = env;
  }
  so.model_name = o.name.empty() ? std::filesystem::path(o.model).filename().string() : o.name;
  if (so.model_name.empty()) so.model_name = "detinfer";
  so.loop.max_running = o.max_concurrency;
  so.loop.max_queued = o.max_queue;
  so.max_body_bytes = o.max_body_bytes;
  so.shutdown_grace = std::chrono::milliseconds(static_cast<int64_t>(o.shutdown_grace * 1000));
  so.request_timeout = std::chrono::milliseconds(static_cast<int64_t>(o.request_timeout * 1000));
  so.max_connections = o.max_connections;
  so.max_connections_per_address = o.max_connections_per_address;
  so.max_header_bytes = o.max_header_bytes;
  so.max_headers = o.max_headers;
  auto chat_config = ReadModelChatConfig(o.model, b->model->weights().format, b->tokenizer_path);
  if (!chat_config.ok()) return Fail(chat_config.status());
  auto chat = server::ChatFormat::Choose(o.chat_template, *chat_config, b->tokenizer.get());
  if (!chat.ok()) return Fail(chat.status());
  so.chat_format = *chat;
  server::ServedModel served;
  served.model = b->model.get();
  served.updatable_model = b->model.get();  // POST /update_weights_* (with --admin-key)
  served.tokenizer = b->tokenizer.get();
  served.schedule_inputs =
      ScheduleInputs{rt->ctx.isa, eopts->kv_dtype, b->model_hash, b->tokenizer_hash};
  served.schedule_id = ScheduleId(*served.schedule_inputs);
  auto srv = server::HttpServer::Create(served, rt->ctx, *eopts, so);
  if (!srv.ok()) return Fail(srv.status());
  const Status started = (*srv)->Start();
  if (!started.ok()) return Fail(started);
  std::fprintf(stderr,
               "detinfer: serving '%s' on http://%s:%d (schedule %s, chat template %s%s)\n",
               so.model_name.c_str(), so.host.c_str(), (*srv)->port(), served.schedule_id.c_str(),
               (std::string(chat->name()) + " (" + chat->origin() + ")").c_str(),
               b->tokenizer ? "" : ", no tokenizer: token ids only");
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::fprintf(stderr, "detinfer: %s received, stopping (in-flight requests get %.0f s)\n",
               sig == SIGINT ? "SIGINT" : "SIGTERM", o.shutdown_grace);
  (*srv)->Stop();
  std::fprintf(stderr, "detinfer: stopped\n");
  return 0;
}

}  // namespace

void RegisterServe(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve the model over an OpenAI-compatible HTTP API");
  cmd->add_option("MODEL", o->model, "Model file or Hugging Face directory")->required();
  cmd->add_option("--tokenizer", o->tokenizer, kTokenizerHelp);
  cmd->add_option("--host", o->host, "Address to listen on (default 127.0.0.1: this machine only)");
  cmd->add_option("--port", o->port, "Port (default 8080; 0: any free port)");
  cmd->add_option("--api-key", o->api_key, "Require 'Authorization: Bearer KEY' on /v1/*");
  cmd->add_option("--admin-key", o->admin_key,
                  "Enable the weight-update, pause, continue and flush endpoints, which then "
                  "need 'Authorization: Bearer KEY' (default: the DETINFER_ADMIN_KEY environment "
                  "variable; neither: those endpoints are disabled). Must differ from --api-key");
  cmd->add_option("--served-model-name", o->name, "Model name in the API (default file name)");
  cmd->add_option("--chat-template", o->chat_template,
                  "A Jinja file, or chatml or llama3 (built in). Default: the model's own "
                  "template (tokenizer_config.json, chat_template.jinja or GGUF), else the built-in "
                  "one its special tokens point to");
  cmd->add_option("--max-concurrency", o->max_concurrency,
                  "Requests generating at once (default 32)");
  cmd->add_option("--max-queue", o->max_queue,
                  "Requests waiting beyond those; more get 429 (default 64)");
  cmd->add_option("--max-body-bytes", o->max_body_bytes, "Largest request body (default 1 MiB)");
  cmd->add_option("--request-timeout", o->request_timeout,
                  "Seconds a client has to send a whole request, headers and body; slower "
                  "ones get 408 (default 15)");
  cmd->add_option("--max-connections", o->max_connections,
                  "Connections open at once, all clients together; more get 503 (default 1024)");
  cmd->add_option("--max-connections-per-address", o->max_connections_per_address,
                  "Connections open at once from one client address; more get 429 (default 256; "
                  "raise it behind a load balancer, whose connections share its address)");
  cmd->add_option("--max-header-bytes", o->max_header_bytes,
                  "Largest request line + headers; more get 431 (default 16384)");
  cmd->add_option("--max-headers", o->max_headers,
                  "Most header fields in a request; more get 431 (default 100)");
  cmd->add_option("--shutdown-grace", o->shutdown_grace,
                  "Seconds in-flight requests get to finish on SIGINT/SIGTERM (default 10)");
  AddEngineFlags(cmd, &o->engine);
  AddSpeculativeFlags(cmd, &o->speculative);
  cmd->callback([o] { std::exit(RunServe(*o)); });
}

}  // namespace detinfer::cli
