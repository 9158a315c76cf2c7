// Packed-weight cache files (model/packed_cache.h): a model loaded from one gives the bits of a
// fresh pack in every storage format; a file that is stale, cut short, from another packer
// version, with a bad header or a corrupt payload is never used but rebuilt; processes read one
// file, and several creating it at once all succeed with one valid file left.
#include "model/packed_cache.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "core/isa.h"
#include "core/storage_format.h"
#include "core/thread_pool.h"
#include "model/gguf_writer.h"
#include "model/loader.h"
#include "model/model_bundle.h"
#include "model/random_init.h"
#include "model/transformer.h"
#include "model/weight_recipe.h"

namespace detinfer {
namespace {

namespace fs = std::filesystem;
using Outcome = PackedCacheReport::Outcome;

ModelConfig CacheShape() {
  ModelConfig c;
  c.arch = Arch::kLlama;
  c.dim = 256;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 64;
  c.ffn_dim = 512;
  c.vocab_size = 512;
  c.max_seq_len = 64;
  return c;
}

class PackedCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("detinfer-packed-cache-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "cache");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // A GGUF model of the recipe ("f32", "q4_k_m", ...), written once per test.
  std::string Model(const std::string& recipe, uint64_t seed = 3) {
    const std::string path = (root_ / (recipe + "-" + std::to_string(seed) + ".gguf")).string();
    if (!fs::exists(path)) {
      auto r = ParseWeightRecipe(recipe);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      auto w = InitRandomModel(CacheShape(), seed, *r);
      EXPECT_TRUE(w.ok()) << w.status().ToString();
      EXPECT_TRUE(WriteGguf(*w, path).ok());
    }
    return path;
  }

  PackedCacheOptions Cache(uint64_t model_hash = 42) const {
    PackedCacheOptions o;
    o.dir = (root_ / "cache").string();
    o.model_hash = model_hash;
    o.min_bytes = 0;
    return o;
  }

  // Loads `path` (with the cache when given) and returns the last-token logits of a prompt.
  std::vector<float> Logits(const std::string& path, const PackedCacheOptions* cache,
                            PackedCacheReport* report = nullptr, uint64_t* weight_hash = nullptr) {
    auto w = LoadModel(path);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    auto t = Transformer::Create(std::move(w).value(), KernelContext{}, cache);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    // A file being written is finished first (as the destructor would), so its outcome shows.
    if (report != nullptr) *report = t->WaitForPackedCache();
    if (weight_hash != nullptr) *weight_hash = t->weight_hash();
    std::vector<float> logits;
    const std::vector<int32_t> prompt = {1, 17, 300, 5, 99, 511, 2, 42};
    EXPECT_TRUE(t->ForwardNoCache(KernelContext{}, prompt, &logits).ok());
    return logits;
  }

  std::vector<fs::path> CacheFiles() const {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(root_ / "cache")) out.push_back(e.path());
    return out;
  }

