#include "cpu_info.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/isa.h"
#include "core/thread_pool.h"

namespace detinfer::cli {

namespace {

struct CpuInfoOptions {
  bool json = false;
};

int RunCpuInfo(const CpuInfoOptions& opts) {
  const CpuFeatures cpu = DetectCpuFeatures();
  const Result<Isa> selected = SelectIsaFromEnvironment(cpu);
  if (!selected.ok()) {
    std::fprintf(stderr, "detinfer: %s\n", selected.status().message().c_str());
    return 2;
  }
  nlohmann::json paths = nlohmann::json::array();
  for (Isa isa : SupportedIsas(cpu)) paths.push_back(IsaName(isa));
  nlohmann::json j = {
      {"vendor", cpu.vendor},
      {"brand", cpu.brand},
      {"hardware_threads", ThreadPool::HardwareThreads()},
      {"features",
       {{"avx2", cpu.avx2}, {"fma", cpu.fma}, {"f16c", cpu.f16c}, {"avx512f", cpu.avx512f},
        {"avx512bw", cpu.avx512bw}, {"avx512vl", cpu.avx512vl},
        {"avx512vnni", cpu.avx512vnni}, {"avx512bf16", cpu.avx512bf16},
        {"os_saves_ymm", cpu.os_saves_ymm}, {"os_saves_zmm", cpu.os_saves_zmm},
        {"neon", cpu.neon}}},
      {"isa_paths", paths},
      {"isa_selected", IsaName(*selected)},
      {"version", DETINFER_VERSION},
  };
  if (opts.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("detinfer %s\n", DETINFER_VERSION);
  std::printf("cpu        %s (%s), %d hardware threads\n", cpu.brand.c_str(), cpu.vendor.c_str(),
              ThreadPool::HardwareThreads());
#if defined(DETINFER_ARCH_AARCH64)
  std::printf("features   neon=%d\n", cpu.neon);
#else
  std::printf("features   avx2=%d fma=%d f16c=%d avx512f=%d avx512bw=%d avx512vl=%d\n", cpu.avx2,
              cpu.fma, cpu.f16c, cpu.avx512f, cpu.avx512bw, cpu.avx512vl);
#endif
  std::string p;
  for (const auto& s : paths) p += (p.empty() ? "" : ", ") + s.get<std::string>();
  std::printf("isa paths  %s\n", p.c_str());
  std::printf("selected   %s%s\n", std::string(IsaName(*selected)).c_str(),
              std::getenv("DETINFER_ISA") ? " (from DETINFER_ISA)" : " (best available)");
  std::printf("All paths give bit-identical results; the path only changes speed.\n");
  return 0;
}

}  // namespace

void RegisterCpuInfo(CLI::App& app) {
  auto opts = std::make_shared<CpuInfoOptions>();
  CLI::App* cmd = app.add_subcommand(
      "cpu-info", "Show the CPU's features, the kernel paths it supports and the one in use");
  cmd->add_flag("--json", opts->json, "Print JSON instead of text");
  cmd->callback([opts] { std::exit(RunCpuInfo(*opts)); });
}

}  // namespace detinfer::cli
