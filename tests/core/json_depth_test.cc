// CheckJsonDepth: counts only structural brackets, reports the byte where the limit is passed.
#include "core/json_depth.h"

#include <gtest/gtest.h>

#include <string>

namespace detinfer {
namespace {

std::string Nested(int depth, char open = '[', char close = ']') {
  return std::string(static_cast<size_t>(depth), open) +
         std::string(static_cast<size_t>(depth), close);
}

TEST(JsonDepthTest, LimitIsInclusive) {
  EXPECT_TRUE(CheckJsonDepth(Nested(3), 3, "x").ok());
  const Status s = CheckJsonDepth(Nested(4), 3, "x.json");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "x.json: JSON nested deeper than 3 levels at byte 3");
  EXPECT_FALSE(CheckJsonDepth(R"({"a": {"b": [1]}})", 2, "x").ok());
  EXPECT_TRUE(CheckJsonDepth(R"({"a": {"b": 1}, "c": [1, [2]]})", 3, "x").ok());
}

TEST(JsonDepthTest, BracketsInStringsDoNotCount) {
  EXPECT_TRUE(CheckJsonDepth(R"(["[[[[{{{{", "\"[[[[", "\\", [1]])", 2, "x").ok());
  // After an escaped backslash the quote does end the string, so the brackets count again.
  EXPECT_FALSE(CheckJsonDepth(R"(["\\", [[1]]])", 2, "x").ok());
  // Sibling containers do not add up; only nesting does.
  EXPECT_TRUE(CheckJsonDepth("[[1], [2], [3], {}, {}]", 2, "x").ok());
}

}  // namespace
}  // namespace detinfer
