// detinfer_server_bench: the HTTP server against the in-process engine, closed loop, at
// concurrency 1, 8 and 32 (or --concurrency ...). Each client sends a request, waits for the
// answer, sends the next; the same requests (prompt of --prompt tokens, --max-tokens greedy
// tokens) go to both sides. Reports requests/s, generated tokens/s, latency percentiles and the
// HTTP overhead (wall time over the engine's, minus one), as a table and as JSON (--json).
// With --target HOST:PORT ... it loads running servers instead (e.g. a fleet replica, then the
// balancer in front of it: what the balancer hop costs, docs/fleet.md).
//
// Model: MODEL if given, else the random 768-dim, 12-layer Llama shape of bench/ (bf16).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <httplib.h>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "../bench_model.h"
#include "core/isa.h"
#include "core/thread_pool.h"
#include "engine/engine.h"
#include "model/model_bundle.h"
#include "model/random_init.h"
#include "server/server.h"

namespace detinfer {
namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

std::vector<int32_t> Prompt(int64_t n, uint64_t salt, int64_t vocab) {
  std::vector<int32_t> p;
  for (int64_t i = 0; i < n; ++i) {
    p.push_back(static_cast<int32_t>((uint64_t(i) * 7919u + salt * 104729u + 13u) % uint64_t(vocab)));
  }
  return p;
}

struct Run {
  std::string mode;
  int concurrency = 0;
  int requests = 0;
  int64_t tokens = 0;
  double wall_s = 0;
  std::vector<double> latency_ms;
  double Percentile(double q) const {
    std::vector<double> v = latency_ms;
    std::sort(v.begin(), v.end());
    if (v.empty()) return 0;
    return v[std::min(v.size() - 1, static_cast<size_t>(q * double(v.size())))];
  }
};

// The engine alone: one thread keeps `concurrency` requests in flight, submitting the next
// request the moment one finishes (what the server's engine thread does, without HTTP).
Run EngineRun(const Transformer& m, const KernelContext& ctx, const EngineOptions& eo,
              int concurrency, int total, int64_t prompt, int32_t max_tokens) {
  Run run;
  run.mode = "engine";
  run.concurrency = concurrency;
  run.requests = total;
  auto e = Engine::Create(m, ctx, eo);
  if (!e.ok()) throw std::runtime_error(e.status().ToString());
  std::map<uint64_t, Clock::time_point> started;
  int next = 0;
  const auto t0 = Clock::now();
  auto submit = [&] {
    Request r;
    r.id = std::to_string(next);
    r.prompt = Prompt(prompt, uint64_t(next), m.config().vocab_size);
    r.max_new_tokens = max_tokens;
    started[(*e)->next_submission()] = Clock::now();
    if (!(*e)->Submit(r).ok()) throw std::runtime_error("submit failed");
    ++next;
  };
  while (next < std::min(concurrency, total)) submit();
  while ((*e)->HasWork()) {
    if (!(*e)->Step().ok()) throw std::runtime_error("step failed");
    for (const RequestResult& r : (*e)->TakeFinished()) {
      run.latency_ms.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - started[r.submission]).count());
      run.tokens += static_cast<int64_t>(r.tokens.size());
      if (next < total) submit();
    }
  }
  run.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  return run;
}

Run HttpRun(const std::string& host, int port, int concurrency, int total, int64_t prompt,
            int32_t max_tokens, int64_t vocab) {
  Run run;
  run.mode = "http";
  run.concurrency = concurrency;
  run.requests = total;
  std::atomic<int> next{0};
  std::atomic<int64_t> tokens{0};
  std::vector<std::vector<double>> lat(static_cast<size_t>(concurrency), std::vector<double>{});
  const auto t0 = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < concurrency; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client cli(host, port);
      cli.set_read_timeout(600, 0);
      // As curl and the OpenAI clients do: without it, the body (a second small write) waits
      // for the ACK of the headers, which a balancer that buffers the body (HAProxy) delays
      // by the kernel's 40 ms delayed-ACK timer (docs/fleet.md).
      cli.set_tcp_nodelay(true);
      for (int i; (i = next.fetch_add(1)) < total;) {
        const std::string body = Json{{"prompt", Prompt(prompt, uint64_t(i), vocab)},
                                      {"max_tokens", max_tokens},
                                      {"temperature", 0}}
                                     .dump();
        const auto s = Clock::now();
        auto r = cli.Post("/v1/completions", body, "application/json");
        lat[size_t(c)].push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
        if (!r || r->status != 200) {
          std::fprintf(stderr, "request failed: %s\n", r ? r->body.c_str() : "no response");
          continue;
        }
        tokens += static_cast<int64_t>(Json::parse(r->body)["usage"]["completion_tokens"].get<int64_t>());
      }
    });
  }
  for (auto& t : clients) t.join();
  run.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  run.tokens = tokens.load();
  for (auto& l : lat) run.latency_ms.insert(run.latency_ms.end(), l.begin(), l.end());
  return run;
}

