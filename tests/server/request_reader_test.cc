// RequestReader: requests read within limits from bytes as they arrive, bodies de-chunked and
// counted against the limit while they arrive.
#include "server/request_reader.h"

#include <gtest/gtest.h>

#include <string>

namespace detinfer::server {
namespace {

using State = RequestReader::State;

RequestLimits Limits(size_t body = 1000, size_t header_bytes = 2048, int headers = 10) {
  RequestLimits l;
  l.max_body_bytes = body;
  l.max_header_bytes = header_bytes;
  l.max_headers = headers;
  return l;
}

// Feeds `bytes` one at a time (the worst a client can split them) until the reader stops
// needing more; returns how many were fed.
size_t FeedBytewise(RequestReader& r, const std::string& bytes) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (r.Feed(&bytes[i], 1) != State::kNeedMore) return i + 1;
  }
  return bytes.size();
}

TEST(RequestReaderTest, ContentLengthRequestArrivingBytewiseComesOutWhole) {
  RequestReader r(Limits());
  const std::string req =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";
  EXPECT_EQ(FeedBytewise(r, req), req.size());
  ASSERT_EQ(r.state(), State::kComplete);
  EXPECT_EQ(r.target(), "/v1/completions");
  State next;
  const std::string out = r.TakeRequest(&next);
  EXPECT_EQ(next, State::kNeedMore);
  EXPECT_FALSE(r.started());
  EXPECT_EQ(out.rfind("POST /v1/completions HTTP/1.1\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("\r\nHost: x\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nX-A: b\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nContent-Length: 5\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 9), "\r\n\r\nhello") << out;
}

TEST(RequestReaderTest, ChunkedBodyIsDechunkedWithAContentLength) {
  RequestReader r(Limits());
  const std::string req =
      "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\nA;ext=1\r\n0123456789\r\n0\r\nTrailer: t\r\n\r\n";
  EXPECT_EQ(FeedBytewise(r, req), req.size());
  ASSERT_EQ(r.state(), State::kComplete);
  State next;
  const std::string out = r.TakeRequest(&next);
  EXPECT_EQ(out.find("Transfer-Encoding"), std::string::npos) << out;
  EXPECT_EQ(out.find("Trailer"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nContent-Length: 13\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 17), "\r\n\r\nabc0123456789") << out;
}

TEST(RequestReaderTest, ChunkedBodyIsRefusedAtTheChunkThatWouldPassTheLimit) {
  RequestReader r(Limits(/*body=*/100));
  std::string req = "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  req += "3C\r\n" + std::string(60, 'x') + "\r\n";
  ASSERT_EQ(r.Feed(req.data(), req.size()), State::kNeedMore);
  // 60 + 41 > 100: refused on the size line, before any of the chunk's bytes arrive.
  const std::string size_line = "29\r\n";
  EXPECT_EQ(r.Feed(size_line.data(), size_line.size()), State::kError);
  EXPECT_EQ(r.error_status(), 413);
  EXPECT_NE(r.error_message().find("100 bytes"), std::string::npos) << r.error_message();
  EXPECT_NE(r.error_message().find("--max-body-bytes"), std::string::npos);
}

TEST(RequestReaderTest, ChunkedBodyExactlyAtTheLimitIsAccepted) {
  RequestReader r(Limits(/*body=*/100));
  std::string req = "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 10; ++i) req += "A\r\n" + std::string(10, 'y') + "\r\n";
  req += "0\r\n\r\n";
  EXPECT_EQ(r.Feed(req.data(), req.size()), State::kComplete);
}

TEST(RequestReaderTest, ContentLengthOverTheLimitIsRefusedBeforeTheBody) {
  RequestReader r(Limits(/*body=*/100));
  const std::string head = "POST /p HTTP/1.1\r\nContent-Length: 101\r\n\r\n";
  EXPECT_EQ(r.Feed(head.data(), head.size()), State::kError);
  EXPECT_EQ(r.error_status(), 413);
  EXPECT_NE(r.error_message().find("101 bytes"), std::string::npos) << r.error_message();
}

TEST(RequestReaderTest, HeaderLimits) {
  {
    RequestReader r(Limits(1000, 2048, /*headers=*/3));
    const std::string req = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
    EXPECT_EQ(r.Feed(req.data(), req.size()), State::kError);
    EXPECT_EQ(r.error_status(), 431);
    EXPECT_NE(r.error_message().find("more than 3 header fields"), std::string::npos);
  }
  {
    // Headers that never end are refused once they pass the byte limit, not buffered on.
    RequestReader r(Limits(1000, /*header_bytes=*/1024, 100));
    const std::string start = "GET / HTTP/1.1\r\nX: ";
    ASSERT_EQ(r.Feed(start.data(), start.size()), State::kNeedMore);
    const std::string more(1100, 'a');
    EXPECT_EQ(FeedBytewise(r, more), 1024 - start.size() + 1);
    EXPECT_EQ(r.state(), State::kError);
    EXPECT_EQ(r.error_status(), 431);
  }
  {
    // So do empty lines before a request line.
    RequestReader r(Limits(1000, 1024, 100));
    std::string crlfs;
    for (int i = 0; i < 600; ++i) crlfs += "\r\n";
    EXPECT_EQ(r.Feed(crlfs.data(), crlfs.size()), State::kError);
    EXPECT_EQ(r.error_status(), 431);
  }
}

TEST(RequestReaderTest, MalformedFramingIsRefused) {
  const struct {
    std::string req;
    int status;
  } cases[] = {
      {"GET /\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nno colon\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc", 400},
      {"POST / HTTP/1.1\r\nExpect: something\r\nContent-Length: 1\r\n\r\n", 417},
  };
  for (const auto& c : cases) {
    RequestReader r(Limits());
    EXPECT_EQ(r.Feed(c.req.data(), c.req.size()), State::kError) << c.req;
    EXPECT_EQ(r.error_status(), c.status) << c.req;
    EXPECT_FALSE(r.error_message().empty());
  }
}

TEST(RequestReaderTest, PipelinedRequestsComeOutOneByOne) {
  RequestReader r(Limits());
  const std::string two =
      "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /b HTTP/1.1\r\n\r\nGET /c";
  ASSERT_EQ(r.Feed(two.data(), two.size()), State::kComplete);
  State next;
  EXPECT_EQ(r.TakeRequest(&next).substr(0, 8), "POST /a ");
  ASSERT_EQ(next, State::kComplete);
  EXPECT_EQ(r.TakeRequest(&next).substr(0, 7), "GET /b ");
  EXPECT_EQ(next, State::kNeedMore);
  EXPECT_TRUE(r.started());  // "GET /c" has begun
}

TEST(RequestReaderTest, ExpectContinueIsAnsweredOnceAndNotPassedOn) {
  RequestReader r(Limits());
  const std::string head = "POST /p HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
  ASSERT_EQ(r.Feed(head.data(), head.size()), State::kNeedMore);
  EXPECT_TRUE(r.TakeContinue());
  EXPECT_FALSE(r.TakeContinue());
  ASSERT_EQ(r.Feed("ok", 2), State::kComplete);
  State next;
  EXPECT_EQ(r.TakeRequest(&next).find("Expect"), std::string::npos);
}

}  // namespace
}  // namespace detinfer::server
