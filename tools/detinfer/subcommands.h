// Registration of every detinfer subcommand (one file each in this folder).
#ifndef DETINFER_TOOLS_SUBCOMMANDS_H_
#define DETINFER_TOOLS_SUBCOMMANDS_H_

namespace CLI { class App; }

namespace detinfer::cli {

void RegisterInfo(CLI::App& app);
void RegisterLogits(CLI::App& app);
void RegisterGenerate(CLI::App& app);
void RegisterReplay(CLI::App& app);
void RegisterScore(CLI::App& app);
void RegisterConvert(CLI::App& app);
void RegisterTrain(CLI::App& app);
void RegisterRl(CLI::App& app);
void RegisterServe(CLI::App& app);
void RegisterVerify(CLI::App& app);
void RegisterDumpSlots(CLI::App& app);
void RegisterTokenize(CLI::App& app);  // tokenize and detokenize

}  // namespace detinfer::cli

#endif  // DETINFER_TOOLS_SUBCOMMANDS_H_
