// The C++ / PostgreSQL boundary (docs/architecture.md, "The C++ / PostgreSQL boundary").
//
// PostgreSQL reports errors by longjmp, which skips C++ destructors; C++
// reports them by unwinding, which the server cannot see. Two pieces keep
// them apart:
//   entry()   wraps every function the server calls. It runs the C++ body,
//             catches every exception, leaves the catch block and only then
//             raises the server ERROR (with the exception's SQLSTATE,
//             detail and hint, or the original server error intact).
//   guarded() wraps server calls that may raise ERROR while C++ objects are
//             alive. It catches the longjmp, copies the error, and throws it
//             as a ServerError, so destructors run. Use it per batch of
//             server calls, not per row.
// Destructors must never call server functions that can raise.
#pragma once

#include <exception>
#include <type_traits>
#include <utility>

#include "pg/server.hpp"

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

template <typename Call>
void guarded(Call&& call) {
  MemoryContext caller_context = CurrentMemoryContext;
  ErrorData* volatile server_error = nullptr;
  std::exception_ptr cpp_error;
  PG_TRY();
  {
    // A C++ exception must not unwind through PG_TRY's sigsetjmp frame.
    try {
      call();
    } catch (...) {
      cpp_error = std::current_exception();
    }
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(caller_context);
    server_error = CopyErrorData();
    FlushErrorState();
  }
  PG_END_TRY();
  if (server_error != nullptr) throw ServerError(server_error);
  if (cpp_error) std::rethrow_exception(cpp_error);
}

// guarded() for a call that returns a value.
template <typename Call>
auto guarded_value(Call&& call) -> decltype(call()) {
  using Result = decltype(call());
  static_assert(std::is_trivially_copyable_v<Result>,
                "guarded_value returns plain server values (Datum, pointers, numbers)");
  Result result{};
  guarded([&] { result = call(); });
  return result;
}

}  // namespace ptb::pg
