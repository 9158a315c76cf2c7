// Where a loaded model's weights live: once Transformer::Create has packed a matrix, its file
// pages leave the process (the packed copy is what the forward pass reads), so a model is
// resident once, not twice; once loaded nothing of the file stays, and a forward pass faults back
// only embedding rows; reading a released matrix again still gives the file's bytes (its pages
// come back from the file). The bits of every format, released, are
// compared with never-released in-memory weights in cross_format_test.cc.
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

  // A forward pass reads only the embedding rows of its tokens from the file.
  {
    auto cache = t->NewCache(8);
    ASSERT_TRUE(cache.ok());
    ASSERT_TRUE(cache->AddSequence(0).ok());
    const std::vector<int32_t> ids = {3, 1, 4};
    const Segment seg{0, 0, ids, false};
    std::vector<float> logits;
    ASSERT_TRUE(t->Forward(KernelContext{}, *cache, std::span<const Segment>(&seg, 1), &logits).ok());
  }
  const size_t embedding = StorageBytes(mw.token_embedding.dtype, mw.token_embedding.numel());
  EXPECT_LT(embedding, file_bytes / 4);  // the test model's matrices dominate its file
  // The embedding, and what the kernel maps with it: up to a 2 MiB folio either side.
  EXPECT_LE(ResidentBytesOf(path), embedding + 4 * 1024 * 1024 + page);

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

}  // namespace
}  // namespace detinfer
