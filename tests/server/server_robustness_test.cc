// Bad clients over real HTTP: every bad input gets the right status and an OpenAI-shaped
// error, a client that disconnects mid-stream frees its KV blocks, a full queue answers 429,
// and the server stays healthy throughout. Ends with a bounded soak.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <thread>

#include "server_test_util.h"

namespace detinfer {
namespace {

using testing::Json;

void ExpectError(const testing::HttpReply& r, int status, const std::string& param,
                 const std::string& message_part) {
  EXPECT_EQ(r.status, status) << r.body;
  const Json j = r.json();
  ASSERT_TRUE(j.is_object() && j.contains("error")) << r.body;
  EXPECT_TRUE(j["error"]["message"].is_string());
  EXPECT_TRUE(j["error"].contains("type") && j["error"].contains("code"));
  if (!param.empty()) {
    EXPECT_EQ(j["error"]["param"], param) << r.body;
  }
  EXPECT_NE(j["error"]["message"].get<std::string>().find(message_part), std::string::npos)
      << r.body;
}

void ExpectHealthy(httplib::Client& c) {
  EXPECT_EQ(testing::Get(c, "/health").status, 200);
  const testing::HttpReply r =
      testing::Post(c, "/v1/completions", R"({"prompt": [1, 2, 3], "max_tokens": 2})");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST(ServerRobustnessTest, EveryBadInputGetsItsStatusAndTheServerKeepsServing) {
  server::ServerOptions o;
  o.max_body_bytes = 4096;
  testing::TestServer server(o);
  auto c = server.Client();
  const std::string path = "/v1/completions";
  ExpectError(testing::Post(*c, path, "{\"prompt\": [1, 2"), 400, "", "not valid JSON");
  ExpectError(testing::Post(*c, path, "[1, 2]"), 400, "", "JSON object");
  ExpectError(testing::Post(*c, path, R"({"prompt": [1], "max_tokens": "ten"})"), 400,
              "max_tokens", "integer");
  ExpectError(testing::Post(*c, path, R"({"prompt": [1], "temperature": -1})"), 400,
              "temperature", "must be in");
  ExpectError(testing::Post(*c, path, R"({"prompt": [1, -4]})"), 400, "prompt", "token id");
  ExpectError(testing::Post(*c, path, R"({"prompt": [1, 64]})"), 400, "prompt",
              "outside the vocabulary");
  ExpectError(testing::Post(*c, path, R"({"prompt": {"a": 1}})"), 400, "prompt", "prompt");
  ExpectError(testing::Post(*c, path, R"({"max_tokens": 3})"), 400, "prompt", "required");
  ExpectError(testing::Post(*c, path, R"({"prompt": [1], "stream": "yes"})"), 400, "stream",
              "true or false");
  ExpectError(testing::Post(*c, path, R"({"prompt": [1], "n": 0})"), 400, "n",
              "must be in [1, 128]");
  ExpectError(testing::Post(*c, path, R"({"prompt": [1], "best_of": 2})"), 400, "best_of",
              "not supported");
  ExpectError(testing::Post(*c, path, R"({"prompt": [1], "model": "gpt-4"})"), 404, "model",
              "does not exist");
  ExpectError(testing::Post(*c, path, R"({"prompt": "text"})"), 400, "prompt", "no tokenizer");
  ExpectError(testing::Post(*c, path, std::string(100, '[') + std::string(100, ']')), 400, "",
              "nests");
  // Prompts beyond the context (256): too long, or too long with max_tokens.
  std::vector<int32_t> long_prompt(257, 1), fits(250, 1);
  ExpectError(testing::Post(*c, path, Json{{"prompt", long_prompt}}.dump()), 400, "prompt",
              "context length");
  const testing::HttpReply over =
      testing::Post(*c, path, Json{{"prompt", fits}, {"max_tokens", 7}}.dump());
  ExpectError(over, 400, "max_tokens", "context length");
  EXPECT_EQ(over.json()["error"]["code"], "context_length_exceeded");
  // Oversize body (limit 4096 bytes).
  ExpectError(testing::Post(*c, path, Json{{"prompt", std::vector<int32_t>(3000, 1)}}.dump()),
              413, "", "larger than the limit");
  ExpectError(testing::Post(*c, "/v1/nothing", "{}"), 404, "", "no route");
  ExpectError(testing::Post(*c, "/v1/score", R"({"prompt": [1]})"), 400, "completion",
              "required");
  // Unknown fields are ignored and named in a Warning header.
  const testing::HttpReply unknown =
      testing::Post(*c, path, R"({"prompt": [1], "max_tokens": 1, "colour": "red", "zz": 1})");
  EXPECT_EQ(unknown.status, 200) << unknown.body;
  bool warned = false;
  for (const auto& [k, v] : unknown.headers) {
    if (k == "Warning") warned = v.find("colour, zz") != std::string::npos;
  }
  EXPECT_TRUE(warned);
  ExpectHealthy(*c);
  // Every request above was counted under its endpoint and status.
  const std::string m = testing::Get(*c, "/metrics").body;
  EXPECT_NE(m.find("detinfer_requests_total{endpoint=\"/v1/completions\",code=\"413\"} 1"),
            std::string::npos)
      << m;
}

// In process: a second server cannot bind the port the first listens on, and says why.
TEST(ServerRobustnessTest, SecondServerOnTheSamePortFailsToBind) {
  testing::TestServer first;
  server::ServerOptions o;
  o.port = first.port();
  server::ServedModel m{&testing::ServerTestModel(), nullptr, "0123456789abcdef"};
  EngineOptions eo;
  eo.kv_capacity_tokens = 4096;
  auto second = server::HttpServer::Create(m, KernelContext{}, eo, o);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  const Status st = (*second)->Start();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "cannot listen on 127.0.0.1:" + std::to_string(first.port()) +
                              ": address already in use");
  ExpectHealthy(*first.Client());
}

// A known route with the wrong method is 405 with an Allow header, not 404 "no route".
TEST(ServerRobustnessTest, WrongMethodIs405WithAllow) {
  testing::TestServer server;
  auto c = server.Client();
  for (const char* path : {"/v1/completions", "/v1/chat/completions", "/v1/score"}) {
    for (const char* method : {"GET", "PUT", "DELETE"}) {
      httplib::Request req;
      req.method = method;
      req.path = path;
      if (std::string(method) != "GET") req.body = "{}";
      httplib::Response res;
      httplib::Error err = httplib::Error::Success;
      ASSERT_TRUE(c->send(req, res, err)) << method << " " << path;
      EXPECT_EQ(res.status, 405) << method << " " << path << ": " << res.body;
      EXPECT_EQ(res.get_header_value("Allow"), "POST") << method << " " << path;
      const Json j = Json::parse(res.body, nullptr, false);
      ASSERT_TRUE(j.is_object() && j.contains("error")) << res.body;
      EXPECT_EQ(j["error"]["code"], "method_not_allowed");
      EXPECT_EQ(j["error"]["type"], "invalid_request_error");
      EXPECT_NE(j["error"]["message"].get<std::string>().find("use POST"), std::string::npos)
          << res.body;
    }
  }
  const testing::HttpReply models = testing::Post(*c, "/v1/models", "{}");
  EXPECT_EQ(models.status, 405) << models.body;
  const auto allow = models.headers.find("Allow");
  ASSERT_NE(allow, models.headers.end());
  EXPECT_EQ(allow->second, "GET, HEAD");
  // An unknown path is still 404.
  EXPECT_EQ(testing::Get(*c, "/v1/nothing").status, 404);
  ExpectHealthy(*c);
}

// `stop_ids` is accepted as an alias of `stop_token_ids` end to end: the request stops there.
TEST(ServerRobustnessTest, StopIdsAliasStopsGeneration) {
  testing::TestServer server;
  auto c = server.Client();
  const Json plain = testing::Post(*c, "/v1/completions",
                                  R"({"prompt": [1, 2, 3], "max_tokens": 8})")
                        .json();
  const int32_t second = plain["choices"][0]["token_ids"][1].get<int32_t>();
  for (const char* key : {"stop_token_ids", "stop_ids"}) {
    const Json body = {{"prompt", {1, 2, 3}}, {"max_tokens", 8}, {key, Json::array({second})}};
    const testing::HttpReply r = testing::Post(*c, "/v1/completions", body.dump());
    ASSERT_EQ(r.status, 200) << key << ": " << r.body;
    const Json j = r.json();
    const Json& choice = j["choices"][0];
    EXPECT_EQ(choice["finish_reason"], "stop") << key;
    const std::vector<int32_t> ids = choice["token_ids"].get<std::vector<int32_t>>();
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids.back(), second) << key;
    EXPECT_LE(ids.size(), 2u) << key;
  }
  ExpectError(testing::Post(*c, "/v1/completions",
                            R"({"prompt": [1], "stop_token_ids": [2], "stop_ids": [3]})"),
              400, "stop_ids", "only one");
}

TEST(ServerRobustnessTest, MissingOrWrongApiKeyIs401) {
  server::ServerOptions o;
  o.api_key = "sekrit";
  testing::TestServer server(o);
  auto c = server.Client();
  const std::string body = R"({"prompt": [1], "max_tokens": 1})";
  ExpectError(testing::Post(*c, "/v1/completions", body), 401, "", "API key is required");
  ExpectError(testing::Post(*c, "/v1/completions", body, {{"Authorization", "Bearer nope"}}),
              401, "", "API key is wrong");
  EXPECT_EQ(testing::Post(*c, "/v1/completions", body, {{"Authorization", "Bearer sekrit"}}).status,
            200);
  EXPECT_EQ(testing::Get(*c, "/health").status, 200);  // health and metrics stay open
}

// A raw socket: sends a streaming request, reads its first bytes, and hangs up.
void StreamThenHangUp(int port, const std::string& body) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string req = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                          "application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), ssize_t(req.size()));
  std::string got;
  char buf[512];
  while (got.find("data: ") == std::string::npos) {  // the first token has been streamed
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    got.append(buf, size_t(n));
  }
  ::close(fd);
}

