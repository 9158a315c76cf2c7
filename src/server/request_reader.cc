#include "server/request_reader.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <string_view>

namespace detinfer::server {

namespace {

// Chunk-size lines carry a hex number and maybe extensions; longer ones are not HTTP.
constexpr size_t kMaxChunkLine = 1024;
// Past this, a chunked body's buffer grows as it fills (bounded by the limit all the same).
constexpr size_t kMaxUpfrontReserve = size_t{64} << 20;

// Joins message parts (GCC 12 warns falsely on "literal" + std::to_string chains).
std::string Concat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (const std::string_view p : parts) out += p;
  return out;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string TrimOws(const std::string& s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return s.substr(b, e - b);
}

bool IsTokenChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f && c != ':' && c != '(' && c != ')' && c != ',' && c != '/' &&
         c != ';' && c != '<' && c != '=' && c != '>' && c != '?' && c != '@' && c != '[' &&
         c != '\\' && c != ']' && c != '{' && c != '}' && c != '"';
}

}  // namespace

RequestReader::State RequestReader::Fail(int status, const std::string& code,
                                         const std::string& message) {
  error_status_ = status;
  error_code_ = code;
  error_message_ = message;
  state_ = State::kError;
  return state_;
}

void RequestReader::Reset() {
  phase_ = Phase::kHeaders;
  state_ = State::kNeedMore;
  started_ = false;
  header_bytes_ = 0;
  header_count_ = 0;
  have_request_line_ = false;
  target_.clear();
  head_.clear();
  has_length_ = false;
  content_length_ = 0;
  chunked_ = false;
  expect_continue_ = false;
  continue_due_ = false;
  chunk_left_ = 0;
  body_.clear();
}

RequestReader::State RequestReader::Feed(const char* data, size_t n) {
  if (state_ != State::kNeedMore) {
    // A pipelined request behind a complete one, or bytes after an error: keep (or drop).
    if (state_ == State::kComplete) in_.append(data, n);
    return state_;
  }
  in_.append(data, n);
  return Parse();
}

bool RequestReader::TakeContinue() {
  const bool due = continue_due_;
  continue_due_ = false;
  return due;
}

std::string RequestReader::TakeRequest(State* next) {
  std::string out = std::move(head_);
  if (has_length_ || chunked_) {
    out += "Content-Length: ";
    out += std::to_string(body_.size());
    out += "\r\n";
  }
  out += "\r\n";
  out += body_;
  in_.erase(0, pos_);
  pos_ = 0;
  scan_ = 0;
  Reset();
  *next = Parse();
  return out;
}

bool RequestReader::NextLine(std::string* line) {
  const size_t nl = in_.find('\n', std::max(scan_, pos_));
  if (nl == std::string::npos) {
    scan_ = in_.size();
    return false;
  }
  size_t end = nl;
  if (end > pos_ && in_[end - 1] == '\r') --end;
  line->assign(in_, pos_, end - pos_);
  pos_ = nl + 1;
  scan_ = pos_;
  return true;
}

