// Times detinfer's Encode on a text file: `bench_encode DIR TEXT` loads DIR/tokenizer.json (with
// DIR/tokenizer_config.json if present) and prints the best of 3 runs; with a third argument
// it also writes the ids, one per line, to that file. Built and run by bench.sh.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "tokenizer/hf_tokenizer_json.h"

namespace {
std::string Read(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_encode DIR TEXT [IDS_OUT]\n");
    return 2;
  }
  const std::string dir = argv[1];
  auto t = detinfer::LoadHfTokenizerJson(
      dir + "/tokenizer.json", detinfer::HfOptionsFromConfig(Read(dir + "/tokenizer_config.json")));
  if (!t.ok()) {
    std::fprintf(stderr, "%s\n", t.status().ToString().c_str());
    return 1;
  }
  const std::string text = Read(argv[2]);
  double best = 1e9;
  size_t n = 0;
  for (int r = 0; r < 3; ++r) {
    const auto a = std::chrono::steady_clock::now();
    auto ids = (*t)->Encode(text, false);
    const auto b = std::chrono::steady_clock::now();
    if (!ids.ok()) {
      std::fprintf(stderr, "%s\n", ids.status().ToString().c_str());
      return 1;
    }
    n = ids->size();
    best = std::min(best, std::chrono::duration<double>(b - a).count());
    if (r == 0 && argc > 3) {
      std::ofstream out(argv[3]);
      for (int32_t id : *ids) out << id << '\n';
    }
  }
  std::printf("%.3f %zu\n", best, n);
  return 0;
}
