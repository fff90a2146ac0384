#include "pg/value_cast.hpp"

#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/spi.hpp"
#include "pg/subtransaction.hpp"

namespace ptb::pg {

CastOutcome cast_text(const std::optional<std::string>& text, const std::string& type) {
  CastOutcome outcome;
  try {
    outcome.value = in_subtransaction(true, [&]() -> std::optional<std::string> {
      const auto rows =
          Spi::query("SELECT CAST(CAST($1 AS pg_catalog.text) AS " + type + ")::pg_catalog.text", {text});
      return rows.empty() ? std::nullopt : rows[0][0];
    });
  } catch (const ServerError& e) {
    // Not a data exception (a cancel, out of memory): that error as it came.
    if (std::string(e.sqlstate()).rfind("22", 0) != 0) throw;
    outcome.sqlstate = e.sqlstate();
    outcome.reason = e.what();
  }
  return outcome;
}

}  // namespace ptb::pg
