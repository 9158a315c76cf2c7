// A file's kind from its first bytes: the cases a user meets by passing the wrong file.
#include "model/file_kind.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace detinfer {
namespace {

TEST(FileKindTest, ClassifiesWhatUsersPassByMistake) {
  using std::string_view;
  EXPECT_EQ(ClassifyFileHead(""), FileKind::kEmpty);
  EXPECT_EQ(ClassifyFileHead(string_view("GGUF\3\0\0\0", 8)), FileKind::kGguf);
  EXPECT_EQ(ClassifyFileHead("{\"version\": \"1.0\", \"model\": {}}"), FileKind::kJson);
  EXPECT_EQ(ClassifyFileHead("\n  [1, 2]"), FileKind::kJson);
  EXPECT_EQ(ClassifyFileHead("notes: try the 8B model\n"), FileKind::kText);
  EXPECT_EQ(ClassifyFileHead("caf\xc3\xa9 \xe2\x96\x81the\tend\r\n"), FileKind::kText);
  EXPECT_EQ(ClassifyFileHead(string_view("PK\3\4\x14\0\0\0", 8)), FileKind::kZip);
  EXPECT_EQ(ClassifyFileHead(string_view("\x80\x02}q\0", 5)), FileKind::kPickle);
  // A llama2.c header: seven little-endian int32 (dim 288, ...), so NUL bytes at once.
  const int32_t header[7] = {288, 768, 6, 6, 6, 32000, 256};
  EXPECT_EQ(ClassifyFileHead(string_view(reinterpret_cast<const char*>(header), sizeof header)),
            FileKind::kBinary);
  EXPECT_EQ(ClassifyFileHead("\x7f" "ELF"), FileKind::kBinary);
}

TEST(FileKindTest, AMissingFileIsAnErrorNamingIt) {
  const auto k = SniffFile("/nonexistent/dir/model.bin");
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("/nonexistent/dir/model.bin"), std::string::npos);
}

}  // namespace
}  // namespace detinfer
