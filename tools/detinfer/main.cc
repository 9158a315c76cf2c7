// The detinfer command-line tool: one subcommand per file in this folder.
#include <CLI/CLI.hpp>

#include "cpu_info.h"
#include "init.h"
#include "subcommands.h"

int main(int argc, char** argv) {
  CLI::App app{"detinfer: bitwise-reproducible LLM inference"};
  app.require_subcommand(1);
  app.set_version_flag("--version", DETINFER_VERSION);
  detinfer::cli::RegisterCpuInfo(app);
  detinfer::cli::RegisterInfo(app);
  detinfer::cli::RegisterLogits(app);
  detinfer::cli::RegisterGenerate(app);
  detinfer::cli::RegisterScore(app);
  detinfer::cli::RegisterInit(app);
  detinfer::cli::RegisterConvert(app);
  detinfer::cli::RegisterServe(app);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
