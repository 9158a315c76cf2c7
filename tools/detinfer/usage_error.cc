#include "usage_error.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <string_view>

#include "cli_common.h"

namespace detinfer::cli {

namespace {

// Edits (insert, delete, substitute, swap two neighbours) that turn a into b: the swap counts
// once because "scroe" for "score" is the commonest typo of all.
size_t EditDistance(std::string_view a, std::string_view b) {
  const size_t w = b.size() + 1;
  std::vector<size_t> d((a.size() + 1) * w);
  for (size_t i = 0; i <= a.size(); ++i) d[i * w] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t best = std::min({d[(i - 1) * w + j] + 1, d[i * w + j - 1] + 1,
                              d[(i - 1) * w + j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        best = std::min(best, d[(i - 2) * w + j - 2] + 1);
      }
      d[i * w + j] = best;
    }
  }
  return d[a.size() * w + b.size()];
}

// The long flag names of `cmd` ("--prompt", ...), the help flag included.
std::vector<std::string> FlagNames(const CLI::App& cmd) {
  std::vector<std::string> names;
  for (const CLI::Option* opt : cmd.get_options()) {
    for (const std::string& n : opt->get_lnames()) names.push_back("--" + n);
  }
  return names;
}

}  // namespace

std::string ClosestName(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(1, (word.size() + 2) / 3) + 1;  // at most a third, rounded up
  for (const std::string& c : candidates) {
    const size_t d = EditDistance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

int ReportUsageError(const CLI::App& app, const CLI::ParseError& error, int argc,
                     const char* const* argv) {
  std::vector<std::string> subcommands;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    subcommands.push_back(sub->get_name());
  }
  // The subcommand that was recognised, if any: argv[1] by this tool's grammar.
  const CLI::App* cmd = nullptr;
  if (argc > 1) {
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      if (sub->get_name() == argv[1]) cmd = sub;
    }
  }
  std::string message = error.what();
  std::string hint;
  if (cmd == nullptr && argc > 1 && argv[1][0] != '-') {
    message = std::string("unknown subcommand '") + argv[1] + "'";
    const std::string near = ClosestName(argv[1], subcommands);
    if (!near.empty()) hint = "did you mean '" + near + "'? ";
    hint += "'detinfer --help' lists the subcommands";
  } else if (cmd != nullptr) {
    // A flag this subcommand does not have: name the closest one it does.
    const std::vector<std::string> flags = FlagNames(*cmd);
    for (int i = 2; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg.rfind("--", 0) != 0) continue;
      arg = arg.substr(0, arg.find('='));
      if (std::find(flags.begin(), flags.end(), arg) != flags.end()) continue;
      message = "unknown flag " + arg + " for 'detinfer " + cmd->get_name() + "'";
      const std::string near = ClosestName(arg, flags);
      if (!near.empty()) hint = "did you mean " + near + "? ";
      break;
    }
    hint += "'detinfer " + cmd->get_name() + " --help' lists its flags";
  } else {
    hint = "'detinfer --help' lists the subcommands";
  }
  std::fprintf(stderr, "detinfer: %s\ndetinfer: %s\n", message.c_str(), hint.c_str());
  return kExitUsage;
}

}  // namespace detinfer::cli
