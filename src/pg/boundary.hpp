// The C++ / PostgreSQL boundary (docs/architecture.md, "The C++ / PostgreSQL boundary").
//
// PostgreSQL reports errors by longjmp, which skips C++ destructors; C++
// reports them by unwinding, which the server cannot see. Two pieces keep
// them apart:
//   entry()   wraps every function the server calls. It runs the C++ body,
//             catches every exception, leaves the catch block and only then
//             raises the server ERROR (with the exception's SQLSTATE,
//             detail and hint, or the original server error intact).
//   guarded() (pg/guarded.hpp, in server files only) wraps server calls
//             that may raise ERROR while C++ objects are alive. It catches the longjmp, copies the error, and throws it
//             as a ServerError, so destructors run. Use it per batch of
//             server calls, not per row.
// Destructors must never call server functions that can raise.
#pragma once

#include <exception>
#include <utility>

// The server's error record; only src/pg/boundary.cpp and guarded.hpp see
// its fields.
struct ErrorData;

namespace ptb::pg {

// A server ERROR caught by guarded(), carried as a C++ exception. Owns a
// copy of the ErrorData (palloc'd in the memory context that was current
// before the call); entry() re-raises it unchanged.
class ServerError : public std::exception {
 public:
  explicit ServerError(ErrorData* data) : data_(data) {}
  const char* what() const noexcept override;
  const ErrorData* data() const noexcept { return data_; }
  const char* sqlstate() const noexcept;  // five characters, static storage
  const char* detail() const noexcept;    // "" when there is none

 private:
  ErrorData* data_;
};

namespace detail {
// Records the exception being handled (call only inside a catch block).
void capture_current_exception() noexcept;
// Raises the recorded exception as a server ERROR. Never returns.
[[noreturn]] void raise_captured();
}  // namespace detail

template <typename Body>
auto entry(Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (...) {
    detail::capture_current_exception();
  }
  // Outside the catch block: the exception object is gone before longjmp.
  detail::raise_captured();
}

}  // namespace ptb::pg
