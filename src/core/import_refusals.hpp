// The errors an import raises when its checks find a row it cannot take
// (docs/import.md, "Errors"). src/pg runs the checks' SQL
// (core/import_plan) and hands the rows it found here; every refusal
// comes before any change is kept, so each detail says nothing changed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "core/schema_drift.hpp"

namespace ptb::core {

// tenant "x", or the whole database (tenant nullopt).
std::string quoted_tenant(const std::optional<std::string>& tenant);

// 22023: row `row` of `table` in the snapshot would not be `tenant`'s (its
// tenant column or owning foreign key points elsewhere).
Error row_not_the_tenants(const std::string& table, const std::string& row, const std::optional<std::string>& tenant);

// 23505: the snapshot has `key` twice in `table`; `where` names the section.
Error key_repeated_in_snapshot(const std::string& table, const std::string& key, const std::string& where);

// 23505: the key of the snapshot's row `row` is taken here by a row that is
// not `tenant`'s.
Error key_of_another_tenant(const std::string& table, const std::string& row, const std::optional<std::string>& tenant);

// 42704: the tenant's row is neither here nor in the snapshot. With a
// tenant table (`tenant_table` and its `key_column`), says so of that
// table; otherwise (no tenant table: `tenant_column`) the snapshot has no
// rows at all.
Error tenant_missing_in_tenant_table(const std::string& tenant, const std::string& tenant_table,
                                     const std::string& key_column);
Error tenant_missing_without_rows(const std::string& tenant, const std::string& tenant_column);

// 23503: `count` rows of `table` that the tenant's rows reference are not
// here; `first` is the first. `reference`: rows of a reference section (any
// table the tenant's rows point at), else master rows.
Error referenced_rows_missing(const std::string& table, const std::string& first, int64_t count, bool reference);

// 0A000: the import would change `differ` rows of a Citus reference table
// and remove `doomed`.
Error citus_reference_would_change(const std::string& table, int64_t differ, int64_t doomed);

// 23503: a replace would remove row `to_row` of `to_table`, but row
// `from_row` of `from_table`, which it keeps, references it through
// foreign key `foreign_key`.
Error delete_blocked(const std::string& to_table, const std::string& to_row, const std::optional<std::string>& tenant,
                     const std::string& from_table, const std::string& from_row, const std::string& foreign_key);

// 23503: the snapshot's row `from_row` of `from_table` references `to_row`
// of `to_table` through `foreign_key`, and no such row is here.
Error dangling_reference(const std::string& from_table, const std::string& from_row, const std::string& to_table,
                         const std::string& to_row, const std::string& foreign_key);

// Across a migration: a column added NOT NULL without a default, when
// `inserted` rows the import inserts need a value for it (0: none is
// inserted, which the import reports and gets through).
SchemaDifference column_added_for_inserts(const std::string& table, const std::string& column, int64_t inserted);
// A column made NOT NULL, and `nulls` rows of the snapshot (more than 0)
// have NULL there.
SchemaDifference now_not_null_with_nulls(const std::string& table, const std::string& column, int64_t nulls);

}  // namespace ptb::core