Json ToJson(const Run& r) {
  return {{"mode", r.mode},
          {"concurrency", r.concurrency},
          {"requests", r.requests},
          {"generated_tokens", r.tokens},
          {"wall_s", r.wall_s},
          {"requests_per_s", double(r.requests) / r.wall_s},
          {"tokens_per_s", double(r.tokens) / r.wall_s},
          {"latency_ms", {{"p50", r.Percentile(0.5)}, {"p90", r.Percentile(0.9)},
                          {"p99", r.Percentile(0.99)}}}};
}

// --target: the same closed-loop load against running servers, the first one the baseline.
int TargetsMain(const std::string& model_path, const std::vector<std::string>& targets,
                const std::vector<int>& concurrency, int requests, int64_t prompt,
                int32_t max_tokens, const std::string& json_out) {
  int64_t vocab = bench::Bench110MConfig().vocab_size;
  if (!model_path.empty()) {
    auto tok = LoadModelBundle(model_path);
    if (!tok.ok()) {
      std::fprintf(stderr, "%s\n", tok.status().ToString().c_str());
      return 1;
    }
    vocab = tok->model->config().vocab_size;
  }
  std::vector<std::pair<std::string, int>> addrs;
  for (const std::string& t : targets) {
    const size_t colon = t.rfind(':');
    int port = 0;
    if (colon == std::string::npos ||
        std::from_chars(t.data() + colon + 1, t.data() + t.size(), port).ec != std::errc() ||
        port <= 0 || port > 65535) {
      std::fprintf(stderr, "--target: '%s' is not HOST:PORT\n", t.c_str());
      return 2;
    }
    addrs.emplace_back(t.substr(0, colon), port);
  }
  Json results = Json::array();
  std::printf("%-22s %-4s %9s %9s %9s %9s %9s %9s\n", "target", "c", "req/s", "tok/s", "p50 ms",
              "p90 ms", "p99 ms", "vs first");
  for (const int c : concurrency) {
    const int total = std::max(requests, c);
    double first_wall = 0;
    for (size_t i = 0; i < addrs.size(); ++i) {
      // One warm-up request, so no target pays for a cold start the other did not.
      (void)HttpRun(addrs[i].first, addrs[i].second, 1, 1, prompt, 2, vocab);
      const Run r = HttpRun(addrs[i].first, addrs[i].second, c, total, prompt, max_tokens, vocab);
      if (i == 0) first_wall = r.wall_s;
      const double vs_first = r.wall_s / first_wall - 1.0;
      std::printf("%-22s %-4d %9.2f %9.1f %9.1f %9.1f %9.1f %8.1f%%\n", targets[i].c_str(), c,
                  double(r.requests) / r.wall_s, double(r.tokens) / r.wall_s, r.Percentile(0.5),
                  r.Percentile(0.9), r.Percentile(0.99), 100.0 * vs_first);
      Json j = ToJson(r);
      j["target"] = targets[i];
      j["overhead_vs_first_target"] = vs_first;
      results.push_back(j);
      std::fflush(stdout);
    }
  }
  const Json out = {{"model", model_path}, {"prompt_tokens", prompt}, {"max_tokens", max_tokens},
                    {"results", results}};
  if (!json_out.empty()) std::ofstream(json_out) << out.dump(2) << "\n";
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

int Main(int argc, char** argv) {
  CLI::App app{"detinfer_server_bench: HTTP server vs in-process engine"};
  std::string model_path, json_out;
  std::vector<int> concurrency = {1, 8, 32};
  int requests = 32, threads = 2;
  int64_t prompt = 32;
  int32_t max_tokens = 32;
  app.add_option("MODEL", model_path, "Model (default: the random 768-dim bf16 model)");
  app.add_option("--concurrency", concurrency, "Client counts (default 1 8 32)");
  app.add_option("--requests", requests, "Requests per concurrency level (default 32; at least the concurrency)");
  app.add_option("--prompt", prompt, "Prompt tokens (default 32)");
  app.add_option("--max-tokens", max_tokens, "Generated tokens per request, greedy (default 32)");
  app.add_option("--threads", threads, "Engine threads (default 2)");
  app.add_option("--json", json_out, "Write the results here as JSON");
  std::vector<std::string> targets;
  app.add_option("--target", targets,
                 "HOST:PORT of a running server (repeatable): only the HTTP load, against each, "
                 "each timed against the first (e.g. a replica, then the fleet's balancer in front "
                 "of it: the balancer hop's cost). MODEL must be the model they serve");
  CLI11_PARSE(app, argc, argv);
  if (!targets.empty()) return TargetsMain(model_path, targets, concurrency, requests, prompt,
                                           max_tokens, json_out);

  std::unique_ptr<Transformer> owned;
  ModelBundle bundle;
  const Transformer* m = nullptr;
  std::string model_name = "random-768-bf16";
  if (model_path.empty()) {
    std::fprintf(stderr, "building the random 768-dim model...\n");
    auto t = Transformer::Create(
        InitRandomModel(bench::Bench110MConfig(), 1, DType::kBF16).value());
    owned = std::make_unique<Transformer>(std::move(t).value());
    m = owned.get();
  } else {
    auto b = LoadModelBundle(model_path);
    if (!b.ok()) {
      std::fprintf(stderr, "%s\n", b.status().ToString().c_str());
      return 1;
    }
    bundle = std::move(b).value();
    m = bundle.model.get();
    model_name = model_path;
  }
  auto isa = SelectIsaFromEnvironment(DetectCpuFeatures());
  std::unique_ptr<ThreadPool> pool;
  if (threads > 1) pool = std::make_unique<ThreadPool>(threads);
  const KernelContext ctx{*isa, pool.get()};
  EngineOptions eo;
  eo.kv_capacity_tokens = 40 * (prompt + max_tokens + 16);

  {  // warm-up: weight packing and first-touch page faults happen before anything is timed
    auto e = Engine::Create(*m, ctx, eo);
    Request r;
    r.id = "warm-up";
    r.prompt = Prompt(prompt, 999, m->config().vocab_size);
    r.max_new_tokens = 2;
    (void)(*e)->Generate({r});
  }
  Json results = Json::array();
  std::printf("%-6s %-4s %9s %9s %9s %9s %9s %9s\n", "mode", "c", "req/s", "tok/s", "p50 ms",
              "p90 ms", "p99 ms", "overhead");
  for (const int c : concurrency) {
    const int total = std::max(requests, c);
    const Run eng = EngineRun(*m, ctx, eo, c, total, prompt, max_tokens);
    server::ServerOptions so;
    so.port = 0;
    so.loop.max_running = std::max(c, 1);
    auto srv = server::HttpServer::Create({m, bundle.tokenizer.get(), "bench"}, ctx, eo, so);
    if (!srv.ok() || !(*srv)->Start().ok()) {
      std::fprintf(stderr, "cannot start the server\n");
      return 1;
    }
    const Run http =
        HttpRun("127.0.0.1", (*srv)->port(), c, total, prompt, max_tokens, m->config().vocab_size);
    (*srv)->Stop();
    const double overhead = http.wall_s / eng.wall_s - 1.0;
    for (const Run* r : {&eng, &http}) {
      std::printf("%-6s %-4d %9.2f %9.1f %9.1f %9.1f %9.1f %8s\n", r->mode.c_str(), c,
                  double(r->requests) / r->wall_s, double(r->tokens) / r->wall_s,
                  r->Percentile(0.5), r->Percentile(0.9), r->Percentile(0.99),
                  r == &http ? (std::to_string(int(overhead * 1000) / 10.0).substr(0, 5) + "%").c_str()
                             : "");
      Json j = ToJson(*r);
      if (r == &http) j["overhead_vs_engine"] = overhead;
      results.push_back(j);
    }
    std::fflush(stdout);
  }
  const Json out = {{"model", model_name},
                    {"isa", std::string(IsaName(*isa))},
                    {"threads", threads},
                    {"prompt_tokens", prompt},
                    {"max_tokens", max_tokens},
                    {"results", results}};
  if (!json_out.empty()) {
    std::ofstream(json_out) << out.dump(2) << "\n";
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace
}  // namespace detinfer

int main(int argc, char** argv) { return detinfer::Main(argc, argv); }
