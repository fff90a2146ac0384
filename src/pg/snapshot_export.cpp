#include "pg/snapshot_export.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"
#include "core/value_encoding.hpp"
#include "pg/citus.hpp"
#include "pg/json_row_stream.hpp"
#include "pg/owner_rights.hpp"
#include "pg/progress.hpp"
#include "pg/spi.hpp"
#include "pg/session.hpp"
#include "pg/setting_levels.hpp"

namespace ptb::pg {

namespace {

using core::ValueEncoding;


// --- The document's sections.

std::string select_sql(const core::TenancyPlan& plan, size_t table,
                       const std::vector<const core::Column*>& columns,
                       const std::string& where) {
  std::string list;
  for (const auto* c : columns) {
    if (!list.empty()) list += ", ";
    list += "t0." + core::quote_ident(c->name);
  }
  // A table with no stored column (all dropped or generated) still has
  // rows: they are empty arrays, selected with an empty target list.
  return "SELECT " + list + " FROM " + plan.from_clause(table, "t0") + " WHERE " + where;
}

// The columns a snapshot carries for a table: all but generated ones.
std::vector<const core::Column*> data_columns(const core::Table& t) {
  std::vector<const core::Column*> out;
  for (const auto& c : t.columns)
    if (!c.generated) out.push_back(&c);
  return out;
}

void write_table_name(core::JsonWriter& w, const core::Table& t) {
  w.key("schema");
  w.string(t.schema);
  w.key("name");
  w.string(t.name);
}

void write_name_list(core::JsonWriter& w, const std::vector<std::string>& names) {
  w.begin_array();
  for (const auto& n : names) w.string(n);
  w.end_array();
}

// A section of `role` with the rows of `table` that `where` selects: their
// values in `only` (column names), or in every column the snapshot carries.
int64_t write_rows_section(core::JsonWriter& w, const core::TenancyPlan& plan, size_t table,
                           const std::string& role, const std::string& where,
                           const std::vector<TextValue>& params,
                           const std::vector<std::string>& only = {}) {
  const core::Table& t = plan.catalog().tables[table];
  auto columns = data_columns(t);
  if (!only.empty())
    columns.erase(std::remove_if(columns.begin(), columns.end(),
                                 [&](const core::Column* c) {
                                   return std::find(only.begin(), only.end(), c->name) == only.end();
                                 }),
                  columns.end());
  std::vector<core::ValueEncoding> encodings;
  std::vector<std::string> names;
  for (const auto* c : columns) {
    encodings.push_back(c->encoding);
    names.push_back(c->name);
  }
  w.begin_object();
  write_table_name(w, t);
  w.key("role");
  w.string(role);
  w.key("columns");
  write_name_list(w, names);
  w.key("rows");
  w.begin_array();
  int64_t rows = stream_rows_as_json(select_sql(plan, table, columns, where), params, encodings, w);
  w.end_array();
  w.end_object();
  return rows;
}

// What the snapshot does not hold: the tables left out (by an option, or
// global: nothing of the tenant), at most kMaxLeftOut of them (metadata has
// a size limit; left_out_count has them all), and the columns that may hold
// large object ids.
constexpr size_t kMaxLeftOut = 1000;

void write_coverage(core::JsonWriter& w, const core::TenancyPlan& plan) {
  w.key("coverage");
  w.begin_object();
  w.key("left_out");
  w.begin_array();
  int64_t left_out = 0;
  for (const auto& c : plan.coverage()) {
    if (!c.table || (c.coverage != core::Coverage::Excluded && c.coverage != core::Coverage::Global))
      continue;
    if (static_cast<size_t>(left_out++) >= kMaxLeftOut) continue;
    w.begin_object();
    write_table_name(w, plan.catalog().tables[*c.table]);
    w.key("role");
    w.string(core::to_string(c.coverage));
    w.key("reason");
    w.string(c.reason);
    w.end_object();
  }
  w.end_array();
  w.key("left_out_count");
  w.integer(left_out);
  w.key("large_object_columns");
  w.begin_array();
  for (const auto& lo : plan.large_object_columns()) {
    w.begin_object();
    write_table_name(w, plan.catalog().tables[lo.table]);
    w.key("column");
    w.string(lo.column);
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

void write_metadata(core::JsonWriter& w, const TenantSnapshotPlan& snapshot, ExportStatistics& stats) {
  auto info = Spi::query(
      "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
      "current_database(), current_setting('server_version'), current_setting('server_version_num'), "
      "(SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pg_tenant_backup'), "
      "current_user, "
      // The transactions the snapshot saw (docs/format.md, "transactions"):
      // taken in the same statement snapshot every table is read in.
      "pg_catalog.pg_snapshot_xmin(s.s)::pg_catalog.text, pg_catalog.pg_snapshot_xmax(s.s)::pg_catalog.text, "
      "(SELECT pg_catalog.string_agg(x::pg_catalog.text, ',' ORDER BY x) "
      "   FROM pg_catalog.pg_snapshot_xip(s.s) x) "
      "FROM (SELECT pg_catalog.pg_current_snapshot() AS s) s");
  const auto& row = info.at(0);
  const auto& options = snapshot.plan.options();
  w.key("metadata");
  w.begin_object();
  w.key("exported_at");
  w.string(*row[0]);
  w.key("tenant");
  w.begin_object();
  w.key("id");
  snapshot.tenant ? w.string(*snapshot.tenant) : w.null();
  w.key("name");
  snapshot.tenant_name ? w.string(*snapshot.tenant_name) : w.null();
  w.end_object();
  w.key("tenancy");
  w.string(core::to_string(options.tenancy));
  w.key("database");
  w.string(*row[1]);
  // Which database of which cluster the snapshot was taken in: a name can
  // be reused, these cannot.
  w.key("database_oid");
  w.integer(static_cast<int64_t>(database_oid()));
  w.key("system_identifier");
  w.string(std::to_string(system_identifier()));
  w.key("server_version");
  w.string(*row[2]);
  w.key("server_version_num");
  w.integer(std::stoll(*row[3]));
  w.key("extension_version");
  row[4] ? w.string(*row[4]) : w.null();
  w.key("options");
  w.raw(core::options_to_json(options));
  w.key("exported_by");
  w.string(*row[5]);
  // A transaction with id x is in the snapshot when x < xmin, or when
  // x < xmax and x is not in xip (ids as pg_current_snapshot gives them:
  // 64-bit, with epoch, the ids change capture records).
  w.key("transactions");
  w.begin_object();
  w.key("xmin");
  w.string(*row[6]);
  stats.snapshot_xmin = *row[6];
  w.key("xmax");
  w.string(*row[7]);
  w.key("xip");
  w.begin_array();
  if (row[8]) {
    const std::string& list = *row[8];
    size_t start = 0;
    while (start < list.size()) {
      size_t comma = list.find(',', start);
      if (comma == std::string::npos) comma = list.size();
      w.string(list.substr(start, comma - start));
      start = comma + 1;
    }
  }
  w.end_array();
  w.end_object();
  write_coverage(w, snapshot.plan);
  w.end_object();
}

// Enum and domain types the snapshot's columns use, directly, as array
// elements or through other domains.
constexpr const char* kUsedTypesSql = R"SQL(
WITH RECURSIVE used(oid) AS (
    SELECT a.atttypid FROM pg_catalog.pg_attribute a
     WHERE a.attrelid IN (
             SELECT CAST(pg_catalog.quote_ident(s OPERATOR(pg_catalog.->>) 0) OPERATOR(pg_catalog.||) '.'
                         OPERATOR(pg_catalog.||) pg_catalog.quote_ident(s OPERATOR(pg_catalog.->>) 1)
                         AS pg_catalog.regclass)
               FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb) s)
       AND a.attnum > 0 AND NOT a.attisdropped
  UNION
    SELECT x.oid
      FROM used u
      JOIN pg_catalog.pg_type t ON t.oid = u.oid
      CROSS JOIN LATERAL (
        SELECT t.typbasetype WHERE t.typtype = 'd'
        UNION ALL SELECT t.typelem WHERE t.typelem <> 0 AND t.typlen = -1
        UNION ALL SELECT r.rngsubtype FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid
        UNION ALL SELECT r.rngtypid FROM pg_catalog.pg_range r WHERE r.rngmultitypid = t.oid
        UNION ALL SELECT a.atttypid FROM pg_catalog.pg_attribute a
                   WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0
                     AND NOT a.attisdropped) AS x(oid)
)
SELECT t.typtype, pg_catalog.format_type(t.oid, NULL),
       CASE t.typtype
         WHEN 'e' THEN (SELECT pg_catalog.jsonb_agg(e.enumlabel ORDER BY e.enumsortorder)
                          FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid)
         ELSE pg_catalog.jsonb_build_object(
                'base_type', pg_catalog.format_type(t.typbasetype, t.typtypmod),
                'not_null', t.typnotnull,
                'default', t.typdefault,
                'checks', COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.pg_get_constraintdef(c.oid) ORDER BY c.conname)
                                      FROM pg_catalog.pg_constraint c
                                     WHERE c.contypid = t.oid AND c.contype = 'c'), '[]'::pg_catalog.jsonb))
       END
  FROM pg_catalog.pg_type t
 WHERE t.oid IN (SELECT oid FROM used) AND t.typtype IN ('e', 'd')
 ORDER BY 2)SQL";

