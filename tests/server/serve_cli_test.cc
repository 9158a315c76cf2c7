// `detinfer serve` as a process: it prints where it listens, answers over HTTP, and on SIGTERM
// or SIGINT stops gracefully and exits 0; bad flags are clear errors.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "cli_run.h"
#include "server_test_util.h"

namespace detinfer {
namespace {

// Runs the CLI, returns what it printed; `*exit_code` gets its exit status.
std::string RunCli(const std::string& args, int* exit_code = nullptr,
                   const std::string& prefix = "") {
  const testing::CliRun r = testing::Cli(args, /*stdout_only=*/false, prefix);
  if (exit_code != nullptr) *exit_code = r.rc;
  return r.out;
}

std::string TestModel() {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("serve_cli_" + std::to_string(getpid()) + ".gguf"))
          .string();
  RunCli("init --arch llama --dim 32 --layers 1 --heads 2 --kv-heads 2 --ffn 48 --vocab 64 "
         "--seed 1 --dtype f32 --format gguf --out " + path);
  return path;
}

// Starts `detinfer serve MODEL --port 0`, returns its pid and the port it printed.
std::pair<pid_t, int> StartServe(const std::string& model) {
  int fds[2];
  if (pipe(fds) != 0) return {-1, 0};
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    execl(DETINFER_CLI_PATH, DETINFER_CLI_PATH, "serve", model.c_str(), "--port", "0",
          "--threads", "1", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::string err;
  char c;
  while (err.find('\n') == std::string::npos && read(fds[0], &c, 1) == 1) err += c;
  close(fds[0]);
  // The port follows "http://127.0.0.1:" in the first line (std::regex is avoided: GCC 12 warns
  // falsely inside it under the sanitizer build).
  const std::string prefix = "http://127.0.0.1:";
  const size_t at = err.find(prefix);
  if (at == std::string::npos) return {pid, 0};
  size_t end = at + prefix.size();
  while (end < err.size() && std::isdigit(static_cast<unsigned char>(err[end]))) ++end;
  if (end == at + prefix.size()) return {pid, 0};
  return {pid, std::stoi(err.substr(at + prefix.size(), end - at - prefix.size()))};
}

TEST(ServeCliTest, ServesThenStopsGracefullyOnSignals) {
  const std::string model = TestModel();
  for (const int sig : {SIGTERM, SIGINT}) {
    const auto [pid, port] = StartServe(model);
    ASSERT_GT(pid, 0);
    ASSERT_GT(port, 0) << "no listening line";
    httplib::Client c("127.0.0.1", port);
    auto r = c.Post("/v1/completions", R"({"prompt": [1, 2], "max_tokens": 3})",
                    "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    kill(pid, sig);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status)) << "signal " << sig;
    EXPECT_EQ(WEXITSTATUS(status), 0) << "signal " << sig;
  }
  std::filesystem::remove(model);
}

// The admin key from the environment enables weight updates of the served model; the schedule
// id then takes the weights' hash.
TEST(ServeCliTest, AdminKeyFromTheEnvironmentEnablesWeightUpdates) {
  const std::string model = TestModel();
  setenv("DETINFER_ADMIN_KEY", "cli-admin", 1);
  const auto [pid, port] = StartServe(model);
  unsetenv("DETINFER_ADMIN_KEY");
  ASSERT_GT(pid, 0);
  ASSERT_GT(port, 0) << "no listening line";
  httplib::Client c("127.0.0.1", port);
  const testing::Json before = testing::Get(c, "/get_weight_version").json();
  EXPECT_EQ(before["weight_version"]["counter"], 0);
  const testing::HttpReply refused = testing::Post(
      c, "/update_weights_from_disk", testing::Json{{"model_path", model}}.dump());
  EXPECT_EQ(refused.status, 401) << refused.body;
  const testing::HttpReply r =
      testing::Post(c, "/update_weights_from_disk", testing::Json{{"model_path", model}}.dump(),
                    {{"Authorization", "Bearer cli-admin"}});
  EXPECT_EQ(r.status, 200) << r.body;
  const testing::Json after = testing::Get(c, "/get_weight_version").json();
  EXPECT_EQ(after["weight_version"]["counter"], 1);
  // The same bytes: the same hash; the id now names the weights too.
  EXPECT_EQ(after["weight_version"]["hash"], before["weight_version"]["hash"]);
  EXPECT_NE(after["schedule_id"], before["schedule_id"]);
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  std::filesystem::remove(model);
}

// A second server on a port that one already listens on must fail, not share the port and
// take half of its connections (httplib's default SO_REUSEPORT allowed that).
TEST(ServeCliTest, SecondServerOnTheSamePortFailsToListen) {
  const std::string model = TestModel();
  const auto [pid, port] = StartServe(model);
  ASSERT_GT(pid, 0);
  ASSERT_GT(port, 0) << "no listening line";
  int code = 0;
  // `timeout` turns the old behaviour (the second one serves forever) into a failure.
  const std::string out = RunCli("serve " + model + " --threads 1 --port " + std::to_string(port),
                                 &code, "timeout 60 ");
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("detinfer: cannot listen on 127.0.0.1:" + std::to_string(port) +
                     ": address already in use"),
            std::string::npos)
      << out;
  // The first one still answers.
  httplib::Client c("127.0.0.1", port);
  auto r = c.Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  std::filesystem::remove(model);
}

TEST(ServeCliTest, BadFlagsAreClearErrors) {
  const std::string model = TestModel();
  EXPECT_NE(RunCli("serve " + model + " --chat-template vicuna").find(
                "--chat-template: 'vicuna' is neither chatml, llama3 nor a readable Jinja file"),
            std::string::npos);
  EXPECT_NE(RunCli("serve " + model + " --max-concurrency 0").find("--max-concurrency must be >= 1"),
            std::string::npos);
  EXPECT_NE(RunCli("serve " + model + " --port 70000").find("--port must be in [0, 65535]"),
            std::string::npos);
  EXPECT_NE(RunCli("serve /nonexistent/model.gguf").find("/nonexistent/model.gguf"),
            std::string::npos);
  std::filesystem::remove(model);
}

}  // namespace
}  // namespace detinfer
