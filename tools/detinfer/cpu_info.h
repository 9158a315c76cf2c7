// `detinfer cpu-info`: the CPU, the ISA paths it supports and the one detinfer will use.
#ifndef DETINFER_TOOLS_CPU_INFO_H_
#define DETINFER_TOOLS_CPU_INFO_H_

namespace CLI { class App; }

namespace detinfer::cli {

void RegisterCpuInfo(CLI::App& app);

}  // namespace detinfer::cli

#endif  // DETINFER_TOOLS_CPU_INFO_H_
