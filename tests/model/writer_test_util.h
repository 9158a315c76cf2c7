// Helpers for the writer tests: small configs, temporary paths, file bytes, and minimal
// independent parsers of safetensors and GGUF (written from the format descriptions, sharing no
// code with src/model, so that a writer bug is not mirrored by the check).
#ifndef DETINFER_TESTS_MODEL_WRITER_TEST_UTIL_H_
#define DETINFER_TESTS_MODEL_WRITER_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/config.h"

namespace detinfer::testing {

inline ModelConfig SmallConfig(Arch arch, bool tied = false) {
  ModelConfig c;
  c.arch = arch;
  c.dim = 32;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = arch == Arch::kQwen3 ? 16 : 8;  // Qwen3 may have head_dim != dim / heads
  c.ffn_dim = 48;
  c.vocab_size = 37;
  c.max_seq_len = 128;
  c.rope_theta = arch == Arch::kLlama ? 10000.0 : 1000000.0;
  c.norm_eps = arch == Arch::kLlama ? 1e-5f : 1e-6f;
  c.tied_embeddings = tied;
  c.qkv_bias = arch == Arch::kQwen2;
  c.qk_norm = arch == Arch::kQwen3;
  return c;
}

// A fresh directory under the test temp dir, unique per test and process.
inline std::string TempPath(const std::string& leaf) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path p = std::filesystem::path(::testing::TempDir()) /
                            ("detinfer_" + std::to_string(::getpid()) + "_" +
                             info->test_suite_name() + "_" + info->name());
  std::filesystem::create_directories(p);
  return (p / leaf).string();
}

inline std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

template <typename T>
T Load(const std::vector<uint8_t>& b, size_t pos) {
  T v;
  std::memcpy(&v, b.data() + pos, sizeof v);
  return v;
}

struct StTensor {
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

struct StFile {
  uint64_t header_len = 0;
  nlohmann::json header;
  std::map<std::string, StTensor> tensors;
  size_t data_start = 0;
};

inline StFile ParseSafetensors(const std::vector<uint8_t>& b) {
  StFile f;
  EXPECT_GE(b.size(), 8u);
  if (b.size() < 8) return f;
  f.header_len = Load<uint64_t>(b, 0);
  EXPECT_LE(8 + f.header_len, b.size());
  if (8 + f.header_len > b.size()) return f;
  f.header = nlohmann::json::parse(b.begin() + 8, b.begin() + 8 + static_cast<long>(f.header_len));
  f.data_start = 8 + f.header_len;
  for (auto it = f.header.begin(); it != f.header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    StTensor t;
    t.dtype = it.value().at("dtype").get<std::string>();
    t.shape = it.value().at("shape").get<std::vector<int64_t>>();
    t.begin = it.value().at("data_offsets")[0].get<uint64_t>();
    t.end = it.value().at("data_offsets")[1].get<uint64_t>();
    f.tensors[it.key()] = t;
  }
  return f;
}

struct GgufTensor {
  std::vector<uint64_t> ne;
  uint32_t type = 0;
  uint64_t offset = 0;
};

struct GgufFile {
  uint32_t magic = 0, version = 0;
  uint64_t n_tensors = 0, n_kv = 0;
  std::map<std::string, uint32_t> kv_type;
  std::map<std::string, nlohmann::json> kv;  // every value type; arrays as JSON arrays
  std::vector<std::string> order;             // tensor names in file order
  std::map<std::string, GgufTensor> tensors;
  size_t data_start = 0;
};

// Reads the header, metadata and tensor infos; data_start is the infos' end aligned to
// general.alignment (32 when absent).
inline GgufFile ParseGguf(const std::vector<uint8_t>& b) {
  GgufFile g;
  size_t pos = 0;
  auto need = [&](size_t n) {
    if (pos + n > b.size()) throw std::runtime_error("GGUF truncated at " + std::to_string(pos));
  };
  auto u32 = [&] { need(4); uint32_t v = Load<uint32_t>(b, pos); pos += 4; return v; };
  auto u64 = [&] { need(8); uint64_t v = Load<uint64_t>(b, pos); pos += 8; return v; };
  auto str = [&] {
    const uint64_t n = u64();
    need(n);
    std::string s(reinterpret_cast<const char*>(b.data() + pos), n);
    pos += n;
    return s;
  };
  // A value of GGUF type `type` (spec: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool,
  // 8 string, 9 array, 10 u64, 11 i64, 12 f64), as JSON.
  std::function<nlohmann::json(uint32_t)> value = [&](uint32_t type) -> nlohmann::json {
    auto take = [&](auto v) {
      need(sizeof v);
      v = Load<decltype(v)>(b, pos);
      pos += sizeof v;
      return v;
    };
    switch (type) {
      case 0: return take(uint8_t{});
      case 1: return take(int8_t{});
      case 2: return take(uint16_t{});
      case 3: return take(int16_t{});
      case 4: return take(uint32_t{});
      case 5: return take(int32_t{});
      case 6: return take(float{});
      case 7: return take(uint8_t{}) != 0;
      case 8: return str();
      case 9: {
        const uint32_t elem = u32();
        const uint64_t n = u64();
        nlohmann::json a = nlohmann::json::array();
        for (uint64_t k = 0; k < n; ++k) a.push_back(value(elem));
        return a;
      }
      case 10: return take(uint64_t{});
      case 11: return take(int64_t{});
      case 12: return take(double{});
    }
    throw std::runtime_error("unknown GGUF value type " + std::to_string(type));
  };
  g.magic = u32();
  g.version = u32();
  g.n_tensors = u64();
  g.n_kv = u64();
  for (uint64_t i = 0; i < g.n_kv; ++i) {
    const std::string key = str();
    const uint32_t type = u32();
    g.kv_type[key] = type;
    g.kv[key] = value(type);
  }
  for (uint64_t i = 0; i < g.n_tensors; ++i) {
    const std::string name = str();
    GgufTensor t;
    const uint32_t n_dims = u32();
    for (uint32_t d = 0; d < n_dims; ++d) t.ne.push_back(u64());
    t.type = u32();
    t.offset = u64();
    g.order.push_back(name);
    g.tensors[name] = t;
  }
  const uint64_t align = g.kv.count("general.alignment") ? g.kv["general.alignment"].get<uint64_t>() : 32;
  g.data_start = static_cast<size_t>((pos + align - 1) / align * align);
  return g;
}

}  // namespace detinfer::testing

#endif  // DETINFER_TESTS_MODEL_WRITER_TEST_UTIL_H_
