// Step 8 of an import: the sequences of the columns it loaded (serial and
// identity) moved up past the values loaded, never down.
#include <algorithm>

#include "pg/import_job.hpp"

namespace ptb::pg {

using core::quote_ident;

// Sequences owned by loaded columns (serial and identity) move up to the
// highest value loaded, never down. (After a direct load, or a merge that
// left the rows the table had as they were out of its stage, the highest
// value in the table: no lower than the highest loaded, and read from its
// index when the column has one.)
void advance_sequences(const LoadTable& t) {
  for (const OwnedSequence& owned : owned_sequences(t.oid)) {
    const std::string& column = owned.column;
    if (std::find(t.staged.columns.begin(), t.staged.columns.end(), column) == t.staged.columns.end())
      continue;
    const std::string& sequence = owned.sequence;
    const bool ascending = std::stoll(owned.increment) > 0;
    auto loaded = run("SELECT " + std::string(ascending ? "pg_catalog.max" : "pg_catalog.min") + "(ptb_s." +
                      quote_ident(column) + ")::pg_catalog.int8::pg_catalog.text FROM " +
                      (t.direct || t.left_out > 0 ? t.staged.only_target() : t.staged.stage) + " ptb_s");
    if (loaded.rows.empty() || !loaded.rows[0][0]) continue;
    const std::string extreme = *loaded.rows[0][0];
    // The value nextval would hand out next: from the last one it gave, or,
    // when it was never called (or reset), by asking it for one.
    auto last = run("SELECT pg_catalog.pg_sequence_last_value($1::pg_catalog.regclass)"
                    "       OPERATOR(pg_catalog.+) $2::pg_catalog.int8",
                    {sequence, owned.increment});
    std::string next;
    if (!last.rows.empty() && last.rows[0][0])
      next = *last.rows[0][0];
    else
      next = *run("SELECT pg_catalog.nextval($1::pg_catalog.regclass)::pg_catalog.text", {sequence})
                  .rows.at(0).at(0);
    run(std::string("SELECT pg_catalog.setval($1::pg_catalog.regclass, $2::pg_catalog.int8, true) WHERE ") +
            (ascending ? "$2::pg_catalog.int8 OPERATOR(pg_catalog.>=) $3::pg_catalog.int8"
                       : "$2::pg_catalog.int8 OPERATOR(pg_catalog.<=) $3::pg_catalog.int8"),
        {sequence, extreme, next});
  }
}

}  // namespace ptb::pg
