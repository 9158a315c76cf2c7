// What `detinfer` says when its command line cannot be parsed: one "detinfer:" line with
// CLI11's reason, the closest subcommand or flag when a name was misspelt, and where to look.
#ifndef DETINFER_TOOLS_USAGE_ERROR_H_
#define DETINFER_TOOLS_USAGE_ERROR_H_

#include <string>
#include <vector>

namespace CLI {
class App;
class ParseError;
}  // namespace CLI

namespace detinfer::cli {

// The candidate closest to `word` by edit distance, or "" when none is close enough to be a
// plausible typo (distance at most a third of the word's length rounded up, at least 1).
std::string ClosestName(const std::string& word, const std::vector<std::string>& candidates);

// Prints the message for a failed parse of argv on stderr and returns the usage exit code.
int ReportUsageError(const CLI::App& app, const CLI::ParseError& error, int argc,
                     const char* const* argv);

}  // namespace detinfer::cli

#endif  // DETINFER_TOOLS_USAGE_ERROR_H_