  fs::path root_;
};

bool SameLogitBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && !a.empty() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST_F(PackedCacheTest, EveryFormatGivesTheSameBitsFromTheCacheFile) {
  for (const char* recipe : {"f32", "bf16", "f16", "q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k"}) {
    SCOPED_TRACE(recipe);
    const std::string path = Model(recipe);
    uint64_t fresh_hash = 0, written_hash = 0, read_hash = 0, mapped_hash = 0;
    const std::vector<float> fresh = Logits(path, nullptr, nullptr, &fresh_hash);
    PackedCacheOptions cache = Cache(XXH3_64bits(recipe, std::strlen(recipe)));
    cache.read = PackedCacheRead::kCopy;
    PackedCacheReport first, second, third;
    const std::vector<float> written = Logits(path, &cache, &first, &written_hash);
    const std::vector<float> read_back = Logits(path, &cache, &second, &read_hash);
    // The file's pages themselves, mapped (shared with other processes), give the same bits.
    cache.read = PackedCacheRead::kMap;
    const std::vector<float> mapped = Logits(path, &cache, &third, &mapped_hash);
    EXPECT_EQ(third.outcome, Outcome::kHit) << third.detail;
    EXPECT_TRUE(third.mapped);
    EXPECT_FALSE(second.mapped);
    EXPECT_EQ(mapped_hash, fresh_hash);
    EXPECT_TRUE(SameLogitBits(fresh, mapped));
    // A hit takes the weight hash (the weight version) from the file: the one a fresh pack
    // computes.
    EXPECT_EQ(read_hash, fresh_hash);
    EXPECT_EQ(written_hash, fresh_hash);
    EXPECT_EQ(first.outcome, Outcome::kWritten) << first.detail;
    EXPECT_EQ(second.outcome, Outcome::kHit) << second.detail;
    EXPECT_EQ(first.path, second.path);
    EXPECT_TRUE(second.detail.empty()) << second.detail;
    EXPECT_TRUE(SameLogitBits(fresh, written));
    EXPECT_TRUE(SameLogitBits(fresh, read_back));
  }
  EXPECT_EQ(CacheFiles().size(), 8u);  // one per format, no temporary files left
}

TEST_F(PackedCacheTest, MixtureOfExpertsGivesTheSameBitsFromTheCacheFile) {
  ModelConfig c = CacheShape();
  c.arch = Arch::kMixtral;
  c.n_experts = 4;
  c.n_experts_used = 2;
  c.expert_ffn_dim = c.ffn_dim;  // Mixtral's experts are feed_forward_length wide
  c.moe_renormalize = true;
  const std::string path = (root_ / "moe.gguf").string();
  {
    auto w = InitRandomModel(c, 9, ParseWeightRecipe("q8_0").value());
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    const Status written = WriteGguf(*w, path);
    ASSERT_TRUE(written.ok()) << written.ToString();
  }
  const std::vector<float> fresh = Logits(path, nullptr);
  const PackedCacheOptions cache = Cache();
  PackedCacheReport first, second;
  EXPECT_TRUE(SameLogitBits(fresh, Logits(path, &cache, &first)));
  EXPECT_TRUE(SameLogitBits(fresh, Logits(path, &cache, &second)));
  EXPECT_EQ(first.outcome, Outcome::kWritten) << first.detail;
  EXPECT_EQ(second.outcome, Outcome::kHit) << second.detail;
}

TEST_F(PackedCacheTest, AnotherModelOrLayoutLooksForAnotherFile) {
  const std::string a = Model("bf16", 1), b = Model("bf16", 2);
  PackedCacheOptions ca = Cache(1), cb = Cache(2);
  PackedCacheReport ra, rb;
  Logits(a, &ca, &ra);
  const std::vector<float> from_b = Logits(b, &cb, &rb);
  EXPECT_EQ(rb.outcome, Outcome::kWritten);
  EXPECT_NE(ra.path, rb.path);
  EXPECT_TRUE(SameLogitBits(from_b, Logits(b, nullptr)));
  // The same model hash with another layout (here q8_0 weights) is another file too.
  PackedCacheReport rq;
  Logits(Model("q8_0", 1), &ca, &rq);
  EXPECT_EQ(rq.outcome, Outcome::kWritten);
  EXPECT_NE(rq.path, ra.path);
}

// Edits the file the cache holds for `path`; returns the file.
fs::path OnlyCacheFile(const std::vector<fs::path>& files) {
  EXPECT_EQ(files.size(), 1u);
  return files.empty() ? fs::path() : files[0];
}

void EditCacheFile(const fs::path& file, const std::function<void(std::vector<char>&)>& edit) {
  std::vector<char> bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  edit(bytes);
  fs::remove(file);  // a new inode, as a rewrite makes
  std::ofstream out(file, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST_F(PackedCacheTest, BadFilesAreDetectedAndRebuiltNeverUsed) {
  const std::string path = Model("q4_k_m");
  const std::vector<float> fresh = Logits(path, nullptr);
  const PackedCacheOptions cache = Cache();
  PackedCacheReport r;
  Logits(path, &cache, &r);
  ASSERT_EQ(r.outcome, Outcome::kWritten);
  const fs::path file = OnlyCacheFile(CacheFiles());
  const size_t size = fs::file_size(file);

  struct Case {
    const char* name;
    std::function<void(std::vector<char>&)> edit;
    const char* expect;  // in the report's detail
  };
  const auto rehash_header = [](std::vector<char>& b) {
    const uint64_t h = XXH3_64bits(b.data(), 64);
    for (int i = 0; i < 8; ++i) b[64 + static_cast<size_t>(i)] = static_cast<char>(h >> (8 * i));
  };
  const std::vector<Case> cases = {
      {"payload bit",
       [](std::vector<char>& b) {
         b[kPackedCachePayloadOffset + (b.size() - kPackedCachePayloadOffset) / 3] ^= 1;
       },
       "corrupt payload"},
      {"first matrix byte", [](std::vector<char>& b) { b[kPackedCachePayloadOffset + 100] ^= 0x40; },
       "corrupt payload"},
      {"last payload byte", [](std::vector<char>& b) { b.back() ^= 0x01; }, "corrupt payload"},
      {"cut to the header", [](std::vector<char>& b) { b.resize(4096); }, "truncated"},
      {"file version 1",
       [&](std::vector<char>& b) {
         b[16] = 1;
         rehash_header(b);
       },
       "file version 1"},
      {"truncated", [](std::vector<char>& b) { b.erase(b.end() - 100, b.end()); }, "truncated"},
      {"longer", [](std::vector<char>& b) { b.push_back(0); }, "truncated"},
      {"header edited", [](std::vector<char>& b) { b[30] ^= 1; }, "corrupt header"},
      {"other packer version",
       [&](std::vector<char>& b) {
         b[20] = 99;
         rehash_header(b);
       },
       "packer 99"},
      {"other model in the header",
       [&](std::vector<char>& b) {
         b[24] ^= 1;
         rehash_header(b);
       },
       "not the model and layout its name says"},
      {"not a cache file", [](std::vector<char>& b) { b[0] = 'X'; },
       "not a packed-weight cache file"},
  };
  // Mapped (the default where the page cache gives 2 MiB pages, forced here) and read: a bad
  // file is refused either way.
  for (const PackedCacheRead how : {PackedCacheRead::kMap, PackedCacheRead::kCopy})
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    SCOPED_TRACE(how == PackedCacheRead::kMap ? "mapped" : "read");
    PackedCacheOptions cache_how = cache;
    cache_how.read = how;
    EditCacheFile(file, c.edit);
    PackedCacheReport again;
    const std::vector<float> logits = Logits(path, &cache_how, &again);
    EXPECT_TRUE(SameLogitBits(fresh, logits));
    EXPECT_EQ(again.outcome, Outcome::kWritten) << again.detail;
    EXPECT_NE(again.detail.find(c.expect), std::string::npos) << again.detail;
    EXPECT_NE(again.detail.find(file.string()), std::string::npos) << again.detail;
    // Rebuilt: the next load reads it.
    EXPECT_EQ(fs::file_size(file), size);
    PackedCacheReport next;
    EXPECT_TRUE(SameLogitBits(fresh, Logits(path, &cache_how, &next)));
    EXPECT_EQ(next.outcome, Outcome::kHit) << next.detail;
    EXPECT_EQ(next.mapped, how == PackedCacheRead::kMap);
  }
}

TEST_F(PackedCacheTest, AnUnwritableDirectoryOnlyCostsTheCache) {
  const std::string path = Model("bf16");
  // A directory that cannot be created (a file is in the way; root could write anywhere else).
  std::ofstream(root_ / "a-file") << "not a directory";
  PackedCacheOptions cache = Cache();
  cache.dir = (root_ / "a-file" / "cache").string();
  PackedCacheReport r;
  const std::vector<float> logits = Logits(path, &cache, &r);
  EXPECT_EQ(r.outcome, Outcome::kNotWritten);
  EXPECT_NE(r.detail.find(cache.dir), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("not written"), std::string::npos) << r.detail;
  EXPECT_TRUE(SameLogitBits(Logits(path, nullptr), logits));
}

TEST_F(PackedCacheTest, SmallModelsArePackedEveryTime) {
  const std::string path = Model("bf16");
  PackedCacheOptions cache = Cache();
  cache.min_bytes = uint64_t{1} << 30;
  PackedCacheReport r;
  Logits(path, &cache, &r);
  EXPECT_EQ(r.outcome, Outcome::kTooSmall);
  EXPECT_TRUE(CacheFiles().empty());
}

// Runs `body` in `n` child processes at once (released together through a pipe); each child's
// exit status is body's result. Returns the statuses.
std::vector<int> InChildProcesses(int n, const std::function<int()>& body) {
  int go[2];
  EXPECT_EQ(::pipe(go), 0);
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(go[1]);
      char c;
      (void)!::read(go[0], &c, 1);  // wait until all are started
      ::_exit(body());
    }
    pids.push_back(pid);
  }
  ::close(go[0]);
  ::close(go[1]);  // EOF releases every child at once
  std::vector<int> statuses;
  for (pid_t pid : pids) {
    int st = 0;
    ::waitpid(pid, &st, 0);
    statuses.push_back(WIFEXITED(st) ? WEXITSTATUS(st) : 100);
  }
  return statuses;
}

