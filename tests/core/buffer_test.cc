// AlignedBuffer: alignment, zero fill, empty and impossible sizes.
#include "core/buffer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace detinfer {
namespace {

TEST(BufferTest, AllocationsAreAlignedAndZeroFilled) {
  // From 2 MiB up the buffer is an anonymous mapping (zeroed by the kernel, not by memset).
  for (size_t bytes : {1u, 3u, 64u, 65u, 1000u, 1u << 20, 2u << 20, (2u << 20) + 1, 5u << 20}) {
    auto buf = AlignedBuffer::Allocate(bytes);
    ASSERT_TRUE(buf.ok()) << buf.status().ToString();
    EXPECT_EQ(buf->size(), bytes);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(buf->data()) % kBufferAlignment, 0u);
    const auto* p = buf->as<uint8_t>();
    for (size_t i = 0; i < bytes; ++i) ASSERT_EQ(p[i], 0) << i;
  }
}

TEST(BufferTest, HugePageBuffersAreWritableToTheLastByte) {
  std::vector<AlignedBuffer> bufs;  // several at once: no two share a byte
  for (size_t bytes : {2u << 20, (3u << 20) + 7, 4u << 20}) {
    auto buf = AlignedBuffer::Allocate(bytes);
    ASSERT_TRUE(buf.ok()) << buf.status().ToString();
    std::memset(buf->data(), int(bufs.size() + 1), bytes);
    bufs.push_back(std::move(buf).value());
  }
  for (size_t i = 0; i < bufs.size(); ++i) {
    const auto* p = bufs[i].as<uint8_t>();
    EXPECT_EQ(p[0], i + 1);
    EXPECT_EQ(p[bufs[i].size() - 1], i + 1);
  }
}

TEST(BufferTest, EmptyAndImpossibleSizes) {
  auto empty = AlignedBuffer::Allocate(0);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(empty->data(), nullptr);
  auto huge = AlignedBuffer::Allocate(std::numeric_limits<size_t>::max());
  EXPECT_EQ(huge.status().code(), StatusCode::kResourceExhausted);
}

TEST(BufferTest, MovesTransferOwnership) {
  auto a = AlignedBuffer::Allocate(128);
  ASSERT_TRUE(a.ok());
  void* p = a->data();
  AlignedBuffer b = std::move(a).value();
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.size(), 128u);
}

}  // namespace
}  // namespace detinfer
