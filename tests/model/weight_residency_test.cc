// Where a loaded model's weights live: once Transformer::Create has packed a matrix, its file
// pages leave the process (the packed copy is what the forward pass reads), so a model is
// resident once, not twice; once loaded nothing of the file stays, not even after a forward pass
// (the embedding rows are read from the file, not through the map); reading a released matrix
// again still gives the file's bytes (its pages come back from the file). The bits of every
// format, released, are compared with never-released in-memory weights in cross_format_test.cc.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "core/storage_format.h"
#include "model/gguf_writer.h"
#include "model/loader.h"
#include "model/random_init.h"
#include "model/tensor_roles.h"
#include "model/weight_recipe.h"
#include "model/transformer.h"

namespace detinfer {
namespace {

namespace fs = std::filesystem;

// Resident bytes of this process's mappings of `path` (/proc/self/smaps "Rss:" lines).
size_t ResidentBytesOf(const std::string& path) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in = false;
  size_t kb = 0;
  while (std::getline(smaps, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
        line.find('-') != std::string::npos && line.find(' ') != std::string::npos) {
      in = line.size() >= path.size() && line.compare(line.size() - path.size(), path.size(), path) == 0;
    } else if (in && line.rfind("Rss:", 0) == 0) {
      kb += std::stoull(line.substr(4));
    }
  }
  return kb * 1024;
}

ModelConfig Shape() {
  ModelConfig c;
  c.arch = Arch::kLlama;
  c.dim = 256;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 4;
  c.head_dim = 64;
  c.ffn_dim = 704;
  c.vocab_size = 512;
  c.max_seq_len = 64;
  return c;
}

TEST(WeightResidencyTest, PackedMatricesLeaveMemoryAndReadBackUnchanged) {
  const std::string path =
      (fs::temp_directory_path() / ("detinfer-residency-" + std::to_string(::getpid()) + ".gguf"))
          .string();
  {
    auto w = InitRandomModel(Shape(), 5, DType::kF32);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE(WriteGguf(*w, path).ok());
  }
  auto w = LoadModel(path);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  // Touch every byte so that the whole file is resident before packing.
  uint64_t sum = 0;
  for (const MappedFile& f : w->files) {
    for (size_t i = 0; i < f.size(); i += 512) sum += f.data()[i];
  }
  const size_t file_bytes = fs::file_size(path);
  ASSERT_GE(ResidentBytesOf(path), file_bytes * 9 / 10) << sum;

  auto t = Transformer::Create(std::move(w).value(), KernelContext{});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  const ModelWeights& mw = t->weights();
  // Nothing stays: the matrices' pages were released as they were packed, and once every read of
  // the load was done, the whole file once more (a read maps the whole page-cache folio it lands
  // in, so a neighbour's read can bring released pages back); the norms are copies. At most the
  // file's last, partial page can stay.
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  EXPECT_LE(ResidentBytesOf(path), page) << "of a " << file_bytes << "-byte file";

  // A forward pass reads the embedding rows of its tokens from the file by pread, not through
  // the map: still nothing of the file is resident (through the map, a 512-token prompt brought
  // a 110M q4_0 model's whole 14 MB table back).
  {
    auto cache = t->NewCache(8);
    ASSERT_TRUE(cache.ok());
    ASSERT_TRUE(cache->AddSequence(0).ok());
    const std::vector<int32_t> ids = {3, 1, 4};
    const Segment seg{0, 0, ids, false};
    std::vector<float> logits;
    ASSERT_TRUE(t->Forward(KernelContext{}, *cache, std::span<const Segment>(&seg, 1), &logits).ok());
  }
  EXPECT_LE(ResidentBytesOf(path), page) << "of a " << file_bytes << "-byte file";
  // The rows read so are the table's bits: cross_format_test.cc compares every format's
  // file-loaded logits with in-memory weights, whose table is gathered in place.

  // The released matrices read back as the file holds them.
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const uint8_t* base = mw.files.at(0).data();
  for (const LayerWeights& l : mw.layers) {
    for (const TensorView* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      const auto* p = static_cast<const uint8_t*>(m->data);
      const size_t n = StorageBytes(m->dtype, m->numel());
      ASSERT_EQ(std::memcmp(p, bytes.data() + (p - base), n), 0);
    }
  }
  fs::remove(path);
}

// Loading a block-format file checks every block's scales (NaN or Inf is refused), which reads
// the whole file; each tensor's pages leave memory once checked. Kept, a load from a
// packed-weight cache file (which never reads the matrices again) held the whole model file
// beside the mapped cache file until the end of the load: 198 instead of 139 MB for the 110M
// q6_k shape.
TEST(WeightResidencyTest, CheckingBlockScalesLeavesTheFileOutOfMemory) {
  const std::string path = (fs::temp_directory_path() /
                            ("detinfer-residency-q8-" + std::to_string(::getpid()) + ".gguf"))
                               .string();
  ModelConfig c = Shape();
  c.dim = 512;
  c.ffn_dim = 1408;
  c.head_dim = 128;
  c.vocab_size = 4096;
  {
    auto w = InitRandomModel(c, 6, ParseWeightRecipe("q8_0").value());
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE(WriteGguf(*w, path).ok());
  }
  const size_t file_bytes = fs::file_size(path);
  ASSERT_GT(file_bytes, size_t{10} << 20);
  auto w = LoadModel(path);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_EQ(w->layers.at(0).w_up.dtype, DType::kQ8_0);
  // What a read may leave: the header's pages, and the 2 MiB folio mapped around a tensor's
  // first or last partial page.
  EXPECT_LE(ResidentBytesOf(path), size_t{4} << 20) << "of a " << file_bytes << "-byte file";
  fs::remove(path);
}

}  // namespace
}  // namespace detinfer
