// The detinfer command-line tool: one subcommand per file in this folder. Exit codes
// (cli_common.h): 0 success, 1 the command failed, 2 a usage error.
#include <CLI/CLI.hpp>

#include "cpu_info.h"
#include "init.h"
#include "cli_common.h"
#include "subcommands.h"
#include "usage_error.h"

int main(int argc, char** argv) {
  CLI::App app{"detinfer: bitwise-reproducible LLM inference"};
  app.require_subcommand(1);
  app.set_version_flag("--version", DETINFER_VERSION);
  detinfer::cli::RegisterCpuInfo(app);
  detinfer::cli::RegisterInfo(app);
  detinfer::cli::RegisterLogits(app);
  detinfer::cli::RegisterGenerate(app);
  detinfer::cli::RegisterReplay(app);
  detinfer::cli::RegisterScore(app);
  detinfer::cli::RegisterTokenize(app);
  detinfer::cli::RegisterInit(app);
  detinfer::cli::RegisterConvert(app);
  detinfer::cli::RegisterTrain(app);
  detinfer::cli::RegisterRl(app);
  detinfer::cli::RegisterServe(app);
  detinfer::cli::RegisterVerify(app);
  detinfer::cli::RegisterDumpSlots(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    return detinfer::cli::ReportUsageError(app, e, argc, argv);
  }
  return detinfer::cli::kExitOk;
}