RequestReader::State RequestReader::Parse() {
  for (;;) {
    switch (phase_) {
      case Phase::kHeaders:
      case Phase::kTrailers: {
        std::string line;
        const size_t before = pos_;
        const bool got = NextLine(&line);
        const size_t used = got ? pos_ - before : in_.size() - pos_;
        if (used > 0) started_ = true;
        if (header_bytes_ + used > limits_.max_header_bytes) {
          return Fail(431, "headers_too_large",
                      Concat({"the request line and headers are larger than the limit of ",
                           std::to_string(limits_.max_header_bytes), " bytes"}));
        }
        if (!got) return state_;
        header_bytes_ += used;
        if (phase_ == Phase::kHeaders && !have_request_line_ && line.empty()) {
          continue;  // empty lines before a request line are ignored (RFC 9112 §2.2)
        }
        if (phase_ == Phase::kTrailers) {
          if (line.empty()) {
            phase_ = Phase::kDone;
            state_ = State::kComplete;
            return state_;
          }
          continue;  // trailer fields are read and dropped
        }
        const State s = line.empty() ? EndOfHeaders() : HeaderLine(line);
        if (s != State::kNeedMore || phase_ == Phase::kDone) return s;
        break;
      }
      case Phase::kBody: {
        const size_t take = static_cast<size_t>(
            std::min<uint64_t>(content_length_ - body_.size(), in_.size() - pos_));
        body_.append(in_, pos_, take);
        pos_ += take;
        if (body_.size() == content_length_) {
          phase_ = Phase::kDone;
          state_ = State::kComplete;
          return state_;
        }
        in_.erase(0, pos_);  // the body is copied out: drop it from the input
        pos_ = scan_ = 0;
        return state_;
      }
      case Phase::kChunkSize: {
        std::string line;
        if (!NextLine(&line)) {
          if (in_.size() - pos_ > kMaxChunkLine) {
            return Fail(400, "bad_chunk", "a chunk-size line is longer than 1024 bytes");
          }
          return state_;
        }
        const State s = ChunkSizeLine(line);
        if (s != State::kNeedMore) return s;
        break;
      }
      case Phase::kChunkData: {
        const size_t take =
            static_cast<size_t>(std::min<uint64_t>(chunk_left_, in_.size() - pos_));
        if (body_.capacity() < body_.size() + take) {
          // Grow by doubling, but never past the limit: the buffer stays within it.
          body_.reserve(std::min(limits_.max_body_bytes,
                                 std::max(2 * body_.capacity(), body_.size() + take)));
        }
        body_.append(in_, pos_, take);
        pos_ += take;
        chunk_left_ -= take;
        if (chunk_left_ > 0) {
          in_.erase(0, pos_);
          pos_ = scan_ = 0;
          return state_;
        }
        phase_ = Phase::kChunkEnd;
        break;
      }
      case Phase::kChunkEnd: {
        std::string line;
        if (!NextLine(&line)) {
          if (in_.size() - pos_ >= 2) {
            return Fail(400, "bad_chunk", "chunk data is not followed by CRLF");
          }
          return state_;
        }
        if (!line.empty()) return Fail(400, "bad_chunk", "chunk data is not followed by CRLF");
        phase_ = Phase::kChunkSize;
        break;
      }
      case Phase::kDone:
        return state_;
    }
  }
}

RequestReader::State RequestReader::HeaderLine(const std::string& line) {
  if (!have_request_line_) {
    // METHOD SP request-target SP HTTP/1.x
    const size_t a = line.find(' ');
    const size_t b = a == std::string::npos ? a : line.find(' ', a + 1);
    if (a == 0 || b == std::string::npos || b == a + 1 || line.find(' ', b + 1) != std::string::npos ||
        line.compare(b + 1, 7, "HTTP/1.") != 0 || line.size() != b + 9) {
      return Fail(400, "bad_request_line", "the request line is not 'METHOD TARGET HTTP/1.x'");
    }
    for (size_t i = 0; i < a; ++i) {
      if (!IsTokenChar(line[i])) return Fail(400, "bad_request_line", "the method is not a token");
    }
    have_request_line_ = true;
    target_ = line.substr(a + 1, b - a - 1);
    head_ += line;
    head_ += "\r\n";
    return state_;
  }
  if (++header_count_ > limits_.max_headers) {
    return Fail(431, "too_many_headers",
                Concat({"the request has more than ", std::to_string(limits_.max_headers),
                     " header fields"}));
  }
  if (line[0] == ' ' || line[0] == '\t') {
    return Fail(400, "bad_header", "folded header lines (obs-fold) are not accepted");
  }
  const size_t colon = line.find(':');
  if (colon == std::string::npos || colon == 0) {
    return Fail(400, "bad_header", "a header line is not 'Name: value'");
  }
  for (size_t i = 0; i < colon; ++i) {
    if (!IsTokenChar(line[i])) return Fail(400, "bad_header", "a header name is not a token");
  }
  const std::string name = Lower(line.substr(0, colon));
  const std::string value = TrimOws(line.substr(colon + 1));
  if (name == "content-length") {
    if (value.empty() || value.size() > 19 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return Fail(400, "bad_content_length", "Content-Length is not a decimal number");
    }
    const uint64_t n = std::stoull(value);
    if (has_length_ && n != content_length_) {
      return Fail(400, "bad_content_length", "the request has two different Content-Lengths");
    }
    has_length_ = true;
    content_length_ = n;
    return state_;  // written back after the body arrives
  }
  if (name == "transfer-encoding") {
    if (Lower(value) != "chunked" || chunked_) {
      return Fail(501, "unsupported_transfer_encoding",
                  Concat({"Transfer-Encoding '", value.substr(0, 64),
                       "' is not supported (only chunked)"}));
    }
    chunked_ = true;
    return state_;
  }
  if (name == "expect") {
    if (Lower(value) != "100-continue") {
      return Fail(417, "expectation_failed", "only 'Expect: 100-continue' is supported");
    }
    expect_continue_ = true;
    return state_;
  }
  head_ += line;
  head_ += "\r\n";
  return state_;
}

