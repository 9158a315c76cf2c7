// MappedFile: maps a temporary file; errors name the path.
#include "core/mapped_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace detinfer {
namespace {

// A file in a fresh temporary directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "detinfer_mf_XXXXXX";
    path_ = mkdtemp(tmpl.data()) ? tmpl : "";
  }
  ~TempDir() {
    for (const auto& f : files_) std::remove(f.c_str());
    rmdir(path_.c_str());
  }
  std::string Write(const std::string& name, const std::string& contents) {
    const std::string p = path_ + "/" + name;
    FILE* f = std::fopen(p.c_str(), "wb");
    EXPECT_NE(f, nullptr);
    if (f) {
      std::fwrite(contents.data(), 1, contents.size(), f);
      std::fclose(f);
    }
    files_.push_back(p);
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

TEST(MappedFileTest, MapsAFileReadOnly) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string contents("detinfer\0weights\x01\x02", 18);  // embedded NUL on purpose
  const std::string path = dir.Write("w.bin", contents);
  auto f = MappedFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_EQ(f->size(), contents.size());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(f->data()), f->size()), contents);
  EXPECT_EQ(f->path(), path);
  MappedFile moved = std::move(f).value();
  EXPECT_EQ(moved.size(), contents.size());
}

TEST(MappedFileTest, EmptyFileIsFine) {
  TempDir dir;
  auto f = MappedFile::Open(dir.Write("empty.bin", ""));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->size(), 0u);
  EXPECT_EQ(f->data(), nullptr);
}

TEST(MappedFileTest, MissingFileAndDirectoryAreNamedErrors) {
  TempDir dir;
  const std::string missing = dir.path() + "/no-such-model.gguf";
  auto f = MappedFile::Open(missing);
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
  EXPECT_NE(f.status().message().find(missing), std::string::npos) << f.status().message();
  auto d = MappedFile::Open(dir.path());
  EXPECT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find(dir.path()), std::string::npos) << d.status().message();
}

// FromBytes: a private, page-aligned copy that behaves like a map of a file with those bytes.
TEST(MappedFileTest, FromBytesCopiesIntoAlignedMemory) {
  std::vector<uint8_t> bytes = {1, 2, 3, 4, 5};
  MappedFile f = MappedFile::FromBytes(bytes.data(), bytes.size(), "buffer");
  bytes[0] = 9;  // the copy does not follow the source
  ASSERT_EQ(f.size(), 5u);
  EXPECT_EQ(f.data()[0], 1);
  EXPECT_EQ(f.data()[4], 5);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f.data()) % 4096, 0u);
  EXPECT_EQ(f.path(), "buffer");
  MappedFile moved = std::move(f);  // ownership moves with it (ASan checks the single free)
  EXPECT_EQ(moved.data()[1], 2);
  EXPECT_EQ(f.data(), nullptr);
  MappedFile empty = MappedFile::FromBytes(nullptr, 0, "empty");
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(empty.data(), nullptr);
}

// ReadInto gives the bytes the map shows, from a map (read from the file) and from a FromBytes
// copy alike; a range outside the view, or a file cut short after it was mapped (where a read
// through the map would be a SIGBUS), is an error naming the path.
TEST(MappedFileTest, ReadIntoCopiesTheViewsBytes) {
  TempDir dir;
  std::string contents(10000, '\0');
  for (size_t i = 0; i < contents.size(); ++i) contents[i] = static_cast<char>(i * 31 + 7);
  const std::string path = dir.Write("w.bin", contents);
  auto f = MappedFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const MappedFile copy = MappedFile::FromBytes(f->data(), f->size(), "copy");
  for (const MappedFile* m : {static_cast<const MappedFile*>(&f.value()), &copy}) {
    std::string got(5000, 'x');
    ASSERT_TRUE(m->ReadInto(m->data() + 4097, got.size(), got.data()).ok());
    EXPECT_EQ(got, contents.substr(4097, got.size())) << m->path();
    EXPECT_TRUE(m->ReadInto(m->data() + m->size(), 0, got.data()).ok());
    const Status outside = m->ReadInto(m->data() + 9000, 1001, got.data());
    EXPECT_EQ(outside.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(outside.message().find(m->path()), std::string::npos) << outside.ToString();
  }
  ASSERT_EQ(::truncate(path.c_str(), 6000), 0);
  std::string got(5000, 'x');
  const Status cut = f->ReadInto(f->data() + 4097, got.size(), got.data());
  EXPECT_EQ(cut.code(), StatusCode::kIoError);
  EXPECT_NE(cut.message().find(path), std::string::npos) << cut.ToString();
  EXPECT_NE(cut.message().find("cut short"), std::string::npos) << cut.ToString();
}

}  // namespace
}  // namespace detinfer
