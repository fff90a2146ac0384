#include "pg/boundary.hpp"

#include <cstring>
#include <new>

#include "core/error.hpp"
#include "pg/server.hpp"

namespace ptb::pg {

const char* ServerError::what() const noexcept {
  return data_ != nullptr && data_->message != nullptr ? data_->message : "server error";
}

const char* ServerError::sqlstate() const noexcept {
  return data_ != nullptr ? unpack_sql_state(data_->sqlerrcode) : core::sqlstate::kInternalError;
}

const char* ServerError::detail() const noexcept {
  return data_ != nullptr && data_->detail != nullptr ? data_->detail : "";
}

namespace detail {
namespace {

// The exception being turned into an ERROR. Static buffers, because the
// copy is made inside a catch block where a palloc failure would longjmp
// out of C++ code; single-threaded, as is every backend.
struct Captured {
  int sqlerrcode = 0;
  char message[8192];
  char detail[8192];
  char hint[2048];
  ErrorData* server_error = nullptr;
} captured;

void copy_text(char* dest, size_t size, const std::string& text) {
  strlcpy(dest, text.c_str(), size);
}

int to_errcode(const std::string& state) {
  bool valid = state.size() == 5;
  for (char c : state)
    valid = valid && ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'));
  if (!valid) return ERRCODE_INTERNAL_ERROR;
  return MAKE_SQLSTATE(state[0], state[1], state[2], state[3], state[4]);
}

void capture(int code, const std::string& message, const std::string& detail,
             const std::string& hint) {
  captured.sqlerrcode = code;
  captured.server_error = nullptr;
  copy_text(captured.message, sizeof captured.message, message);
  copy_text(captured.detail, sizeof captured.detail, detail);
  copy_text(captured.hint, sizeof captured.hint, hint);
}

}  // namespace

void capture_current_exception() noexcept {
  try {
    throw;
  } catch (const ServerError& e) {
    captured.server_error = const_cast<ErrorData*>(e.data());
  } catch (const core::Error& e) {
    capture(to_errcode(e.sqlstate()), e.what(), e.detail(), e.hint());
  } catch (const std::bad_alloc&) {
    capture(ERRCODE_OUT_OF_MEMORY, "out of memory in pg_tenant_backup", {}, {});
  } catch (const std::exception& e) {
    capture(ERRCODE_INTERNAL_ERROR, std::string("pg_tenant_backup internal error: ") + e.what(),
            {}, "This is a bug; please report it with the statement that caused it.");
  } catch (...) {
    capture(ERRCODE_INTERNAL_ERROR, "pg_tenant_backup internal error: unknown exception", {},
            "This is a bug; please report it with the statement that caused it.");
  }
}

void raise_captured() {
  if (captured.server_error != nullptr) {
    ErrorData* data = captured.server_error;
    captured.server_error = nullptr;
    ReThrowError(data);
  }
  ereport(ERROR, (errcode(captured.sqlerrcode), errmsg_internal("%s", captured.message),
                  captured.detail[0] ? errdetail_internal("%s", captured.detail) : 0,
                  captured.hint[0] ? errhint("%s", captured.hint) : 0));
  pg_unreachable();
}

}  // namespace detail
}  // namespace ptb::pg
