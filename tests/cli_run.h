// Runs the built `detinfer` binary the way a user would (through the shell) and captures what it
// printed and its exit code. Shared by the tests of every subcommand.
#ifndef DETINFER_TESTS_CLI_RUN_H_
#define DETINFER_TESTS_CLI_RUN_H_

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace detinfer::testing {

struct CliRun {
  int rc;           // exit code, -1 when it did not exit normally
  std::string out;  // stdout, and stderr too unless `stdout_only`
};

// `args` is shell text after the binary's path (quote as in a terminal); `prefix` goes before
// the binary (e.g. "timeout 60 ", or environment assignments).
inline CliRun Cli(const std::string& args, bool stdout_only = false,
                  const std::string& prefix = "") {
  const std::string cmd = prefix + std::string(DETINFER_CLI_PATH) + " " + args +
                          (stdout_only ? " 2>/dev/null" : " 2>&1");
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// The model detinfer ships (a 64-token context, a word-level tokenizer with <unk>, EOS "</s>" = 3).
inline std::string ShippedModel() { return std::string(DETINFER_SOURCE_DIR) + "/models/verbs"; }

}  // namespace detinfer::testing

#endif  // DETINFER_TESTS_CLI_RUN_H_
