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
#include <fstream>

#include "cli_run.h"
#include "core/isa.h"
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
  // A receipt names the model file; a choice on updated weights has none (null).
  const testing::HttpReply updated = testing::Post(
      c, "/v1/completions", R"({"prompt": [1, 2], "max_tokens": 3, "receipt": true})");
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_TRUE(updated.json()["choices"][0]["receipt"].is_null()) << updated.body;
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  std::filesystem::remove(model);
}

// Run receipts from the server (docs/receipts.md): every choice's receipt — non-streamed, on a
// streamed choice's last chunk, and from /generate — replays with `detinfer replay` on every ISA
// path, with one thread and other traffic; a receipt tampered with (one logprob bit, one token)
// is refused at the step edited.
TEST(ServeCliTest, ServerReceiptsReplayAndTamperingIsCaught) {
  const std::string model = std::string(DETINFER_SOURCE_DIR) + "/models/verbs";
  const auto [pid, port] = StartServe(model);
  ASSERT_GT(pid, 0);
  ASSERT_GT(port, 0) << "no listening line";
  httplib::Client c("127.0.0.1", port);
  testing::Json body = {{"prompt", "Yesterday I"}, {"max_tokens", 12}, {"temperature", 0.9},
                        {"seed", 5}, {"n", 2}, {"receipt", true}};
  const testing::HttpReply r = testing::Post(c, "/v1/completions", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const testing::Json answer = r.json();
  ASSERT_EQ(answer["choices"].size(), 2u);
  std::vector<std::string> files;
  for (size_t i = 0; i < 2; ++i) {
    const testing::Json& choice = answer["choices"][i];
    const testing::Json& receipt = choice["receipt"];
    ASSERT_TRUE(receipt.is_object()) << choice.dump();
    EXPECT_EQ(receipt["fingerprint"], choice["fingerprint"]);
    EXPECT_EQ(receipt["schedule_id"], answer["system_fingerprint"]);
    ASSERT_EQ(receipt["steps"].size(), choice["token_ids"].size());
    ASSERT_GE(receipt["steps"].size(), 3u);
    for (size_t s = 0; s < receipt["steps"].size(); ++s) {
      EXPECT_EQ(receipt["steps"][s]["token"], choice["token_ids"][s]);
    }
    files.push_back(::testing::TempDir() + "serve_receipt_" + std::to_string(i) + ".json");
    std::ofstream(files.back()) << receipt.dump(1);
  }
  // Sample 1 is recorded with its own (derived) seed: it replays alone.
  EXPECT_NE(answer["choices"][0]["receipt"]["request"]["seed"],
            answer["choices"][1]["receipt"]["request"]["seed"]);
  // Streamed: each choice's last chunk carries the same receipt.
  body["stream"] = true;
  const testing::HttpReply streamed = testing::Post(c, "/v1/completions", body.dump());
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  int streamed_receipts = 0;
  for (const std::string& d : testing::SseData(streamed.body)) {
    if (d == "[DONE]") continue;
    const testing::Json chunk = testing::Json::parse(d);
    const testing::Json& choice = chunk["choices"][0];
    if (!choice.contains("receipt")) continue;
    ++streamed_receipts;
    EXPECT_EQ(choice["receipt"], answer["choices"][choice["index"].get<size_t>()]["receipt"]);
  }
  EXPECT_EQ(streamed_receipts, 2);
  // SGLang's /generate: meta_info.receipt, the same run.
  const testing::Json first = answer["choices"][0]["receipt"];
  const testing::HttpReply g = testing::Post(
      c, "/generate",
      testing::Json{{"input_ids", first["request"]["prompt_ids"]},
                    {"sampling_params", {{"max_new_tokens", 12}, {"temperature", 0.9}, {"seed", 5}}},
                    {"receipt", true}}
          .dump());
  ASSERT_EQ(g.status, 200) << g.body;
  EXPECT_EQ(g.json()["meta_info"]["receipt"], first);
  // Nothing generated, nothing to record.
  const testing::HttpReply echo = testing::Post(
      c, "/v1/completions", R"({"prompt": [1, 2], "max_tokens": 0, "echo": true, "receipt": true})");
  EXPECT_EQ(echo.status, 400) << echo.body;
  EXPECT_EQ(echo.json()["error"]["param"], "receipt") << echo.body;
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);

  for (const std::string& f : files) {
    for (Isa isa : SupportedIsas(DetectCpuFeatures())) {
      const std::string env = "DETINFER_ISA=" + std::string(IsaName(isa)) + " ";
      const std::string out =
          RunCli("replay " + f + " --model " + model + " --threads 1 --co-batch 2", &status, env);
      EXPECT_EQ(status, 0) << IsaName(isa) << ": " << out;
      EXPECT_NE(out.find("replay: OK"), std::string::npos) << out;
    }
  }
  // Tampered: one bit of step 2's logprob; step 1's token. Each is refused at that step.
  for (const int step : {2, 1}) {
    testing::Json t = first;
    if (step == 2) {
      const uint32_t bits = static_cast<uint32_t>(
          std::stoul(t["steps"][2]["logprob_bits"].get<std::string>(), nullptr, 16));
      char hex[9];
      std::snprintf(hex, sizeof hex, "%08x", bits ^ 1u);
      t["steps"][2]["logprob_bits"] = hex;
    } else {
      t["steps"][1]["token"] = t["steps"][1]["token"].get<int32_t>() + 1;
    }
    const std::string f = ::testing::TempDir() + "serve_receipt_tampered.json";
    std::ofstream(f) << t.dump(1);
    const std::string out = RunCli("replay " + f + " --model " + model, &status);
    EXPECT_EQ(status, 1) << out;
    EXPECT_NE(out.find("step " + std::to_string(step) + " does not match its hash chain"),
              std::string::npos)
        << out;
  }
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
