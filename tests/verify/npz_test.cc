// The .npz writer read back by an independent parser (and by numpy.load where installed); the
// checksums against their published test vectors.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "model/model_test_util.h"
#include "verify/checksums.h"
#include "verify/npz_reader.h"
#include "verify/npz_writer.h"

namespace detinfer::verify {
namespace {

TEST(ChecksumsTest, Sha256MatchesFips180Vectors) {
  Sha256 empty;
  EXPECT_EQ(empty.HexDigest(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 abc;
  abc.Update("abc", 3);
  EXPECT_EQ(abc.HexDigest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // Two blocks, fed in uneven pieces.
  const std::string two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  Sha256 h;
  h.Update(two.data(), 5);
  h.Update(two.data() + 5, two.size() - 5);
  EXPECT_EQ(h.HexDigest(), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(ChecksumsTest, Crc32MatchesTheCheckValue) {
  EXPECT_EQ(Crc32("123456789", 9), 0xcbf43926u);  // the CRC-32/ISO-HDLC check value
  EXPECT_EQ(Crc32("", 0), 0u);
}

struct Written {
  testing::TempDir dir;
  std::vector<float> f = {1.5f, -2.0f, 0.0f, 3.25f, -0.125f, 1e-3f};
  std::vector<uint16_t> u = {0x3f80, 0xc000, 0x0000, 0x7f80, 0xffff};
  std::vector<int32_t> ids = {1, 461, 401};
  std::string path;
  Written() {
    path = dir.file("a.npz");
    NpzWriter w;
    EXPECT_TRUE(w.Add("matrix", "<f4", {2, 3}, f.data(), f.size() * 4).ok());
    EXPECT_TRUE(w.Add("bits", "<u2", {5}, u.data(), u.size() * 2).ok());
    EXPECT_TRUE(w.Add("ids", "<i4", {1, 1, 3}, ids.data(), ids.size() * 4).ok());
    EXPECT_TRUE(w.WriteFile(path).ok());
  }
};

TEST(NpzWriterTest, IndependentParserReadsHeaderDtypeShapeAndBytes) {
  Written w;
  const testing::NpzContents c = testing::ReadNpz(w.path);
  ASSERT_TRUE(c.error.empty()) << c.error;
  ASSERT_EQ(c.arrays.size(), 3u);
  const auto& m = c.arrays.at("matrix");
  EXPECT_EQ(m.descr, "<f4");
  EXPECT_FALSE(m.fortran_order);
  EXPECT_EQ(m.shape, (std::vector<int64_t>{2, 3}));
  ASSERT_EQ(m.data.size(), w.f.size() * 4);
  EXPECT_EQ(std::memcmp(m.data.data(), w.f.data(), m.data.size()), 0);
  const auto& b = c.arrays.at("bits");
  EXPECT_EQ(b.descr, "<u2");
  EXPECT_EQ(b.shape, (std::vector<int64_t>{5}));
  EXPECT_EQ(std::memcmp(b.data.data(), w.u.data(), b.data.size()), 0);
  EXPECT_EQ(c.arrays.at("ids").shape, (std::vector<int64_t>{1, 1, 3}));
}

TEST(NpzWriterTest, RejectsADuplicateName) {
  NpzWriter w;
  const float x = 1;
  ASSERT_TRUE(w.Add("a", "<f4", {1}, &x, 4).ok());
  const Status s = w.Add("a", "<f4", {1}, &x, 4);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'a' added twice"), std::string::npos);
}

TEST(NpzWriterTest, NumpyLoadReadsIt) {
  // The python3 on PATH first, then the system one (a pyenv python may lack numpy).
  std::string python;
  for (const char* candidate : {"python3", "/usr/bin/python3"}) {
    const std::string probe = std::string(candidate) + " -c 'import numpy' > /dev/null 2>&1";
    if (std::system(probe.c_str()) == 0) {
      python = candidate;
      break;
    }
  }
  if (python.empty()) GTEST_SKIP() << "python3 with numpy is not installed: numpy.load not tried";
  Written w;
  const std::string script = w.dir.file("check.py");
  std::ofstream(script) << "import sys, numpy as np\n"
                           "z = np.load(sys.argv[1])\n"
                           "assert sorted(z.files) == ['bits', 'ids', 'matrix'], z.files\n"
                           "m = z['matrix']\n"
                           "assert m.dtype == np.float32 and m.shape == (2, 3)\n"
                           "assert m.tolist() == [[1.5, -2.0, 0.0], [3.25, -0.125, np.float32(1e-3)]]\n"
                           "b = z['bits']\n"
                           "assert b.dtype == np.uint16 and b.tolist() == [0x3f80, 0xc000, 0, 0x7f80, 0xffff]\n"
                           "assert z['ids'].shape == (1, 1, 3) and z['ids'].ravel().tolist() == [1, 461, 401]\n";
  EXPECT_EQ(std::system((python + " " + script + " " + w.path).c_str()), 0);
}

}  // namespace
}  // namespace detinfer::verify
