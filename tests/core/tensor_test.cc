// TensorView and CheckTensor: shapes, and errors that name the operand and its shape.
#include "core/tensor.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace detinfer {
namespace {

TEST(TensorTest, ContiguousViewsHaveRowMajorStrides) {
  std::vector<float> buf(24);
  const TensorView v = TensorView::Contiguous(buf.data(), DType::kF32, {2, 3, 4});
  EXPECT_EQ(v.rank, 3);
  EXPECT_EQ(v.stride[0], 12);
  EXPECT_EQ(v.stride[1], 4);
  EXPECT_EQ(v.stride[2], 1);
  EXPECT_EQ(v.numel(), 24);
  EXPECT_TRUE(v.is_contiguous());
  EXPECT_EQ(v.ShapeString(), "[2, 3, 4] f32");
  EXPECT_EQ(v.row<float>(1), buf.data() + 12);
  EXPECT_TRUE(CheckTensor(v, "op: x", 3, DType::kF32).ok());
}

TEST(TensorTest, CheckTensorErrorsNameTheOperandAndShape) {
  alignas(8) float buf[16] = {};
  const TensorView v = TensorView::Contiguous(buf, DType::kF32, {4, 4});
  Status s = CheckTensor(v, "matmul: w", 3, DType::kF32);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "matmul: w must have rank 3, got [4, 4] f32");
  s = CheckTensor(v, "matmul: w", 2, DType::kBF16);
  EXPECT_EQ(s.message(), "matmul: w must be bf16, got [4, 4] f32");

  TensorView null = TensorView::Contiguous(static_cast<void*>(nullptr), DType::kF32, {2, 2});
  EXPECT_EQ(CheckTensor(null, "add: a", 2, DType::kF32).message(), "add: a is null ([2, 2] f32)");
  // An empty view may be null.
  EXPECT_TRUE(CheckTensor(TensorView::Contiguous(static_cast<void*>(nullptr), DType::kF32, {0, 2}),
                          "add: a", 2, DType::kF32).ok());

  TensorView mis = TensorView::Contiguous(reinterpret_cast<char*>(buf) + 2, DType::kF32, {2, 2});
  EXPECT_EQ(CheckTensor(mis, "add: b", 2, DType::kF32).message(),
            "add: b is not aligned to its element size ([2, 2] f32)");

  TensorView neg = v;
  neg.shape[0] = -1;
  EXPECT_NE(CheckTensor(neg, "x", 2, DType::kF32).message().find("x has a negative dimension"),
            std::string::npos);

  TensorView strided = v;
  strided.stride[1] = 2;
  EXPECT_NE(CheckTensor(strided, "x", 2, DType::kF32).message().find("x must have unit stride"),
            std::string::npos);

  TensorView overlap = v;
  overlap.stride[0] = 3;  // rows of 4 elements, 3 apart
  s = CheckTensor(overlap, "rope: x", 2, DType::kF32);
  EXPECT_EQ(s.message(), "rope: x has overlapping rows (stride 3 in dim 0, [4, 4] f32)");

  TensorView padded = v;
  padded.shape[0] = 2;
  padded.stride[0] = 8;  // padded rows are fine
  EXPECT_TRUE(CheckTensor(padded, "x", 2, DType::kF32).ok());
  EXPECT_FALSE(padded.is_contiguous());
}

}  // namespace
}  // namespace detinfer