TEST_F(PackedCacheTest, ProcessesCreatingAndReadingOneFileAllGetTheSameBits) {
  const std::string path = Model("q8_0");
  const std::vector<float> fresh = Logits(path, nullptr);
  const PackedCacheOptions cache = Cache();
  // Exit 0: the bits of a fresh pack, and the cache was used (written or read).
  const auto child = [&](bool want_hit) {
    return [&, want_hit]() {
      PackedCacheReport r;
      const std::vector<float> got = Logits(path, &cache, &r);
      if (!SameLogitBits(fresh, got)) return 1;
      if (want_hit ? r.outcome != Outcome::kHit
                   : r.outcome != Outcome::kWritten && r.outcome != Outcome::kHit) {
        return 2;
      }
      return 0;
    };
  };
  // Three create the file at once: each writes its own temporary file and renames it.
  EXPECT_EQ(InChildProcesses(3, child(false)), std::vector<int>({0, 0, 0}));
  const std::vector<fs::path> files = CacheFiles();
  ASSERT_EQ(files.size(), 1u) << "temporary files left behind";
  EXPECT_EQ(files[0].extension(), ".dpk");
  // Then three read it at once.
  EXPECT_EQ(InChildProcesses(3, child(true)), std::vector<int>({0, 0, 0}));
}