void write_schema(core::JsonWriter& w, const core::TenancyPlan& plan) {
  const auto& cat = plan.catalog();
  w.key("schema");
  w.begin_object();
  w.key("tables");
  w.begin_array();
  std::string table_list = "[";
  for (const auto& p : plan.tables()) {
    const core::Table& t = cat.tables[p.table];
    table_list += (table_list.size() > 1 ? "," : "") + std::string("[");
    std::string item;
    core::append_json_string(item, t.schema);
    item += ",";
    core::append_json_string(item, t.name);
    table_list += item + "]";
    w.begin_object();
    write_table_name(w, t);
    w.key("role");
    w.string(core::to_string(p.role));
    w.key("columns");
    w.begin_array();
    for (const auto& c : t.columns) {
      w.begin_object();
      w.key("name");
      w.string(c.name);
      w.key("type");
      w.string(c.type);
      w.key("not_null");
      w.boolean(c.not_null);
      w.key("encoding");
      w.string(core::to_string(c.encoding));
      if (c.generated) {
        w.key("generated");
        w.boolean(true);
      }
      w.end_object();
    }
    w.end_array();
    w.key("primary_key");
    write_name_list(w, t.primary_key);
    if (p.role == core::TableRole::Child) {
      w.key("owning_chain");
      w.begin_array();
      for (size_t f : p.owning_chain) {
        const core::ForeignKey& fk = cat.foreign_keys[f];
        w.begin_object();
        w.key("constraint");
        w.string(fk.name);
        w.key("columns");
        write_name_list(w, fk.from_columns);
        w.key("references");
        w.begin_object();
        write_table_name(w, cat.tables[fk.to]);
        w.key("columns");
        write_name_list(w, fk.to_columns);
        w.end_object();
        w.end_object();
      }
      w.end_array();
    }
    w.end_object();
  }
  w.end_array();
  table_list += "]";

  std::vector<TextRow> types;
  if (!plan.tables().empty()) {
    // Its estimated cost is past jit_above_cost: JIT compiling it took 80
    // to 100 ms a call, whatever the tenant's size, against 15 ms without
    // (docs/performance.md, "Where the time goes").
    const int level = set_setting("jit", "off");
    types = Spi::query(kUsedTypesSql, {table_list});
    undo_settings(level);
  }
  w.key("enums");
  w.begin_array();
  for (const auto& row : types) {
    if (*row[0] != "e") continue;
    w.begin_object();
    w.key("name");
    w.string(*row[1]);
    w.key("labels");
    w.raw(*row[2]);
    w.end_object();
  }
  w.end_array();
  w.key("domains");
  w.begin_array();
  for (const auto& row : types) {
    if (*row[0] != "d") continue;
    w.begin_object();
    w.key("name");
    w.string(*row[1]);
    w.key("definition");
    w.raw(*row[2]);
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

void write_counts(core::JsonWriter& w, const std::vector<TableRowCount>& counts) {
  w.begin_array();
  for (const auto& c : counts) {
    w.begin_object();
    w.key("table");
    w.string(c.table_name);
    w.key("role");
    w.string(c.role);
    w.key("rows");
    w.integer(c.rows);
    w.end_object();
  }
  w.end_array();
}

// The keys of the rows the soft-delete filter leaves out of `data`
// (docs/format.md, filtered_rows): for each table of data whose rows the
// filter can leave out (it has the soft-delete column, or a table up its
// owning chain has), the rows that are the tenant's when soft-deleted rows
// count and not otherwise. With them a replace knows which rows it did not
// see because of the filter, and leaves them alone (docs/import.md).
// Written only with include_deleted false and a soft-delete column.
void write_filtered_rows(core::JsonWriter& w, const TenantSnapshotPlan& snapshot,
                         const std::vector<TextValue>& params, ExportStatistics& stats) {
  const core::TenancyPlan& plan = snapshot.plan;
  if (plan.options().include_deleted || plan.options().soft_delete_column.empty()) return;
  core::SnapshotOptions all_options = plan.options();
  all_options.include_deleted = true;
  const TenantSnapshotPlan all = plan_tenant_snapshot(snapshot.tenant, all_options, false, false);
  const core::Catalog& all_catalog = all.plan.catalog();
  w.key("filtered_rows");
  w.begin_array();
  for (const auto& p : plan.tables()) {
    if (p.role == core::TableRole::Master) continue;
    const core::Table& t = plan.catalog().tables[p.table];
    std::optional<size_t> same;
    for (size_t i = 0; i < all_catalog.tables.size(); ++i)
      if (all_catalog.tables[i].schema == t.schema && all_catalog.tables[i].name == t.name) same = i;
    if (!same) continue;
    const std::string filtered = plan.membership_sql(p.table, "t0");
    const std::string owned = all.plan.membership_sql(*same, "t0");
    if (owned == filtered) continue;  // the filter does not reach this table
    // The key, else (a table without a primary key) every column.
    int64_t rows = write_rows_section(w, plan, p.table, "filtered",
                                      "(" + owned + ") AND NOT COALESCE((" + filtered + "), false)",
                                      params, t.primary_key);
    stats.filtered_tables.push_back({display_name(t), "filtered", rows});
  }
  w.end_array();
  stats.records_filtered_rows = true;
}

}  // namespace

// Fixed so that a value's text does not depend on the session that
// exported it. search_path is pinned too: type names (format_type) come
// out schema-qualified the same way for everyone, and no object of a
// user's schema, nor a temporary type, can stand in for a built-in one in
// the generated SQL (pg/owner_rights.hpp says why pg_temp is named).
int fix_output_settings() {
  return set_settings({{"DateStyle", "ISO, YMD"},
                       {"IntervalStyle", "postgres"},
                       {"TimeZone", "UTC"},
                       {"extra_float_digits", "1"},
                       {"bytea_output", "hex"},
                       {"search_path", kPinnedSearchPath}});
}

void restore_output_settings(int nest_level) { undo_settings(nest_level); }

ExportStatistics write_snapshot(const TenantSnapshotPlan& snapshot, core::JsonWriter& w) {
  const core::TenancyPlan& plan = snapshot.plan;
  // One snapshot: on Citus only a REPEATABLE READ transaction gives it.
  require_one_snapshot(plan);
  const auto params = tenant_parameters(snapshot);
  ExportStatistics stats;
  // Tables: the master and data tables (reference and filtered-row
  // sections are parts of theirs).
  progress::set_phase(progress::Phase::Writing, static_cast<int64_t>(plan.tables().size()));

  w.begin_object();
  w.key("format");
  w.string(kFormatName);
  w.key("format_version");
  w.integer(kFormatVersion);
  write_metadata(w, snapshot, stats);
  write_schema(w, plan);

  w.key("master_data");
  w.begin_array();
  for (const auto& p : plan.tables()) {
    if (p.role != core::TableRole::Master) continue;
    int64_t rows = write_rows_section(w, plan, p.table, "master",
                                      plan.membership_sql(p.table, "t0"), params);
    stats.master_tables.push_back({display_name(plan.catalog().tables[p.table]), "master", rows});
    progress::table_done();
  }
  // Rows of another tenant (or not in this snapshot) that this tenant's rows
  // point at through keys that do not own them: for reference only.
  for (const auto& p : plan.tables()) {
    if (p.role == core::TableRole::Master) continue;
    std::string where = plan.reference_sql(p.table, "t0");
    if (where.empty()) continue;
    // Usually there are none (the key points inside the tenant): list a
    // reference section only when it has rows.
    auto any = Spi::query("SELECT EXISTS (SELECT 1 FROM " + plan.from_clause(p.table, "t0") +
                              " WHERE " + where + ")",
                          params);
    if (any.at(0).at(0) != "t") continue;
    int64_t rows = write_rows_section(w, plan, p.table, "reference", where, params);
    stats.master_tables.push_back({display_name(plan.catalog().tables[p.table]), "reference", rows});
  }
  w.end_array();

  w.key("data");
  w.begin_array();
  for (const auto& p : plan.tables()) {
    if (p.role == core::TableRole::Master) continue;
    std::string role(core::to_string(p.role));
    int64_t rows = write_rows_section(w, plan, p.table, role, plan.membership_sql(p.table, "t0"),
                                      params);
    stats.data_tables.push_back({display_name(plan.catalog().tables[p.table]), role, rows});
    stats.total_rows += rows;
    progress::table_done();
  }
  w.end_array();
  write_filtered_rows(w, snapshot, params, stats);

  w.key("statistics");
  w.begin_object();
  w.key("tables");
  write_counts(w, stats.data_tables);
  w.key("master_tables");
  write_counts(w, stats.master_tables);
  if (stats.records_filtered_rows) {
    w.key("filtered_tables");
    write_counts(w, stats.filtered_tables);
  }
  w.key("table_count");
  w.integer(static_cast<int64_t>(stats.data_tables.size()));
  w.key("total_rows");
  w.integer(stats.total_rows);
  w.end_object();
  w.end_object();
  w.flush();
  return stats;
}

}  // namespace ptb::pg