RequestReader::State RequestReader::EndOfHeaders() {
  if (!have_request_line_) return Fail(400, "bad_request_line", "no request line");
  if (chunked_ && has_length_) {
    // Which one frames the body is where request smuggling lives: refuse the ambiguity.
    return Fail(400, "bad_content_length",
                "the request has both Content-Length and Transfer-Encoding");
  }
  const std::string limit = std::to_string(limits_.max_body_bytes);
  if (has_length_ && content_length_ > limits_.max_body_bytes) {
    return Fail(413, "body_too_large",
                Concat({"the request body (", std::to_string(content_length_),
                     " bytes) is larger than the limit of ", limit, " bytes (--max-body-bytes)"}));
  }
  continue_due_ = expect_continue_ && (chunked_ || content_length_ > 0);
  if (chunked_) {
    // Room for a body at the limit from the start: a growing buffer would briefly hold two
    // copies (up to twice the limit), while reserved pages cost memory only as bytes arrive.
    body_.reserve(std::min(limits_.max_body_bytes, kMaxUpfrontReserve));
    phase_ = Phase::kChunkSize;
  } else if (content_length_ > 0) {
    body_.reserve(static_cast<size_t>(content_length_));
    phase_ = Phase::kBody;
  } else {
    phase_ = Phase::kDone;
    state_ = State::kComplete;
  }
  return state_;
}

RequestReader::State RequestReader::ChunkSizeLine(const std::string& line) {
  uint64_t size = 0;
  size_t i = 0;
  while (i < line.size() && std::isxdigit(static_cast<unsigned char>(line[i]))) {
    if (size > (uint64_t{1} << 56)) {
      return Fail(413, "body_too_large", "a chunk is larger than the body limit");
    }
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(line[i])));
    size = size * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    ++i;
  }
  if (i == 0 || (i < line.size() && line[i] != ';' && line[i] != ' ' && line[i] != '\t')) {
    return Fail(400, "bad_chunk", "a chunk-size line is not a hexadecimal number");
  }
  if (size == 0) {
    phase_ = Phase::kTrailers;
    return state_;
  }
  if (body_.size() + size > limits_.max_body_bytes) {
    return Fail(413, "body_too_large",
                Concat({"the chunked request body grows past the limit of ",
                     std::to_string(limits_.max_body_bytes), " bytes (--max-body-bytes)"}));
  }
  chunk_left_ = size;
  phase_ = Phase::kChunkData;
  return state_;
}

}  // namespace detinfer::server
