// Status and Result<T>: how every edgesplit module reports failure.
//
// The device-side core (graph, kernels, exec, wire) is built without exceptions,
// so errors travel as values. A failed Status carries a human-readable message
// that names what was wrong (the node, the tensor, the file offset...).
#pragma once

#include <string>
#include <utility>

namespace edgesplit {

enum class StatusCode : unsigned char {
  kOk = 0,
  kInvalidArgument,  // the caller's input is malformed or inconsistent
  kUnsupported,      // well-formed, but something edgesplit does not implement
  kNotFound,         // a named thing (layer, cut, file) does not exist
  kIoError,          // reading or writing a file failed
  kOutOfRange,       // a size or index beyond a limit
  kInternal,         // a broken invariant inside edgesplit: a bug
  kDeadlineExceeded, // a request ran out of time (retries exhausted or its deadline passed)
  kBusy,             // a server refused the request for now (queue full, or it could not start in time)
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "context: message", to add where the error happened.
  Status WithContext(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return Status(StatusCode::kInvalidArgument, std::move(m)); }
inline Status Unsupported(std::string m) { return Status(StatusCode::kUnsupported, std::move(m)); }
inline Status NotFound(std::string m) { return Status(StatusCode::kNotFound, std::move(m)); }
inline Status IoError(std::string m) { return Status(StatusCode::kIoError, std::move(m)); }
inline Status OutOfRange(std::string m) { return Status(StatusCode::kOutOfRange, std::move(m)); }
inline Status Internal(std::string m) { return Status(StatusCode::kInternal, std::move(m)); }
inline Status DeadlineExceeded(std::string m) { return Status(StatusCode::kDeadlineExceeded, std::move(m)); }
inline Status Busy(std::string m) { return Status(StatusCode::kBusy, std::move(m)); }

// A value or the Status saying why there is none. Accessing value() of a failed
// Result is a bug (it is checked in debug builds only, as std::optional is).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)), has_value_(true) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {               // NOLINT: implicit by design
    if (status_.ok()) status_ = Internal("Result constructed from an OK status without a value");
  }

  bool ok() const { return has_value_; }
  const Status& status() const { return status_; }
  T& value() & { return value_; }
  const T& value() const& { return value_; }
  T&& value() && { return std::move(value_); }
  T* operator->() { return &value_; }
  const T* operator->() const { return &value_; }
  T& operator*() & { return value_; }
  const T& operator*() const& { return value_; }

 private:
  T value_{};
  Status status_;
  bool has_value_ = false;
};

}  // namespace edgesplit

// Propagates a failed Status to the caller.
#define ES_RETURN_IF_ERROR(expr)            \
  do {                                      \
    ::edgesplit::Status es_status_ = (expr); \
    if (!es_status_.ok()) return es_status_; \
  } while (0)

#define ES_CONCAT_INNER(a, b) a##b
#define ES_CONCAT(a, b) ES_CONCAT_INNER(a, b)
// Declares `lhs` from a Result, or returns its Status on failure.
#define ES_ASSIGN_OR_RETURN(lhs, expr) ES_ASSIGN_OR_RETURN_IMPL(ES_CONCAT(es_result_, __LINE__), lhs, expr)
#define ES_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
