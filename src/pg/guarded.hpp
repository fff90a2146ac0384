// guarded(): the half of the boundary (pg/boundary.hpp) that calls the
// server, so only server files (the Makefile's PG_SERVER_SRCS) include it.
#pragma once

#include <exception>
#include <type_traits>
#include <utility>

#include "pg/boundary.hpp"
#include "pg/server.hpp"

namespace ptb::pg {

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
