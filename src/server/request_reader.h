// RequestReader: one HTTP/1.1 request read from bytes as they arrive, within hard limits, before
// any handler thread sees it (docs/server.md, "Connections").
//
// The connection layer feeds it whatever a non-blocking read returned. It keeps the request
// line and header lines (at most `max_header_bytes` together, at most `max_headers` lines) and
// the body, which it de-chunks as it arrives: a Content-Length or a chunked body that would pass
// `max_body_bytes` is refused (413) at that point, so nothing past the limit is ever buffered.
// A complete request comes out normalised for cpp-httplib's parser: the same request line and
// headers, minus Transfer-Encoding and Expect, with a Content-Length for the de-chunked body.
#ifndef DETINFER_SERVER_REQUEST_READER_H_
#define DETINFER_SERVER_REQUEST_READER_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace detinfer::server {

struct RequestLimits {
  size_t max_header_bytes = 16384;  // request line + header lines (+ chunked trailers)
  int max_headers = 100;
  size_t max_body_bytes = size_t{1} << 20;
};

class RequestReader {
 public:
  enum class State { kNeedMore, kComplete, kError };

  explicit RequestReader(const RequestLimits& limits) : limits_(limits) {}

  // Consumes `n` bytes. Bytes past a complete request (a pipelined next one) wait in the reader
  // for TakeRequest().
  State Feed(const char* data, size_t n);
  State state() const { return state_; }

  // Whether any byte of the current request has arrived (an idle keep-alive connection has
  // none).
  bool started() const { return started_; }
  // True once, when the headers of a request carrying "Expect: 100-continue" and a body within
  // the limit have arrived: the caller answers "100 Continue" so that the client sends the body.
  bool TakeContinue();

  // After kComplete: the normalised request, and the reader starts on the bytes after it
  // (returns the new state in *next).
  std::string TakeRequest(State* next);

  // The request target of the current request ("/v1/completions?x=1"), once its line arrived.
  const std::string& target() const { return target_; }

  // After kError: the status (400, 413, 431, 501), a short code and a message for the client.
  int error_status() const { return error_status_; }
  const std::string& error_code() const { return error_code_; }
  const std::string& error_message() const { return error_message_; }

 private:
  enum class Phase { kHeaders, kBody, kChunkSize, kChunkData, kChunkEnd, kTrailers, kDone };

  State Parse();
  // The next line (without its CR LF) from pos_, or false if it has not fully arrived.
  bool NextLine(std::string* line);
  State HeaderLine(const std::string& line);
  State EndOfHeaders();
  State ChunkSizeLine(const std::string& line);
  State Fail(int status, const std::string& code, const std::string& message);
  void Reset();

  RequestLimits limits_;
  State state_ = State::kNeedMore;
  Phase phase_ = Phase::kHeaders;
  std::string in_;   // received, not yet consumed from pos_ on
  size_t pos_ = 0;
  size_t scan_ = 0;  // where the search for the next '\n' resumes
  bool started_ = false;
  size_t header_bytes_ = 0;
  int header_count_ = 0;
  bool have_request_line_ = false;
  std::string target_;
  std::string head_;  // request line and kept header lines, CR LF terminated
  bool has_length_ = false;
  uint64_t content_length_ = 0;
  bool chunked_ = false;
  bool expect_continue_ = false;
  bool continue_due_ = false;
  uint64_t chunk_left_ = 0;
  std::string body_;
  int error_status_ = 0;
  std::string error_code_;
  std::string error_message_;
};

}  // namespace detinfer::server

#endif  // DETINFER_SERVER_REQUEST_READER_H_
