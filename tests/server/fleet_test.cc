// scripts/fleet.sh: 3 `detinfer serve` replicas behind HAProxy (docs/fleet.md). Under 32
// concurrent clients every fixed request's answer through the balancer is, bit for bit, the one a
// single replica gives it alone; a session's requests reach one replica; a replica whose schedule
// id differs is refused. Skipped (visibly, as SKIPPED) where haproxy or curl is not installed:
// `bash scripts/install-deps.sh haproxy`.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli_run.h"
#include "server_test_util.h"

namespace detinfer {
namespace {

using testing::Json;

bool Installed(const char* tool) {
  const std::string cmd = std::string("command -v ") + tool + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// Runs a shell command; returns its exit code and what it printed (stdout and stderr).
std::pair<int, std::string> Shell(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, ""};
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

bool PortFree(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// `n` consecutive free loopback ports (the frontend, then the replicas).
int FreePorts(int n) {
  std::mt19937 rng(static_cast<unsigned>(getpid()));
  for (int tries = 0; tries < 100; ++tries) {
    const int base = 20000 + static_cast<int>(rng() % 30000);
    bool all = true;
    for (int i = 0; i < n && all; ++i) all = PortFree(base + i);
    if (all) return base;
  }
  return 0;
}

// A process started with fork/exec, stopped with SIGTERM (and waited for) when it goes. It also
// gets SIGTERM if the test process dies without running this destructor (a sanitizer abort,
// a ctest timeout): otherwise the fleet would outlive the test holding its output pipe, and
// ctest would wait for that pipe forever.
struct Child {
  pid_t pid = -1;
  explicit Child(const std::vector<std::string>& argv) {
    pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
  }
  ~Child() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      int status = 0;
      waitpid(pid, &status, 0);
    }
  }
};

bool WaitHealthy(int port, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(1, 0);
    auto r = c.Get("/health");
    if (r && r->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

struct Answer {
  Json token_ids, token_logprobs, fingerprint, system_fingerprint;
  std::string served_by;
  bool operator==(const Answer& o) const {
    return token_ids == o.token_ids && token_logprobs == o.token_logprobs &&
           fingerprint == o.fingerprint && system_fingerprint == o.system_fingerprint;
  }
};

Answer Ask(int port, const std::string& body, const std::string& session) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(120, 0);
  httplib::Headers h;
  if (!session.empty()) h.emplace("X-Session-Id", session);
  auto r = c.Post("/v1/completions", h, body, "application/json");
  Answer a;
  if (!r || r->status != 200) {
    a.served_by = r ? "HTTP " + std::to_string(r->status) + ": " + r->body : "no answer";
    return a;
  }
  const Json j = Json::parse(r->body);
  a.token_ids = j["choices"][0]["token_ids"];
  // Logprobs compared as the exact text the server printed (shortest round trip: the bits).
  a.token_logprobs = j["choices"][0]["token_logprobs"].dump();
  a.fingerprint = j["choices"][0]["fingerprint"];
  a.system_fingerprint = j["system_fingerprint"];
  a.served_by = r->get_header_value("X-Served-By");
  return a;
}

TEST(FleetTest, ThreeReplicasBehindHaproxyAnswerAsOneReplicaAlone) {
  if (!Installed("haproxy") || !Installed("curl")) {
    GTEST_SKIP() << "haproxy or curl is not installed: bash scripts/install-deps.sh haproxy curl";
  }
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("fleet_test_" + std::to_string(getpid())))
          .string();
  std::filesystem::create_directories(dir);
  const std::string model = dir + "/m.gguf";
  ASSERT_EQ(testing::Cli("init --arch llama --dim 32 --layers 1 --heads 2 --kv-heads 2 --ffn 48 "
                         "--vocab 64 --seed 1 --dtype f32 --format gguf --out " + model)
                .rc,
            0);
  const int base = FreePorts(5);
  ASSERT_GT(base, 0);
  const int front = base;
  const std::string script = std::string(DETINFER_SOURCE_DIR) + "/scripts/fleet.sh";
  {
    Child fleet({"env", std::string("DETINFER=") + DETINFER_CLI_PATH, "bash", script,
                 "--replicas", "3", "--port", std::to_string(front), "--base-port",
                 std::to_string(base + 1), "--dir", dir, model, "--threads", "1"});
    ASSERT_TRUE(WaitHealthy(front, std::chrono::seconds(90))) << "the fleet did not come up";

    // The fixed requests, each answered first by one replica alone.
    std::vector<std::string> bodies;
    for (int i = 0; i < 6; ++i) {
      bodies.push_back(Json{{"prompt", Json::array({1 + i, 2 * i + 3, 5})},
                            {"max_tokens", 8},
                            {"temperature", i % 2 == 0 ? 0.0 : 1.0},
                            {"seed", 100 + i}}
                           .dump());
    }
    std::vector<Answer> alone;
    for (const std::string& b : bodies) {
      alone.push_back(Ask(base + 1, b, ""));
      ASSERT_FALSE(alone.back().token_ids.empty()) << alone.back().served_by;
    }

    // 32 concurrent clients, each with its own session, each asking for some of them.
    std::mutex mu;
    std::vector<std::pair<size_t, Answer>> got;
    std::vector<std::thread> clients;
    for (int t = 0; t < 32; ++t) {
      clients.emplace_back([&, t] {
        std::mt19937 rng(static_cast<unsigned>(t));
        const std::string session = "client-" + std::to_string(rng());
        for (int k = 0; k < 3; ++k) {
          const size_t which = rng() % bodies.size();
          Answer a = Ask(front, bodies[which], session);
          std::lock_guard<std::mutex> lock(mu);
          got.emplace_back(which, std::move(a));
        }
      });
    }
    for (std::thread& c : clients) c.join();
    std::set<std::string> replicas;
    for (const auto& [which, a] : got) {
      EXPECT_TRUE(a == alone[which]) << "request " << which << " via " << a.served_by;
      replicas.insert(a.served_by);
    }
    EXPECT_EQ(got.size(), 96u);
    EXPECT_GE(replicas.size(), 2u) << "32 sessions should spread over the replicas";

    // Affinity: one session's requests reach one replica.
    std::set<std::string> of_session;
    for (int k = 0; k < 6; ++k) of_session.insert(Ask(front, bodies[0], "one-session").served_by);
    EXPECT_EQ(of_session.size(), 1u);

    // A conversation's second turn (the first turn's prompt and answer, then more) reaches the
    // replica that served the first, and finds its prefix there.
    {
      Json prompt = Json::array();
      for (int i = 0; i < 40; ++i) prompt.push_back((i * 7) % 60 + 1);
      httplib::Client c("127.0.0.1", front);
      c.set_read_timeout(120, 0);
      const httplib::Headers h = {{"X-Session-Id", "conversation"}};
      auto first = c.Post("/v1/completions", h,
                          Json{{"prompt", prompt}, {"max_tokens", 8}}.dump(), "application/json");
      ASSERT_TRUE(first && first->status == 200);
      // The parsed body is kept: a range-for over a member of a temporary reads freed memory.
      const Json first_body = Json::parse(first->body);
      for (const Json& id : first_body["choices"][0]["token_ids"]) prompt.push_back(id);
      prompt.push_back(5);
      auto second = c.Post("/v1/completions", h,
                           Json{{"prompt", prompt}, {"max_tokens", 8}}.dump(), "application/json");
      ASSERT_TRUE(second && second->status == 200);
      EXPECT_EQ(second->get_header_value("X-Served-By"), first->get_header_value("X-Served-By"));
      const Json usage = Json::parse(second->body)["usage"];
      EXPECT_GT(usage["prompt_tokens_details"]["cached_tokens"].get<int>(), 0) << usage;
    }

    // A replica killed mid-run: what was in flight on it, and every session hashed to it, is
    // retried on another replica by HAProxy, and the retried answer is the same answer.
    std::ifstream pid_file(dir + "/replica1.pid");
    pid_t victim = 0;
    ASSERT_TRUE(pid_file >> victim);
    // Each client is one session; what served its turns, in order.
    std::vector<std::vector<std::pair<size_t, Answer>>> during(16);
    std::atomic<int> by_victim{0};
    clients.clear();
    for (int t = 0; t < 16; ++t) {
      clients.emplace_back([&, t] {
        std::mt19937 rng(static_cast<unsigned>(1000 + t));
        const std::string session = "kill-" + std::to_string(rng());
        for (int k = 0; k < 40; ++k) {
          const size_t which = rng() % bodies.size();
          Answer a = Ask(front, bodies[which], session);
          if (a.served_by == "r1") ++by_victim;
          during[static_cast<size_t>(t)].emplace_back(which, std::move(a));
        }
      });
    }
    // Killed once it has answered some of this load, so that its sessions are live on it.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (by_victim < 3 && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_EQ(kill(victim, SIGKILL), 0);
    for (std::thread& c : clients) c.join();
    int moved = 0;  // sessions that were on r1 and went on elsewhere
    for (const auto& session : during) {
      ASSERT_EQ(session.size(), 40u);
      bool on_victim = false;
      for (const auto& [which, a] : session) {
        EXPECT_TRUE(a == alone[which]) << "request " << which << " via " << a.served_by;
        if (a.served_by == "r1") on_victim = true;
        if (on_victim && a.served_by != "r1") {
          ++moved;
          break;
        }
      }
    }
    std::printf("replica r1 killed mid-run after %d answers; %d sessions moved on from it\n",
                by_victim.load(), moved);
    EXPECT_GE(by_victim.load(), 3);
    EXPECT_GE(moved, 1);
  }  // the fleet stops (SIGTERM: HAProxy and every replica)

  // A replica with another schedule id (a different KV dtype gives different bits) is refused.
  {
    Child same({DETINFER_CLI_PATH, "serve", model, "--port", std::to_string(base + 1),
                "--threads", "1"});
    Child other({DETINFER_CLI_PATH, "serve", model, "--port", std::to_string(base + 2),
                 "--threads", "1", "--kv-dtype", "bf16"});
    ASSERT_TRUE(WaitHealthy(base + 1, std::chrono::seconds(60)));
    ASSERT_TRUE(WaitHealthy(base + 2, std::chrono::seconds(60)));
    const std::string a = "http://127.0.0.1:" + std::to_string(base + 1);
    const std::string b = "http://127.0.0.1:" + std::to_string(base + 2);
    const auto [rc, out] = Shell("bash " + script + " --check-schedules " + a + " " + b);
    EXPECT_EQ(rc, 1) << out;
    EXPECT_NE(out.find("refusing " + b + ": its schedule id"), std::string::npos) << out;
    const auto [rc_same, out_same] = Shell("bash " + script + " --check-schedules " + a + " " + a);
    EXPECT_EQ(rc_same, 0) << out_same;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace detinfer
