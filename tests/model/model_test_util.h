// Helpers for the model-format tests: the shared reference models, temp directories, and
// writers for small llama2.c / safetensors / GGUF files (valid or deliberately broken).
#ifndef DETINFER_TESTS_MODEL_MODEL_TEST_UTIL_H_
#define DETINFER_TESTS_MODEL_MODEL_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "test_util.h"

namespace detinfer::testing {

inline std::string StoriesDir() { return std::string(DETINFER_SHARED_DIR) + "/models/stories260K"; }

// Tests that read ../shared skip (loudly) only when the directory is absent.
#define DETINFER_REQUIRE_STORIES()                                              \
  do {                                                                          \
    if (!std::filesystem::is_directory(::detinfer::testing::StoriesDir())) {   \
      GTEST_SKIP() << "needs ../shared/models/stories260K (not present)";      \
    }                                                                           \
  } while (0)

// A fresh directory, removed with its contents when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "detinfer-model-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

using Bytes = std::vector<uint8_t>;

inline void WriteFile(const std::string& path, const Bytes& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}
inline void WriteText(const std::string& path, const std::string& text) {
  WriteFile(path, Bytes(text.begin(), text.end()));
}

template <typename T>
void Put(Bytes* b, T v) {
  const size_t at = b->size();
  b->resize(at + sizeof v);
  std::memcpy(b->data() + at, &v, sizeof v);
}
inline void PutBytes(Bytes* b, const void* p, size_t n) {
  // resize + memcpy rather than insert: GCC 12 warns falsely (-Warray-bounds) on the latter.
  const size_t at = b->size();
  b->resize(at + n);
  if (n != 0) std::memcpy(b->data() + at, p, n);
}

// `status` failed and its message contains every one of `parts`.
inline ::testing::AssertionResult FailsWith(const Status& status,
                                            std::initializer_list<std::string> parts) {
  if (status.ok()) return ::testing::AssertionFailure() << "succeeded, expected an error";
  for (const std::string& p : parts) {
    if (status.message().find(p) == std::string::npos) {
      return ::testing::AssertionFailure() << "message lacks '" << p << "': " << status.ToString();
    }
  }
  return ::testing::AssertionSuccess();
}

// ---- GGUF --------------------------------------------------------------------------------

// Builds a GGUF v3 file. Tensor data is laid out in order, each at the next multiple of the
// alignment, unless an explicit offset is given.
class GgufBuilder {
 public:
  struct Tensor {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type;
    Bytes data;
    int64_t offset = -1;  // relative to the data section; -1 = next aligned position
  };

  uint32_t version = 3;
  uint64_t alignment = 32;
  std::vector<std::pair<std::string, Bytes>> kvs;  // key -> (u32 type + value bytes)
  std::vector<Tensor> tensors;
  // Filled by Build(): where each section starts.
  size_t kv_start = 0, infos_start = 0, data_start = 0;

  void KvRaw(const std::string& key, uint32_t type, const Bytes& value) {
    Bytes b;
    Put(&b, type);
    b.insert(b.end(), value.begin(), value.end());
    kvs.emplace_back(key, std::move(b));
  }
  void KvU32(const std::string& key, uint32_t v) { Bytes b; Put(&b, v); KvRaw(key, 4, b); }
  void KvF32(const std::string& key, float v) { Bytes b; Put(&b, v); KvRaw(key, 6, b); }
  void KvString(const std::string& key, const std::string& s) {
    Bytes b;
    Put(&b, static_cast<uint64_t>(s.size()));
    PutBytes(&b, s.data(), s.size());
    KvRaw(key, 8, b);
  }
  void KvStrings(const std::string& key, const std::vector<std::string>& v) {
    Bytes b;
    Put(&b, uint32_t{8});
    Put(&b, static_cast<uint64_t>(v.size()));
    for (const auto& s : v) {
      Put(&b, static_cast<uint64_t>(s.size()));
      PutBytes(&b, s.data(), s.size());
    }
    KvRaw(key, 9, b);
  }
  void AddF32(const std::string& name, std::vector<uint64_t> ne, const std::vector<float>& v) {
    Bytes d(v.size() * 4);
    if (!v.empty()) std::memcpy(d.data(), v.data(), d.size());
    tensors.push_back({name, std::move(ne), 0, std::move(d)});
  }

  Bytes Build() {
    Bytes b;
    PutBytes(&b, "GGUF", 4);
    Put(&b, version);
    Put(&b, static_cast<uint64_t>(tensors.size()));
    Put(&b, static_cast<uint64_t>(kvs.size()));
    kv_start = b.size();
    for (const auto& [k, v] : kvs) {
      Put(&b, static_cast<uint64_t>(k.size()));
      PutBytes(&b, k.data(), k.size());
      b.insert(b.end(), v.begin(), v.end());
    }
    infos_start = b.size();
    std::vector<uint64_t> offsets;
    uint64_t next = 0;
    for (const auto& t : tensors) {
      const uint64_t off = t.offset >= 0 ? static_cast<uint64_t>(t.offset) : next;
      offsets.push_back(off);
      next = std::max(next, (off + t.data.size() + alignment - 1) / alignment * alignment);
      Put(&b, static_cast<uint64_t>(t.name.size()));
      PutBytes(&b, t.name.data(), t.name.size());
      Put(&b, static_cast<uint32_t>(t.ne.size()));
      for (uint64_t n : t.ne) Put(&b, n);
      Put(&b, t.type);
      Put(&b, off);
    }
    b.resize((b.size() + alignment - 1) / alignment * alignment);
    data_start = b.size();
    for (size_t i = 0; i < tensors.size(); ++i) {
      const auto& d = tensors[i].data;
      const size_t at = data_start + offsets[i];
      // A far-away explicit offset is a test of "past the end": its data is not written.
      if (offsets[i] >= (1u << 20)) continue;
      if (b.size() < at + d.size()) b.resize(at + d.size());
      if (!d.empty()) std::memcpy(b.data() + at, d.data(), d.size());
    }
    return b;
  }
};

// ---- safetensors ---------------------------------------------------------------------------

// 8-byte header length + header + data, the header padded with spaces to a multiple of 8 (as
// the reference writer does, keeping the data section aligned).
inline Bytes SafetensorsBytes(std::string header, const Bytes& data) {
  while (header.size() % 8 != 0) header += ' ';
  Bytes b;
  Put(&b, static_cast<uint64_t>(header.size()));
  PutBytes(&b, header.data(), header.size());
  PutBytes(&b, data.data(), data.size());
  return b;
}

}  // namespace detinfer::testing

#endif  // DETINFER_TESTS_MODEL_MODEL_TEST_UTIL_H_
