// Status and Result<T>: how every fallible call in detinfer reports an error.
//
// Errors a user can cause (a bad file, a bad flag, a shape mismatch) travel as a Status with
// a message naming the thing at fault. Exceptions are not used for them, so that the hot path
// stays exception-free and every error path is visible at the call site.
#ifndef DETINFER_CORE_STATUS_H_
#define DETINFER_CORE_STATUS_H_

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace detinfer {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,   // the caller passed something malformed (shape, dtype, flag)
  kNotFound,          // a file or named thing does not exist
  kIoError,           // the OS refused a read, map or write
  kUnsupported,       // valid, but not supported here (e.g. an ISA this CPU lacks)
  kOutOfRange,        // an index or size beyond a limit
  kResourceExhausted, // out of memory / KV blocks
  kInternal,          // a detinfer bug
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
  static Status Unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
  static Status OutOfRange(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
  static Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "INVALID_ARGUMENT: matmul: x has K=3 but w has K=4".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T val) : v_(std::move(val)) {}                // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}     // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace detinfer

#define DETINFER_STATUS_CONCAT_INNER(a, b) a##b
#define DETINFER_STATUS_CONCAT(a, b) DETINFER_STATUS_CONCAT_INNER(a, b)

#define DETINFER_RETURN_IF_ERROR(expr)               \
  do {                                               \
    ::detinfer::Status detinfer_status_ = (expr);    \
    if (!detinfer_status_.ok()) return detinfer_status_; \
  } while (0)

#define DETINFER_ASSIGN_OR_RETURN(lhs, expr)                                          \
  auto DETINFER_STATUS_CONCAT(detinfer_result_, __LINE__) = (expr);                   \
  if (!DETINFER_STATUS_CONCAT(detinfer_result_, __LINE__).ok())                       \
    return DETINFER_STATUS_CONCAT(detinfer_result_, __LINE__).status();               \
  lhs = std::move(DETINFER_STATUS_CONCAT(detinfer_result_, __LINE__)).value()

#endif  // DETINFER_CORE_STATUS_H_