TEST_F(PackedCacheTest, LeastRecentlyUsedFilesGoOverTheBudget) {
  PackedCacheOptions cache = Cache();
  const std::string a = Model("bf16", 1), b = Model("bf16", 2), c = Model("bf16", 3);
  PackedCacheReport ra, rb, rc;
  cache.model_hash = 1;
  Logits(a, &cache, &ra);
  const uint64_t one = fs::file_size(ra.path);
  cache.max_dir_bytes = 2 * one;  // room for two
  cache.model_hash = 2;
  Logits(b, &cache, &rb);
  // a is used again (a hit refreshes its time), so b is now the least recent.
  ::sleep(1);
  cache.model_hash = 1;
  PackedCacheReport hit;
  Logits(a, &cache, &hit);
  ASSERT_EQ(hit.outcome, Outcome::kHit);
  cache.model_hash = 3;
  Logits(c, &cache, &rc);
  EXPECT_TRUE(fs::exists(ra.path));
  EXPECT_FALSE(fs::exists(rb.path));
  EXPECT_TRUE(fs::exists(rc.path));
}

// Rss and Pss (bytes) of this process's mapping that starts at `start`.
struct MappingUse {
  uint64_t rss = 0, pss = 0;
};
MappingUse UseOfMapping(const void* start) {
  MappingUse u;
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in = false;
  const auto want = reinterpret_cast<uintptr_t>(start);
  while (std::getline(smaps, line)) {
    unsigned long long lo = 0, hi = 0, kb = 0;
    char dash = 0;
    if (std::sscanf(line.c_str(), "%llx%c%llx ", &lo, &dash, &hi) == 3 && dash == '-') {
      if (in) break;
      in = lo == want;
    } else if (in && std::sscanf(line.c_str(), "Rss: %llu kB", &kb) == 1) {
      u.rss = kb << 10;
    } else if (in && std::sscanf(line.c_str(), "Pss: %llu kB", &kb) == 1) {
      u.pss = kb << 10;
    }
  }
  return u;
}

