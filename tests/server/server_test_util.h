// Helpers for the server tests: a real HttpServer on a loopback port over a small random
// model, and an HTTP client that returns parsed JSON and Server-Sent Events.
#ifndef DETINFER_TESTS_SERVER_SERVER_TEST_UTIL_H_
#define DETINFER_TESTS_SERVER_SERVER_TEST_UTIL_H_

#include <httplib.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/model_bundle.h"
#include "model/random_model.h"
#include "server/server.h"

namespace detinfer::testing {

using Json = nlohmann::json;

inline ModelConfig ServerTestConfig(int64_t context = 256) {
  ModelConfig c;
  c.arch = Arch::kQwen3;
  c.dim = 32;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 8;
  c.ffn_dim = 48;
  c.vocab_size = 64;
  c.max_seq_len = context;
  c.rope_style = RopeStyle::kRotateHalf;
  c.qk_norm = true;
  return c;
}

inline const Transformer& ServerTestModel() {
  static const Transformer* m = [] {
    auto t = Transformer::Create(RandomModel(ServerTestConfig(), 33));
    return new Transformer(std::move(t).value());
  }();
  return *m;
}

// The same shape with a context of 8192: a request of 8000 tokens runs long enough that a
// test can act while it runs (cancel it, fill the queue behind it).
inline const Transformer& LongContextModel() {
  static const Transformer* m = [] {
    auto t = Transformer::Create(RandomModel(ServerTestConfig(8192), 33));
    return new Transformer(std::move(t).value());
  }();
  return *m;
}

inline std::unique_ptr<struct TestServer> LongServer(server::ServerOptions o = {},
                                                     EngineOptions eo = {});

// A server on 127.0.0.1, any free port; stopped by the destructor.
struct TestServer {
  std::unique_ptr<server::HttpServer> srv;
  explicit TestServer(server::ServerOptions o = {}, EngineOptions eo = {},
                      const Transformer* model = nullptr, const Tokenizer* tok = nullptr) {
    o.port = 0;
    o.model_name = "test-model";
    server::ServedModel m{model ? model : &ServerTestModel(), tok, "0123456789abcdef"};
    eo.kv_capacity_tokens = std::max<int64_t>(eo.kv_capacity_tokens, 4096);
    auto s = server::HttpServer::Create(m, KernelContext{}, eo, o);
    if (!s.ok()) throw std::runtime_error(s.status().ToString());
    srv = std::move(s).value();
    const Status st = srv->Start();
    if (!st.ok()) throw std::runtime_error(st.ToString());
  }
  int port() const { return srv->port(); }
  std::unique_ptr<httplib::Client> Client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port());
    c->set_read_timeout(60, 0);
    return c;
  }
};

inline std::unique_ptr<TestServer> LongServer(server::ServerOptions o, EngineOptions eo) {
  eo.kv_capacity_tokens = 2 * 8192;
  return std::make_unique<TestServer>(o, eo, &LongContextModel());
}

struct HttpReply {
  int status = 0;  // 0: no response
  std::string body;
  httplib::Headers headers;
  Json json() const { return Json::parse(body, nullptr, false); }
};

inline HttpReply Post(httplib::Client& c, const std::string& path, const std::string& body,
                      const httplib::Headers& headers = {}) {
  auto r = c.Post(path.c_str(), headers, body, "application/json");
  if (!r) return {};
  return {r->status, r->body, r->headers};
}

inline HttpReply Get(httplib::Client& c, const std::string& path) {
  auto r = c.Get(path.c_str());
  if (!r) return {};
  return {r->status, r->body, r->headers};
}

// The "data: ..." payloads of an SSE body, "[DONE]" included.
inline std::vector<std::string> SseData(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    out.push_back(body.substr(pos + 6, end - pos - 6));
    pos = end == std::string::npos ? body.size() : end + 2;
  }
  return out;
}

// What must be bit-identical: the generated ids, the exact bits of their logprobs, the
// fingerprint.
struct ResponseBits {
  std::vector<int32_t> tokens;
  std::vector<uint32_t> logprob_bits;
  std::string fingerprint;
  std::string text;
  bool operator==(const ResponseBits&) const = default;
};

inline uint32_t FloatBits(const Json& v) {
  // A JSON number parsed as double narrows back to the exact float the server sent.
  const float f = static_cast<float>(v.get<double>());
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

// From a non-streaming choice.
inline ResponseBits ChoiceBits(const Json& choice) {
  ResponseBits b;
  for (const auto& t : choice["token_ids"]) b.tokens.push_back(t.get<int32_t>());
  for (const auto& v : choice["token_logprobs"]) b.logprob_bits.push_back(FloatBits(v));
  b.fingerprint = choice["fingerprint"].get<std::string>();
  if (choice.contains("text")) b.text = choice["text"].get<std::string>();
  if (choice.contains("message")) b.text = choice["message"]["content"].get<std::string>();
  return b;
}

// From an SSE body: every chunk's ids and logprobs, the last chunk's fingerprint.
inline ResponseBits StreamBits(const std::string& body) {
  ResponseBits b;
  for (const std::string& d : SseData(body)) {
    if (d == "[DONE]") break;
    const Json j = Json::parse(d);
    if (j.contains("error") || j["choices"].empty()) continue;
    const Json& c = j["choices"][0];
    for (const auto& t : c["token_ids"]) b.tokens.push_back(t.get<int32_t>());
    for (const auto& v : c["token_logprobs"]) b.logprob_bits.push_back(FloatBits(v));
    if (c.contains("fingerprint")) b.fingerprint = c["fingerprint"].get<std::string>();
    if (c.contains("text")) b.text += c["text"].get<std::string>();
    if (c.contains("delta") && c["delta"].contains("content")) {
      b.text += c["delta"]["content"].get<std::string>();
    }
  }
  return b;
}

// The shipped model (models/verbs, a word-level tokenizer whose end-of-sequence token 3 is
// "</s>"), loaded once.
inline const ModelBundle& VerbsModel() {
  static const ModelBundle* b = [] {
    auto r = LoadModelBundle(std::string(DETINFER_SOURCE_DIR) + "/models/verbs");
    if (!r.ok()) throw std::runtime_error(r.status().ToString());
    return new ModelBundle(std::move(r).value());
  }();
  return *b;
}

// A value of /metrics (first line starting with `name` followed by a space or '{').
inline double MetricValue(const std::string& text, const std::string& name) {
  size_t pos = 0;
  while ((pos = text.find(name, pos)) != std::string::npos) {
    const bool line_start = pos == 0 || text[pos - 1] == '\n';
    const char next = text[pos + name.size()];
    if (line_start && (next == ' ' || next == '{')) {
      const size_t sp = text.find(' ', pos);
      return std::stod(text.substr(sp + 1, text.find('\n', sp) - sp - 1));
    }
    pos += name.size();
  }
  return -1;
}

}  // namespace detinfer::testing

#endif  // DETINFER_TESTS_SERVER_SERVER_TEST_UTIL_H_
