// The pure part of backup_import / backup_restore (docs/import.md): the
// import options, snapshot values turned into COPY text format lines, the
// set-based SQL run per table (merge, insert_only, replace), the checks
// made before and after the changes, and the report. src/pg reads the
// catalog (pg/catalog_reader) and the document (spilled_rows), and
// run_import (import.cpp) runs what is built here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/names.hpp"
#include "core/options.hpp"
#include "core/schema_drift.hpp"
#include "core/value_encoding.hpp"

namespace ptb::core {

// --- Modes and options -----------------------------------------------------

enum class ImportMode { Merge, Replace, InsertOnly };

std::string_view to_string(ImportMode mode);  // merge | replace | insert_only
// Throws Error(22023) naming the valid modes.
ImportMode import_mode_from_string(std::string_view text);

// The options of backup_import / backup_restore besides the snapshot
// options (tenancy, schemas, ...), which apply_options_json reads.
struct ImportOptions {
  bool dry_run = false;
  bool fire_triggers = false;
  bool ignore_unknown_columns = false;
  // Per table (as written in SQL), the columns of a unique key that matches
  // the snapshot's rows with the table's rows instead of the primary key.
  std::map<QualifiedName, std::vector<std::string>> key_columns;
  // opts.tenant: the tenant the caller expects the snapshot to be of (a
  // string or an integer; null for a snapshot of the whole database). Unset
  // when not given.
  std::optional<std::optional<std::string>> expected_tenant;
  // Across a migration (docs/import.md): the snapshot's table and column
  // names mapped to this database's, and values for the columns it lacks.
  RenameMap rename;
  ColumnDefaults column_defaults;
};

// Refuses (22023, before any change) a snapshot of `actual` (nullopt: the
// whole database) when `expected` is set and names another tenant.
// `backup` names the snapshot in the message ("backup 12", "the snapshot").
void check_expected_tenant(const std::optional<std::optional<std::string>>& expected,
                           const std::optional<std::string>& actual, const std::string& backup);

inline const std::vector<std::string> kImportOptionKeys = {
    "column_defaults", "dry_run", "fire_triggers", "ignore_unknown_columns", "key_columns", "rename",
    "target_tenant", "tenant"};

// The opts of an import or restore call, read once at the call and handed
// down: the import keys typed, and the document itself, whose snapshot
// options (tables, tenancy, ...) are applied on top of the snapshot's.
struct ImportCallOptions {
  ImportOptions import;
  nlohmann::json opts = nlohmann::json::object();  // as given; {} when none
  // Whether the caller chose tables itself (tables, exclude_tables,
  // audit_tables, include_audit_logs), and then those lists alone (without
  // the defaults; meaningless otherwise).
  bool selects_tables = false;
  SnapshotOptions caller_tables;
};

// Parses opts (JSON text) once and checks every key and value, as
// apply_options_json would on `settings`: Error(22023) on the first fault;
// target_tenant is Error(0A000) (a later feature).
ImportCallOptions read_import_call_options(std::string_view json_text, const SnapshotOptions& settings);

// metadata.options of a snapshot as opts for apply_options_json: keys this
// release does not know are dropped (a later release of format 1 may add
// some), and the names recorded as the catalog spells them (tenant_column,
// soft_delete_column, schemas) are quoted so they read back unchanged
// ("Tenant A", "TenantId"); table names are recorded as written in SQL,
// and those an earlier snapshot wrote unquoted (schema.name as the catalog
// spells them) are quoted where they need it.
nlohmann::json recorded_options_as_opts(const nlohmann::json& recorded);

// The options an import is planned with (docs/import.md, "Options"): the
// server's settings (`settings`), the snapshot's recorded options
// (metadata.options, `recorded`), then the caller's opts (JSON text, may
// hold the import keys too; empty: none). The recorded options only narrow
// what the import touches (tables, exclude_tables added to the settings',
// include_deleted, ...); they never decide whose rows are whose: a
// recorded tenancy (and in column tenancy tenant_column, schemas,
// owning_fks) that differs from the value the settings and the caller give
// is Error(22023) naming both, unless the caller's opts name that option.
SnapshotOptions import_snapshot_options(SnapshotOptions settings, const nlohmann::json& recorded,
                                        const nlohmann::json& caller_opts);

// The import keys as recorded in backup_logs.options.
nlohmann::json import_options_json(ImportMode mode, const ImportOptions& options);

// --- COPY text format ------------------------------------------------------

// Appends text escaped for COPY's text format: backslash, tab, newline and
// carriage return become \\, \t, \n, \r. Nothing else needs escaping (the
// data is in the server encoding, and "\." can no longer start a line).
void append_copy_escaped(std::string& line, std::string_view text);

// Appends one field: \N for NULL, else the text the column's type input
// function reads, decoded by the column's snapshot encoding (docs/format.md):
// bytea from base64 to \x hex; jsonb strings as JSON strings, other jsonb
// values as their JSON text; everything else as it is. Throws Error(22P02)
// for a value the encoding cannot hold (bytea that is not base64 text).
void append_copy_field(std::string& line, const CopyCell& cell, ValueEncoding encoding);

// --- SQL -------------------------------------------------------------------

// A string literal safe whatever standard_conforming_strings is: E'...'.
std::string quote_literal(std::string_view text);

// A table being imported: the target, the staging table its snapshot rows
// were copied into, and how rows are matched.
struct StagedTable {
  std::string display;              // public.orders (messages, report)
  std::string target;               // "public"."orders"
  bool partitioned = false;         // read and changed without ONLY
  std::string stage;                // pg_temp."ptb_stage_3"
  std::vector<std::string> columns; // loaded columns, in the stage's order
  // The key rows are matched on (primary key or key_columns); empty: none.
  std::vector<std::string> key;
  std::vector<std::string> key_operators;  // per key column: OPERATOR(schema.=)
  // Per key column, as the table's unique index has it: schema.opclass,
  // and "schema"."collation" or "" for a type without one.
  std::vector<std::string> key_opclasses;
  std::vector<std::string> key_collations;
  // Loaded columns never changed by an UPDATE (identity GENERATED ALWAYS).
  std::vector<std::string> fixed_columns;
  // Columns the snapshot lacks, given a value for the rows an insert adds
  // (opts.column_defaults): column and SQL expression.
  std::vector<std::pair<std::string, std::string>> inserted_values;

