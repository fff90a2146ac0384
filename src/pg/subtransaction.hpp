// Internal subtransactions, as PL/pgSQL runs a block with an exception
// handler: an import, and a value checked against a type, run in one so
// that a failure leaves the caller's transaction clean.
#pragma once

#include <optional>
#include <utility>

#include "pg/boundary.hpp"

#include "access/xact.h"
#include "utils/resowner.h"

namespace ptb::pg {

// A copy of an error in `context`: the copy guarded() made may live in a
// memory context that rolling back the subtransaction frees (SPI's). Every
// pointer field of the server's ErrorData is duplicated, the const ones
// too: a PostgreSQL 15 minor keeps the file and function names of an
// error in palloc'd memory, and a copy still pointing there would raise
// the error again with garbage for its location (test/system/error_copy.sh).
ErrorData* copy_error(const ErrorData* error, MemoryContext context);

// Runs body in an internal subtransaction, as PL/pgSQL runs a block with an
// exception handler: kept (released into the caller's transaction) when
// `keep` and the body succeeds, rolled back otherwise. Rolling back on an
// error leaves the caller's transaction clean, so the failure can be logged
// before the error is raised again.
template <typename Body>
auto in_subtransaction(bool keep, Body&& body) -> decltype(body()) {
  MemoryContext context = CurrentMemoryContext;
  ResourceOwner owner = CurrentResourceOwner;
  auto end = [&](bool commit) {
    guarded([&] {
      if (commit)
        ReleaseCurrentSubTransaction();
      else
        RollbackAndReleaseCurrentSubTransaction();
      MemoryContextSwitchTo(context);
      CurrentResourceOwner = owner;
    });
  };
  guarded([&] {
    BeginInternalSubTransaction(nullptr);
    MemoryContextSwitchTo(context);
  });
  std::optional<decltype(body())> result;
  try {
    result.emplace(body());
  } catch (const ServerError& e) {
    ErrorData* copy = copy_error(e.data(), context);
    end(false);
    throw ServerError(copy);
  } catch (...) {
    end(false);
    throw;
  }
  end(keep);
  return std::move(*result);
}

}  // namespace ptb::pg