double Metric(httplib::Client& c, const std::string& name) {
  return testing::MetricValue(testing::Get(c, "/metrics").body, name);
}

// Polls /metrics until `name` equals `want` (the engine thread notices a hang-up at its next
// write; bounded wait, not a timing assertion).
bool WaitMetric(httplib::Client& c, const std::string& name, double want) {
  for (int i = 0; i < 1000; ++i) {
    if (Metric(c, name) == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(ServerRobustnessTest, ClientDisconnectMidStreamFreesItsKvBlocks) {
  EngineOptions eo;
  eo.prefix_cache = false;  // so that every freed block is free, not cached
  auto server = testing::LongServer({}, eo);
  auto c = server->Client();
  // Long enough that it cannot finish before the hang-up is noticed.
  StreamThenHangUp(server->port(),
                   R"({"prompt": [1, 2, 3, 4, 5], "max_tokens": 8000, "stream": true})");
  EXPECT_TRUE(WaitMetric(*c, "detinfer_requests_cancelled_total", 1));
  EXPECT_TRUE(WaitMetric(*c, "detinfer_requests_running", 0));
  EXPECT_EQ(Metric(*c, "detinfer_kv_blocks_used"), 0);
  EXPECT_LT(Metric(*c, "detinfer_generation_tokens_total"), 8000);
  ExpectHealthy(*c);
}

TEST(ServerRobustnessTest, FullQueueIs429WithRetryAfter) {
  server::ServerOptions o;
  o.loop.max_running = 1;
  o.loop.max_queued = 0;
  auto server = testing::LongServer(o);
  auto c = server->Client();
  // Occupy the only slot with a long stream that we keep open (and do not read).
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string body = R"({"prompt": [1, 2, 3], "max_tokens": 8000, "stream": true})";
  const std::string req = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), ssize_t(req.size()));
  char buf[256];
  ASSERT_GT(::recv(fd, buf, sizeof buf, 0), 0);  // accepted (its headers came back)
  ASSERT_TRUE(WaitMetric(*c, "detinfer_requests_running", 1));  // and in the engine
  const testing::HttpReply r =
      testing::Post(*c, "/v1/completions", R"({"prompt": [1], "max_tokens": 1})");
  ExpectError(r, 429, "", "too many requests");
  bool retry_after = false;
  for (const auto& [k, v] : r.headers) retry_after |= k == "Retry-After";
  EXPECT_TRUE(retry_after);
  ::close(fd);
  EXPECT_TRUE(WaitMetric(*c, "detinfer_requests_cancelled_total", 1));
  EXPECT_TRUE(WaitMetric(*c, "detinfer_requests_running", 0));
  ExpectHealthy(*c);
}

int64_t ResidentKiB() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

TEST(ServerRobustnessTest, SoakOfMixedRequestsLeaksNoKvBlocks) {
  testing::TestServer server;
  constexpr int kClients = 8, kPerClient = 250;  // 2000 requests
  std::atomic<int> ok{0};
  int64_t rss_after_warmup = 0;
  for (int round = 0; round < 2; ++round) {
    std::vector<std::thread> clients;
    for (int t = 0; t < kClients; ++t) {
      clients.emplace_back([&, t, round] {
        auto c = server.Client();
        std::mt19937_64 rng(uint64_t(t * 31 + round));
        for (int i = 0; i < kPerClient / 2; ++i) {
          std::vector<int32_t> prompt(1 + rng() % 40);
          for (auto& id : prompt) id = int32_t(rng() % 64);
          const int kind = int(rng() % 8);
          testing::HttpReply r;
          if (kind == 0) {
            r = testing::Post(*c, "/v1/score",
                              Json{{"prompt", prompt}, {"completion", {1, 2}}}.dump());
          } else if (kind == 1) {
            r = testing::Post(*c, "/v1/completions", "{not json");
            if (r.status == 400) r.status = 200;
          } else {
            r = testing::Post(*c, "/v1/completions",
                              Json{{"prompt", prompt},
                                   {"max_tokens", 1 + int(rng() % 4)},
                                   {"temperature", double(rng() % 2)},
                                   {"stream", kind % 2 == 0}}
                                  .dump());
          }
          ok.fetch_add(r.status == 200);
        }
      });
    }
    for (auto& t : clients) t.join();
    if (round == 0) rss_after_warmup = ResidentKiB();
  }
  EXPECT_EQ(ok.load(), kClients * kPerClient);
  auto c = server.Client();
  EXPECT_TRUE(WaitMetric(*c, "detinfer_requests_running", 0));
  EXPECT_EQ(Metric(*c, "detinfer_kv_blocks_used"), 0);
  EXPECT_EQ(Metric(*c, "detinfer_queue_depth"), 0);
#if !defined(__SANITIZE_ADDRESS__)
  // The second half of the soak must not grow the process (the sanitizer's quarantine would).
  const int64_t growth = ResidentKiB() - rss_after_warmup;
  RecordProperty("rss_growth_kib", std::to_string(growth));
  EXPECT_LT(growth, 16 * 1024);
#else
  RecordProperty("rss_after_warmup_kib", std::to_string(rss_after_warmup));
#endif
}

TEST(ServerRobustnessTest, StopLetsInFlightRequestsFinishThenRefuses) {
  auto server = testing::LongServer();
  auto c = server->Client();
  testing::HttpReply in_flight;
  std::thread t([&] {
    in_flight = testing::Post(*c, "/v1/completions", R"({"prompt": [1, 2], "max_tokens": 600})");
  });
  auto probe = server->Client();
  ASSERT_TRUE(WaitMetric(*probe, "detinfer_requests_running", 1));
  server->srv->Stop();
  t.join();
  EXPECT_EQ(in_flight.status, 200) << in_flight.body;
  EXPECT_EQ(in_flight.json()["choices"][0]["token_ids"].size(), 600u);
  EXPECT_EQ(testing::Get(*probe, "/health").status, 0);  // the socket is closed
}

TEST(ServerRobustnessTest, StopAfterTheGracePeriodCancelsWhatIsLeft) {
  server::ServerOptions o;
  o.shutdown_grace = std::chrono::milliseconds(0);
  auto server = testing::LongServer(o);
  auto c = server->Client();
  testing::HttpReply in_flight;
  std::thread t([&] {
    in_flight = testing::Post(*c, "/v1/completions", R"({"prompt": [1, 2], "max_tokens": 8000})");
  });
  auto probe = server->Client();
  ASSERT_TRUE(WaitMetric(*probe, "detinfer_requests_running", 1));
  server->srv->Stop();
  t.join();
  ExpectError(in_flight, 503, "", "shutting down");
}

}  // namespace
}  // namespace detinfer
