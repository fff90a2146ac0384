#include "pg/value_cast.hpp"

#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/spi.hpp"

#include "access/xact.h"
#include "utils/resowner.h"

namespace ptb::pg {

CastOutcome cast_text(const std::optional<std::string>& text, const std::string& type) {
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
  CastOutcome outcome;
  try {
    const auto rows =
        Spi::query("SELECT CAST(CAST($1 AS pg_catalog.text) AS " + type + ")::pg_catalog.text", {text});
    if (!rows.empty()) outcome.value = rows[0][0];
  } catch (const ServerError& e) {
    outcome.sqlstate = e.sqlstate();
    outcome.reason = e.what();
  } catch (...) {
    end(false);
    throw;
  }
  end(outcome.ok());
  if (!outcome.ok() && outcome.sqlstate.rfind("22", 0) != 0) throw core::Error(outcome.sqlstate, outcome.reason);
  return outcome;
}

}  // namespace ptb::pg