// Two processes that map one cache file hold one copy of it: each one's mapping is resident and
// each is charged half of it (Pss).
TEST_F(PackedCacheTest, TwoProcessesShareOneMappedFile) {
  const std::string path = Model("f32");
  const PackedCacheOptions cache = Cache();
  PackedCacheReport r;
  Logits(path, &cache, &r);
  ASSERT_EQ(r.outcome, Outcome::kWritten) << r.detail;
  // This process's own mapping, opened directly (the parent holds it while the child looks).
  const std::vector<fs::path> files = CacheFiles();
  ASSERT_EQ(files.size(), 1u);
  const uint64_t bytes = fs::file_size(files[0]) - kPackedCachePayloadOffset;
  const std::string name = files[0].stem().string();  // <model hash>-<layout hash>
  PackedCacheKey k;
  k.model_hash = std::stoull(name.substr(0, 16), nullptr, 16);
  k.layout_hash = std::stoull(name.substr(17, 16), nullptr, 16);
  k.bytes = bytes;
  auto mine = OpenPackedCache(cache.dir, k, KernelContext{}, PackedCacheRead::kMap);
  ASSERT_TRUE(mine.ok()) << mine.status().ToString();
  ASSERT_TRUE(mine->mapped);
  const std::vector<int> statuses = InChildProcesses(1, [&]() {
    // The child's copy of the parent's mapping goes first, so only its own open can share.
    mine->owner.reset();
    auto own = OpenPackedCache(cache.dir, k, KernelContext{}, PackedCacheRead::kMap);
    if (!own.ok() || !own->mapped) return 1;
    const MappingUse u = UseOfMapping(own->block.data());
    if (u.rss < bytes * 9 / 10) return 2;  // resident (it was hashed)
    // Charged about half: the parent maps the same pages. (Pss, not Shared_Clean: Linux 6.18
    // counts a 2 MiB-mapped file folio mapped by two processes as private there.)
    if (u.pss > u.rss * 6 / 10) return 3;
    return 0;
  });
  EXPECT_EQ(statuses, std::vector<int>({0}));
  const MappingUse parent = UseOfMapping(mine->block.data());
  EXPECT_GE(parent.rss, bytes * 9 / 10);
}

// A model's hash is remembered beside the cache files by its file's identity and recalled by the
// next load (no read of the model file); an edit to the file, even one that keeps its size and
// mtime, changes its ctime and so is hashed afresh.
TEST_F(PackedCacheTest, TheModelHashIsRecalledOnlyForAnUnchangedFile) {
  const std::string path = Model("f32");
  BundleOptions options;
  options.cache = Cache(0);
  // Old enough to be remembered (a ctime within 2 s of the hash is not).
  ::timespec old[2] = {{1700000000, 0}, {1700000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), old, 0), 0);
  ::sleep(3);
  auto first = LoadModelBundle(path, "", KernelContext{}, options);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->model_hash_recalled);
  auto second = LoadModelBundle(path, "", KernelContext{}, options);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(second->model_hash_recalled);
  EXPECT_EQ(second->model_hash, first->model_hash);
  // Not when asked not to (replay).
  options.recall_model_hash = false;
  auto hashed = LoadModelBundle(path, "", KernelContext{}, options);
  ASSERT_TRUE(hashed.ok());
  EXPECT_FALSE(hashed->model_hash_recalled);
  EXPECT_EQ(hashed->model_hash, first->model_hash);
  options.recall_model_hash = true;
  // One byte of the file changed in place, its size and mtime put back: another ctime.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(path) - 7));
    f.put('\x5a');
  }
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), old, 0), 0);
  auto edited = LoadModelBundle(path, "", KernelContext{}, options);
  ASSERT_TRUE(edited.ok()) << edited.status().ToString();
  EXPECT_FALSE(edited->model_hash_recalled);
  EXPECT_NE(edited->model_hash, first->model_hash);
  // Just changed: not remembered yet (racy), so hashed again.
  auto again = LoadModelBundle(path, "", KernelContext{}, options);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->model_hash_recalled);
  EXPECT_EQ(again->model_hash, edited->model_hash);
}

// The model hash (the cache key's first half, and the schedule id's) by its definition: XXH3-64
// of each 1 MiB piece, then of the digests and file sizes; the same on 1, 2 or 3 threads.
TEST_F(PackedCacheTest, TheModelHashIsItsDefinitionOnAnyThreadCount) {
  const std::string path = Model("f32");  // > 1 MiB, not a whole number of pieces
  auto w = LoadModel(path);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  const MappedFile& f = w->files.at(0);
  ASSERT_GT(f.size(), 2 * kModelHashPiece);
  ASSERT_NE(f.size() % kModelHashPiece, 0u);
  std::vector<uint64_t> words;
  for (size_t at = 0; at < f.size(); at += kModelHashPiece) {
    words.push_back(XXH3_64bits(f.data() + at, std::min(kModelHashPiece, f.size() - at)));
  }
  words.push_back(f.size());
  const uint64_t want = XXH3_64bits(words.data(), words.size() * sizeof(uint64_t));
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    EXPECT_EQ(ModelFilesHash(w->files, KernelContext{Isa::kScalar, &pool}), want) << threads;
  }
  EXPECT_EQ(ModelFilesHash(w->files), want);
}

}  // namespace
}  // namespace detinfer