  // A Citus table (distributed, reference or Citus-local): Citus runs no
  // statement that joins it with a local (staging) table through a
  // correlated subquery, so the SQL reaches each side through an
  // uncorrelated subquery that Citus plans on its own (docs/citus.md).
  bool citus = false;
  // For a Citus table: the condition, on the alias given, that keeps a
  // statement on the tenant's rows (and so on the tenant's shard group);
  // empty: the whole table (reference tables, one tenant schema).
  std::function<std::string(std::string_view alias)> citus_scope;

  bool has_key() const { return !key.empty(); }
  // Loaded columns an update sets: not key, not fixed.
  std::vector<std::string> update_columns() const;
  // Per key column, its place among the loaded columns (columns.size()
  // when it is not loaded).
  std::vector<size_t> key_places() const;
  // "ONLY "s"."t"" (or without ONLY for a partitioned table).
  std::string only_target() const;
  // The table's rows in a FROM clause of a statement driven by the stage:
  // only_target(), or for a Citus table the tenant's rows as a subquery.
  std::string target_rows() const;
  // The stage in a FROM clause of a statement on the table: the stage, or
  // for a Citus table the stage as a subquery.
  std::string stage_rows() const;
  // " AND <scope on alias>" for a Citus table with a scope, else "".
  std::string and_scope(std::string_view alias) const;
};

// "a"."k1" OPERATOR(...) b."k1" AND ... for the table's key.
std::string key_match_sql(const StagedTable& t, std::string_view left, std::string_view right);

// A text expression describing a row by some of its columns, as the server
// does in its key messages: (id, line_no)=(100, 2). NULL prints as null.
std::string describe_row_sql(const std::vector<std::string>& columns, std::string_view alias);

// Step 1 of merge and replace: the rows whose key is in the stage and whose
// values differ are updated (record image comparison, so every type works,
// json and point included, and a value counts as equal only when it is
// stored exactly the same). Empty when the table has no key or nothing to
// set.
std::string update_existing_sql(const StagedTable& t);
// How many rows update_existing_sql would change: one row, one count.
// Empty when it is.
std::string count_differing_sql(const StagedTable& t);

// The last step of every mode: the stage's rows whose key the table does
// not have are inserted; without a key (replace only), every staged row.
// Rows are filtered before they are inserted, not by ON CONFLICT, so a row
// that only needs an update is never built as an insert (its NOT NULL and
// CHECK constraints would be checked with the columns the snapshot lacks),
// and a row another session inserts meanwhile is a unique violation, not a
// row silently skipped.
std::string insert_missing_sql(const StagedTable& t);
// SELECT count(*) of the staged rows insert_missing_sql would insert.
std::string count_missing_sql(const StagedTable& t);

// A boolean expression for a row (`alias`) of the table that a replace
// removes: the tenant's row (`membership`, an expression on `alias`) whose
// key is not in the stage; without a key, every tenant row. Rows whose key
// (each spared table's own) is in one of the `spared` stages stay: keys
// of rows the snapshot's soft-delete filter left out, reference rows.
std::string doomed_sql(const StagedTable& t, std::string_view alias, const std::string& membership,
                       const std::vector<const StagedTable*>& spared = {});

// One statement removing, in every listed table, the rows `doomed[i]`
// (on alias ptb_t) selects; returns one row with one count per table.
// All deletes run in the same statement, so foreign keys among the removed
// rows (cycles, self references) are checked once at its end. The tables
// come in load order (referenced first) and are deleted from in reverse:
// Citus runs each delete of the statement as a statement of its own.
std::string delete_doomed_sql(const std::vector<const StagedTable*>& tables,
                              const std::vector<std::string>& doomed);

// An index on the stage's key, with the table's operator classes and
// collations, so a statement that looks rows up in the stage (a replace's
// rows to remove) stays cheap whichever join the planner picks: with
// statistics taken while the tenant had few rows, it nests a loop over the
// stage for each of the tenant's rows. Empty without a key. `unique`: the
// index also proves that no key is in the stage twice (NULLs count as
// equal, as duplicate_keys_sql groups them), so that check is skipped.
std::string stage_key_index_sql(const StagedTable& t, bool unique);

// SELECT count(*) of the staged rows with NULL in `column` (a column made
// NOT NULL since the snapshot).
std::string count_staged_nulls_sql(const StagedTable& t, const std::string& column);
// SELECT count(*) of the table's rows a replace would remove (doomed_sql
// with `membership` on alias ptb_t).
std::string count_doomed_sql(const StagedTable& t, const std::string& membership);
// One row when the stage holds the tenant's own row: `key_column` (of type
// `type`, as the catalog spells it) equal to $1. Empty when the column is
// not loaded (the snapshot cannot bring that row).
std::string staged_tenant_row_sql(const StagedTable& t, const std::string& key_column, const std::string& type);

// Rows of the stage that are in it twice for the same key. One row:
// description of the first such key.
std::string duplicate_keys_sql(const StagedTable& t);

// Master or reference rows of the stage that the table does not have
// (matched on the key). One row: count, description of the first.
std::string missing_rows_sql(const StagedTable& t);

// Staged rows whose key is taken by a row of the table that `owned` (an
// expression on alias t0) says is not the tenant's. One row at most: the
// staged row's description.
std::string foreign_owner_sql(const StagedTable& t, const std::string& owned);

// foreign_owner_sql and, in the same outer join, how many staged rows have
// a key the table does not have yet (the rows an insert would add). One
// row: the description of the first staged row whose key another tenant
// holds (NULL: none), and that count. Only for an `owned` that reads the
// row alone (TenancyPlan::membership_reads_only_the_row): a subquery there
// would run once per staged row. Empty for a table without a key.
std::string key_owners_sql(const StagedTable& t, const std::string& owned);

// After the changes: staged rows that are not the tenant's in the table
// (matched by key; without a key, `owned` is evaluated on the stage row as
// t0). One row at most: the description.
// The first staged row whose own values (tenant column, owning foreign key)
// do not make it the tenant's: for rows an insert_only import skips.
std::string stray_staged_sql(const StagedTable& t, const std::string& owned);
std::string not_owned_sql(const StagedTable& t, const std::string& owned);

// The table's rows that this import's statements wrote, as a relation for
// a FROM clause: their xmin is one of the transaction ids in parameter
// $xids_param (text of an xid[]). After a merge without triggers, the
// rows it did not write are as the checks before the changes found them.
std::string written_rows_sql(const StagedTable& t, int xids_param);
// not_owned_sql over the written rows alone: the first row the import
// wrote that `owned` (on alias t0) says is not the tenant's.
std::string written_not_owned_sql(const StagedTable& t, const std::string& owned, int xids_param);

// A foreign key, as far as the checks need it.
struct ForeignKeyCheck {
  std::string name;
  // The referencing table.
  std::string from_display;
  std::string from_table;  // "s"."t"
  bool from_partitioned = false;
  std::vector<std::string> from_columns;
  std::vector<std::string> from_key;  // columns describing a referencing row
  // The referenced table.
  std::string to_display;
  std::string to_table;
  bool to_partitioned = false;
  std::vector<std::string> to_columns;
  // Per column pair: OPERATOR(schema.op) comparing to_column op from_column.
  std::vector<std::string> operators;
  // The referenced rows in a FROM clause of a statement driven by a stage:
  // empty for the table itself, a subquery for a Citus table
  // (StagedTable::target_rows).
  std::string to_rows;
};

// Before a replace removes rows: a row of the referencing table that stays
// (not `from_doomed`, an expression on alias ptb_x, "false" when the table
// is not replaced) and references a row of the referenced table that goes
// (`to_doomed` on alias ptb_d). One row at most: the referencing row's and
// the referenced row's descriptions.
std::string blocked_delete_sql(const ForeignKeyCheck& fk, const std::string& to_doomed,
                               const std::vector<std::string>& to_key,
                               const std::string& from_doomed);

// After the changes, when foreign keys were not checked as the rows were
// written (session_replication_role = replica): staged rows of the
// referencing table (its stage `stage`, with `key` describing a row) that
// reference a row the referenced table lacks. One row at most: the staged
// row's description and the missing key's. Empty when the stage lacks a
// referencing column.
std::string dangling_reference_sql(const ForeignKeyCheck& fk, const std::string& stage,
                                   const std::vector<std::string>& stage_columns,
                                   const std::vector<std::string>& key);

// --- Loading straight into the table -------------------------------------

// What decides whether a data section may skip its staging table and be
// copied straight into the table (the path COPY FROM itself takes): only
// when every check a stage serves is then done by the table's own unique
// key or by one count afterwards. Facts about one table of one import.
struct DirectLoadFacts {
  bool has_key = false;             // a unique key the rows are matched on
  bool plain_table = false;         // an ordinary local table (not partitioned, foreign, Citus)
  bool tenant_has_rows = true;      // any row of the table is the tenant's (soft-deleted too)
  bool restoring_to_moment = false; // changes are replayed into the stages
  bool migrates = false;            // column_defaults, columns now NOT NULL or needing a value
  bool brings_back_tenant = false;  // the tenant's own row, when the tenant does not exist
  bool may_insert = false;          // INSERT on the table, and no row security for the caller
};

// Whether the section loads straight into the table. Then nothing of the
// tenant is there to update or delete, a key taken by any row (another
// tenant's, or the snapshot's own twice) is the table's unique violation,
// and a count over loaded_rows_sql proves every loaded row is the tenant's; when
// either fails, the import stages the section and checks it as before, so
// the error is the same (docs/import.md, "Tables the tenant has no rows in: loaded directly").
bool loads_directly(const DirectLoadFacts& facts);

// The rows a direct load wrote, in a FROM clause where a check reads a
// stage (dangling_reference_sql): found through `membership` (on alias
// ptb_l; empty: the whole table is the tenant's), so an index on the
// tenant's rows serves. The direct load counts them to prove every row
// it wrote is the tenant's (count_loaded_rows_sql).
std::string loaded_rows_sql(const StagedTable& t, const std::string& membership, int xid_param);
// SELECT count(*) over loaded_rows_sql.
std::string count_loaded_rows_sql(const StagedTable& t, const std::string& membership, int xid_param);

// insert_only: removes from the stage the rows that were skipped because
// the table has a different row with their key, so the checks after the
// load look only at rows now in the table.
std::string drop_skipped_sql(const StagedTable& t);

// --- Steps per mode --------------------------------------------------------

// What an import does in its mode (docs/import.md, "Modes"), decided once
// and followed by the steps (src/pg/import_changes.cpp, import_verify.cpp;
// sequences: import.cpp).
struct ImportSteps {
  bool updates = false;  // UPDATE the tenant's rows that differ (merge, replace)
  bool deletes = false;  // DELETE the tenant's rows the snapshot lacks (replace)
  // A table's INSERT is skipped when the checks before the changes counted
  // no new key: nothing since can have added one (insert_only changed
  // nothing; a merge without triggers never changes a key, and no trigger
  // or rule ran).
  bool inserts_only_counted_new_keys = false;
  // insert_only: the rows it skipped are checked to be the tenant's as in
  // the other modes, then leave the stages before the checks after.
  bool checks_then_drops_skipped = false;
  // No trigger ran, so the server checked no foreign key as rows were
  // written: the checks after the changes do.
  bool checks_foreign_keys = false;
  // A merge without triggers changed no key, no referenced column and
  // deleted nothing: the checks after read only the rows it wrote (where
  // the rows a row depends on were not changed under it).
  bool checks_only_written_rows = false;
  bool advances_sequences = false;  // not in a dry run: nextval is not rolled back
};

ImportSteps import_steps(ImportMode mode, bool fire_triggers, bool dry_run);

// --- Report ----------------------------------------------------------------

struct TableOutcome {
  std::string table;  // display name
  int64_t rows = 0;   // rows in the snapshot's section
  int64_t inserted = 0;
  int64_t updated = 0;
  int64_t deleted = 0;
  std::vector<std::string> key;  // the columns rows were matched on; empty: none
  std::string key_source;        // "primary key", "key_columns", "unique index \"i\"", ...
  // replace: rows of the tenant the snapshot lacks that were left alone
  // (docs/import.md, "Soft-deleted rows"): recorded by the snapshot as left
  // out by its soft-delete filter (or as reference rows); or, from a
  // snapshot that does not record that, possibly left out by it.
  int64_t kept_soft_deleted = 0;
  int64_t kept_unrecorded = 0;
  // The rows were copied straight into the table (loads_directly), not
  // through a staging table.
  bool loaded_directly = false;
  // A merge's rows the table had as they were, left out of the stage
  // (core/unchanged_rows.hpp): counted as unchanged.
  int64_t left_out_unchanged = 0;
  // Rows of the snapshot already in the table as they are (insert_only:
  // already there, whatever their values).
  int64_t unchanged() const;
};

// Whether the import's inserts and updates fire triggers, and why.
struct TriggerDecision {
  bool fired = false;
  std::string reason;
};

struct ImportReport {
  ImportMode mode = ImportMode::Merge;
  bool dry_run = false;
  TriggerDecision triggers;
  std::optional<std::string> tenant;
  std::vector<TableOutcome> tables;
  std::vector<SchemaDifference> schema_differences;  // those the import got through
  double duration_ms = 0;
};

// {"mode", "dry_run", "tenant", "tables": [{"table", "inserted", "updated",
//  "unchanged", "deleted"}], "totals": {...}, "triggers": {"fired", "reason"},
//  "schema_changes": [...] (core/schema_drift.hpp), "duration_ms"}; a replace adds "kept": {"soft_deleted", "unrecorded",
//  "tables": [{"table", "soft_deleted", "unrecorded"}]} (tables with any).
nlohmann::json report_json(const ImportReport& report);
// One line for backup_logs.notes: "replace: 2 inserted, 1 updated, 9 unchanged, 3 deleted",
// and when a replace kept rows: ", 1 kept soft-deleted, 2 kept unrecorded".
std::string report_summary(const ImportReport& report);

}  // namespace ptb::core
