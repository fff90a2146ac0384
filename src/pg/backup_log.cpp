#include "pg/backup_log.hpp"

#include <set>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "pg/autonomous.hpp"
#include "pg/boundary.hpp"
#include "pg/session.hpp"
#include "pg/cron_run.hpp"
#include "pg/spi.hpp"
#include "pg/storage_directory.hpp"

namespace ptb::pg {

namespace {

TextValue number(const std::optional<int64_t>& v) {
  return v ? TextValue(std::to_string(*v)) : std::nullopt;
}

[[noreturn]] void refuse_missing_columns(const std::string& columns) {
  throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState,
                    "backup_logs has no " + columns +
                        ": the extension's SQL objects are older than its library",
                    {}, "Run ALTER EXTENSION pg_tenant_backup UPDATE in this database.");
}

// Refuses what a 0.1.0 backup_logs cannot record.
void check_log_columns(const LogTable& table, const LogEntry& e) {
  if (!table.has_encryption_columns && (e.encryption || e.encryption_key_id))
    refuse_missing_columns("encryption columns");
  if (!table.has_keep_column && e.keep) refuse_missing_columns("keep column");
}

// The cron_job_id and cron_job_name values, numbered after the others.
std::string cron_job_values(const LogTable& table) {
  if (!table.has_cron_job_columns) return "";
  const int first = 23 + (table.has_encryption_columns ? 2 : 0) + (table.has_keep_column ? 1 : 0);
  return ", $" + std::to_string(first) + "::pg_catalog.int8, $" + std::to_string(first + 1);
}

std::string insert_sql(const LogTable& table) {
  const bool enc = table.has_encryption_columns;
  return "INSERT INTO " + table.qualified_name +
         " (operation, trigger, tenant, name, notes, status, started_at, finished_at, file_name,"
         "  size_bytes, compression, checksum, table_count, row_count, table_counts, options,"
         "  error, source_id, archive_status, created_by, pid, schedule_id" +
         std::string(enc ? ", encryption, encryption_key_id" : "") +
         std::string(table.has_keep_column ? ", keep" : "") +
         std::string(table.has_cron_job_columns ? ", cron_job_id, cron_job_name" : "") +
         ") VALUES ($1, $2, $3, $4, $5, $6,"
         "  COALESCE($7::pg_catalog.timestamptz, pg_catalog.clock_timestamp()),"
         "  CASE WHEN $8::pg_catalog.bool THEN pg_catalog.clock_timestamp() END, $9,"
         "  $10::pg_catalog.int8, $11, $12, $13::pg_catalog.int4, $14::pg_catalog.int8,"
         "  $15::pg_catalog.jsonb, $16::pg_catalog.jsonb, $17::pg_catalog.jsonb, $18::pg_catalog.int8,"
         "  $19, $20::pg_catalog.name, $21::pg_catalog.int4, $22::pg_catalog.int8" +
         std::string(enc ? ", $23, $24" : "") +
         std::string(table.has_keep_column ? (enc ? ", $25::pg_catalog.bool" : ", $23::pg_catalog.bool") : "") +
         cron_job_values(table) + ") RETURNING id";
}

std::vector<TextValue> insert_params(const LogTable& table, const LogEntry& e) {
  check_log_columns(table, e);
  int pid = backend_pid();
  const LogOrigin origin = log_origin(table, e.trigger);
  std::vector<TextValue> params = {
      e.operation,   origin.trigger,      e.tenant,       e.name,
      e.notes,       e.status,            e.started_at,   e.finished ? "true" : "false",
      e.file_name,   number(e.size_bytes), e.compression, e.checksum,
      number(e.table_count), number(e.row_count), e.table_counts, e.options,
      e.error,       number(e.source_id), e.archive_status, current_role_name(),
      std::to_string(pid), number(e.schedule_id)};
  if (table.has_encryption_columns) {
    params.push_back(e.encryption);
    params.push_back(e.encryption_key_id);
  }
  if (table.has_keep_column) params.push_back(e.keep ? "true" : "false");
  if (table.has_cron_job_columns) {
    params.push_back(number(origin.cron_job_id));
    params.push_back(origin.cron_job_name);
  }
  return params;
}

}  // namespace

LogTable find_log_table() {
  auto rows = Spi::query(
      "SELECT pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.backup_logs',"
      "       c.relowner::pg_catalog.text,"
      "       EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a"
      "                WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid"
      "                  AND a.attname OPERATOR(pg_catalog.=) 'encryption_key_id'"
      "                  AND NOT a.attisdropped),"
      "       EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a"
      "                WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid"
      "                  AND a.attname OPERATOR(pg_catalog.=) 'keep'"
      "                  AND NOT a.attisdropped),"
      "       EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a"
      "                WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid"
      "                  AND a.attname OPERATOR(pg_catalog.=) 'snapshot_xmin'"
      "                  AND NOT a.attisdropped),"
      "       EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a"
      "                WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid"
      "                  AND a.attname OPERATOR(pg_catalog.=) 'cron_job_id'"
      "                  AND NOT a.attisdropped)"
      "  FROM pg_catalog.pg_extension e"
      "  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace"
      "  JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid"
      "   AND c.relname OPERATOR(pg_catalog.=) 'backup_logs'"
      " WHERE e.extname OPERATOR(pg_catalog.=) 'pg_tenant_backup'");
  if (rows.empty())
    throw core::Error(core::sqlstate::kUndefinedTable,
                      "the backup_logs table of pg_tenant_backup is missing", {},
                      "Reinstall the extension: DROP EXTENSION pg_tenant_backup; CREATE EXTENSION "
                      "pg_tenant_backup.");
  return {*rows[0][0], static_cast<Oid>(std::stoul(*rows[0][1])), rows[0][2] == "t",
          rows[0][3] == "t", rows[0][4] == "t", rows[0][5] == "t"};
}

LogOrigin log_origin(const LogTable& table, const std::string& trigger) {
  LogOrigin origin{trigger, std::nullopt, std::nullopt};
  if (!table.has_cron_job_columns) return origin;  // 0.1.0's table knows no 'pg_cron'
  if (const auto run = current_cron_run(table.owner)) {
    if (trigger == "manual") origin.trigger = "pg_cron";
    origin.cron_job_id = run->job_id;
    origin.cron_job_name = run->job_name;
  }
  return origin;
}

OriginColumns manual_call_origin(const LogTable& table, int first_param) {
  if (!table.has_cron_job_columns) return {};
  const LogOrigin origin = log_origin(table, "manual");
  auto param = [&](int offset) { return "$" + std::to_string(first_param + offset); };
  return {", trigger, cron_job_id, cron_job_name", ", " + param(0) + ", " + param(1) + "::pg_catalog.int8, " + param(2),
          {origin.trigger, number(origin.cron_job_id), origin.cron_job_name}};
}

std::string log_clock() {
  // ISO 8601 in UTC: reads back the same whatever DateStyle and TimeZone are.
  return *Spi::query(
              "SELECT pg_catalog.to_char(pg_catalog.clock_timestamp() AT TIME ZONE 'UTC', "
              "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
              .at(0)
              .at(0);
}

int64_t insert_log(const LogEntry& e) {
  LogTable table = find_log_table();
  auto params = insert_params(table, e);
  auto id = as_owner(table.owner, [&] { return Spi::execute(insert_sql(table), params); });
  return std::stoll(id.value());
}

int64_t insert_log_autonomously(const LogEntry& e) {
  LogTable table = find_log_table();
  auto id = run_autonomously(insert_sql(table), insert_params(table, e), table.owner);
  return std::stoll(id.value());
}

namespace {

// UPDATE of row `id` by finish_log and finish_log_autonomously, and its
// parameters.
std::string finish_sql(const LogTable& table) {
  return "WITH done AS (UPDATE " + table.qualified_name +
         " SET status = $2, finished_at = pg_catalog.clock_timestamp(),"
         "     file_name = COALESCE($3, file_name),"
         "     size_bytes = COALESCE($4::pg_catalog.int8, size_bytes),"
         "     compression = COALESCE($5, compression), checksum = COALESCE($6, checksum),"
         "     table_count = COALESCE($7::pg_catalog.int4, table_count),"
         "     row_count = COALESCE($8::pg_catalog.int8, row_count),"
         "     table_counts = COALESCE($9::pg_catalog.jsonb, table_counts),"
         "     error = COALESCE($10::pg_catalog.jsonb, error),"
         "     archive_status = COALESCE($11, archive_status),"
         "     notes = COALESCE($12, notes),"
         "     options = COALESCE($13::pg_catalog.jsonb, options),"
         "     tenant = COALESCE($14, tenant)" +
         std::string(table.has_encryption_columns ? ", encryption_key_id = COALESCE($15, encryption_key_id)" : "") +
         std::string(table.has_snapshot_xmin_column
                         ? (table.has_encryption_columns ? ", snapshot_xmin = COALESCE($16::pg_catalog.xid8, snapshot_xmin)"
                                                         : ", snapshot_xmin = COALESCE($15::pg_catalog.xid8, snapshot_xmin)")
                         : "") +
         " WHERE id OPERATOR(pg_catalog.=) $1::pg_catalog.int8"
         " RETURNING id, operation, trigger, tenant, status)"
         " SELECT pg_catalog.pg_notify('pg_tenant_backup', pg_catalog.row_to_json(done)::pg_catalog.text)"
         "   FROM done";
}

std::vector<TextValue> finish_params(const LogTable& table, int64_t id, const LogEntry& e) {
  check_log_columns(table, e);
  std::vector<TextValue> params = {std::to_string(id), e.status, e.file_name, number(e.size_bytes),
                                   e.compression, e.checksum, number(e.table_count), number(e.row_count),
                                   e.table_counts, e.error, e.archive_status, e.notes, e.options,
                                   e.tenant};
  if (table.has_encryption_columns) params.push_back(e.encryption_key_id);
  if (table.has_snapshot_xmin_column) params.push_back(e.snapshot_xmin);
  return params;
}

}  // namespace

void finish_log_autonomously(int64_t id, const LogEntry& e) {
  LogTable table = find_log_table();
  run_autonomously(finish_sql(table), finish_params(table, id, e), table.owner);
}

void finish_log(int64_t id, const LogEntry& e) {
  LogTable table = find_log_table();
  auto params = finish_params(table, id, e);
  as_owner(table.owner, [&] { return Spi::execute(finish_sql(table), params); });
}

namespace {

// An UPDATE of rows `l` that marks them failed with this error (constant
// text without quotes), up to its WHERE clause.
std::string fail_rows_sql(const LogTable& table, const std::string& message, const char* sqlstate) {
  return "UPDATE " + table.qualified_name +
         " l SET status = 'failed', finished_at = pg_catalog.clock_timestamp(),"
         "   error = pg_catalog.jsonb_build_object('message', '" + message +
         "'::pg_catalog.text, 'sqlstate', '" + sqlstate + "'::pg_catalog.text)";
}

// Whether the backend that wrote row l (its pid, started no later than
// the row) is still running: a pid alone may have been reused since.
constexpr const char* kWriterAlive =
    "EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a"
    "         WHERE a.pid OPERATOR(pg_catalog.=) l.pid"
    "           AND a.backend_start OPERATOR(pg_catalog.<=) l.started_at)";

}  // namespace

void mark_interrupted_rows() {
  LogTable table = find_log_table();
  const std::string sql =
      fail_rows_sql(table, "interrupted: the backend or the server stopped before the operation finished",
                    core::sqlstate::kAdminShutdown) +
      " WHERE l.status OPERATOR(pg_catalog.=) 'running' AND NOT " + kWriterAlive +
      " RETURNING l.id::pg_catalog.text, l.operation";
  // An import or restore whose backend is alive but whose transaction (or
  // savepoint) rolled back after it succeeded: its 'running' row, written
  // autonomously, was to be finished by that transaction. The transaction
  // id is read only while that very backend is alive (it is then one of
  // this cluster's).
  const std::string rolled_back_sql =
      fail_rows_sql(table, "rolled back: the transaction that ran the operation did not commit",
                    core::sqlstate::kTransactionRollback) +
      " WHERE l.status OPERATOR(pg_catalog.=) 'running'"
      "   AND l.operation OPERATOR(pg_catalog.=) ANY ('{import,restore}'::pg_catalog.text[])"
      "   AND l.options OPERATOR(pg_catalog.?) 'transaction'"
      "   AND CASE WHEN " + kWriterAlive +
      "   THEN pg_catalog.pg_xact_status((l.options OPERATOR(pg_catalog.->>) 'transaction')::pg_catalog.xid8)"
      "        OPERATOR(pg_catalog.=) 'aborted' ELSE false END";
  const auto rows = as_owner(table.owner, [&] {
    Spi::execute(rolled_back_sql);
    return Spi::execute_returning(sql).rows;
  });
  // A backup stopped after its file was renamed into place (archive_command
  // running, or before its row said completed) left a whole file that no
  // row will ever own.
  std::set<int64_t> backups;
  for (const auto& r : rows)
    if (r[1] == "backup") backups.insert(std::stoll(*r[0]));
  remove_snapshot_files_of(backups);
}

BackupRow find_backup_row(int64_t id) {
  const LogTable table = find_log_table();
  auto rows = as_owner(table.owner, [&] {
    return Spi::query(
        "SELECT status, tenant, file_name, checksum, size_bytes::pg_catalog.text, compression, "
        "table_counts::pg_catalog.text, " +
            std::string(table.has_encryption_columns ? "encryption, encryption_key_id"
                                                     : "NULL::pg_catalog.text, NULL::pg_catalog.text") +
            " FROM " + table.qualified_name +
            " WHERE id OPERATOR(pg_catalog.=) $1::pg_catalog.int8"
            "   AND operation OPERATOR(pg_catalog.=) 'backup'",
        {std::to_string(id)});
  });
  if (rows.empty())
    throw core::Error(core::sqlstate::kUndefinedObject, "backup " + std::to_string(id) + " does not exist", {},
                      "List stored snapshots with SELECT * FROM tenant_backup.backup_list.");
  const auto& r = rows[0];
  BackupRow row;
  row.status = r[0].value_or("");
  row.tenant = r[1];
  row.file_name = r[2];
  row.checksum = r[3];
  if (r[4]) row.size_bytes = std::stoll(*r[4]);
  row.compression = r[5];
  row.table_counts = r[6];
  row.encryption = r[7];
  row.encryption_key_id = r[8];
  return row;
}

std::optional<std::string> backup_finished_before(int64_t id, const std::string& window) {
  const LogTable table = find_log_table();
  auto rows = as_owner(table.owner, [&] {
    return Spi::query("SELECT finished_at::pg_catalog.text FROM " + table.qualified_name +
                          " WHERE id OPERATOR(pg_catalog.=) $1::pg_catalog.int8"
                          "   AND $2::pg_catalog.interval OPERATOR(pg_catalog.>) '0'::pg_catalog.interval"
                          "   AND finished_at OPERATOR(pg_catalog.<)"
                          "       (pg_catalog.now() OPERATOR(pg_catalog.-) $2::pg_catalog.interval)",
                      {std::to_string(id), window});
  });
  if (rows.empty()) return std::nullopt;
  return rows[0][0].value_or("?");
}

void mark_backup_restored(int64_t id) {
  const LogTable table = find_log_table();
  as_owner(table.owner, [&] {
    return Spi::execute("UPDATE " + table.qualified_name +
                            " SET status = 'restored' WHERE id OPERATOR(pg_catalog.=) $1::pg_catalog.int8"
                            "   AND status OPERATOR(pg_catalog.=) ANY ('{completed,restored}'::pg_catalog.text[])",
                        {std::to_string(id)});
  });
}

void record_backup_deleted(int64_t id) {
  const LogTable table = find_log_table();
  const OriginColumns origin = manual_call_origin(table, 4);
  std::vector<TextValue> params = {std::to_string(id), current_role_name(), std::to_string(backend_pid())};
  params.insert(params.end(), origin.params.begin(), origin.params.end());
  run_autonomously(
      "WITH deleted AS (UPDATE " + table.qualified_name +
          " SET status = 'deleted' WHERE id OPERATOR(pg_catalog.=) $1::pg_catalog.int8"
          " RETURNING id, tenant, file_name)"
          " INSERT INTO " + table.qualified_name +
          " (operation, status, tenant, started_at, finished_at, file_name, source_id, created_by, pid" +
          origin.columns +
          ") SELECT 'delete', 'completed', tenant, pg_catalog.clock_timestamp(),"
          "        pg_catalog.clock_timestamp(), file_name, id, $2::pg_catalog.name,"
          "        $3::pg_catalog.int4" + origin.values +
          " FROM deleted",
      params, table.owner);
}

bool set_backup_keep(int64_t id, bool keep) {
  const LogTable table = find_log_table();
  if (!table.has_keep_column) refuse_missing_columns("keep column");
  return run_autonomously(
             "UPDATE " + table.qualified_name + " SET keep = $2::pg_catalog.bool"
             " WHERE id OPERATOR(pg_catalog.=) $1::pg_catalog.int8"
             "   AND operation OPERATOR(pg_catalog.=) 'backup'"
             "   AND status OPERATOR(pg_catalog.=) ANY ('{completed,restored}'::pg_catalog.text[])"
             " RETURNING id::pg_catalog.text",
             {std::to_string(id), keep ? "true" : "false"}, table.owner)
      .has_value();
}

std::vector<TextRow> query_latest_as_owner(const LogTable& table, const std::string& sql,
                                           const std::vector<TextValue>& params) {
  return as_owner(table.owner, [&] { return Spi::query_latest(sql, params); });
}

std::vector<RetentionCandidate> retention_candidates(const std::optional<std::optional<std::string>>& only_group,
                                                     const std::string& restore_window) {
  const LogTable table = find_log_table();
  // undo_possible: the restore a pre_restore snapshot protects can still be
  // undone, i.e. backup_restore would accept it (backup_finished_before).
  std::string sql =
      "SELECT id::pg_catalog.text, tenant,"
      "       pg_catalog.date_part('epoch', finished_at)::pg_catalog.int8::pg_catalog.text,"
      "       file_name, trigger, schedule_id::pg_catalog.text, " +
      std::string(table.has_keep_column ? "keep" : "false") +
      ", NOT (($1::pg_catalog.interval OPERATOR(pg_catalog.>) '0'::pg_catalog.interval)"
      "       AND (finished_at OPERATOR(pg_catalog.<)"
      "            (pg_catalog.now() OPERATOR(pg_catalog.-) $1::pg_catalog.interval))),"
      "       compression"
      "  FROM " + table.qualified_name +
      " WHERE operation OPERATOR(pg_catalog.=) 'backup'"
      "   AND status OPERATOR(pg_catalog.=) ANY ('{completed,restored}'::pg_catalog.text[])"
      "   AND file_name IS NOT NULL";
  std::vector<TextValue> params = {restore_window};
  if (only_group) {
    sql += only_group->has_value() ? " AND tenant OPERATOR(pg_catalog.=) $2" : " AND tenant IS NULL";
    if (only_group->has_value()) params.push_back(**only_group);
  }
  std::vector<RetentionCandidate> out;
  for (const auto& row : query_latest_as_owner(table, sql, params)) {
    RetentionCandidate c;
    c.id = std::stoll(*row[0]);
    c.tenant = row[1];
    c.finished_unix = std::stoll(*row[2]);
    c.file_name = *row[3];
    c.trigger = row[4].value_or("");
    if (row[5]) c.schedule_id = std::stoll(*row[5]);
    c.keep = row[6] == "t";
    c.undo_possible = row[7] == "t";
    c.compression = row[8].value_or("none");
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<int64_t> expire_backups(const std::vector<int64_t>& ids,
                                    const std::optional<std::string>& group_tenant) {
  const LogTable table = find_log_table();
  const std::string keep_test = table.has_keep_column ? " AND NOT keep" : "";
  std::vector<TextValue> params = {nlohmann::json(ids).dump(), group_tenant, current_role_name(),
                                   std::to_string(backend_pid())};
  const OriginColumns origin = manual_call_origin(table, 5);
  params.insert(params.end(), origin.params.begin(), origin.params.end());
  const TextValue gone = run_autonomously(
      "WITH expired AS (UPDATE " + table.qualified_name +
          " SET status = 'expired'"
          " WHERE id OPERATOR(pg_catalog.=) ANY (SELECT pg_catalog.jsonb_array_elements_text($1::pg_catalog.jsonb)::pg_catalog.int8)"
          "   AND status OPERATOR(pg_catalog.=) ANY ('{completed,restored}'::pg_catalog.text[])" + keep_test +
          " RETURNING id),"
          " listed AS (SELECT pg_catalog.count(*) AS n,"
          "                   pg_catalog.string_agg(id::pg_catalog.text, ', ' ORDER BY id) AS list,"
          "                   pg_catalog.jsonb_agg(id) AS ids FROM expired)"
          " INSERT INTO " + table.qualified_name +
          " (operation, status, tenant, started_at, finished_at, row_count, notes, created_by, pid" +
          origin.columns +
          ") SELECT 'prune', 'completed', $2, pg_catalog.clock_timestamp(), pg_catalog.clock_timestamp(), n,"
          "        'expired snapshots: ' OPERATOR(pg_catalog.||) COALESCE(list, 'none'), $3, $4::pg_catalog.int4" +
          origin.values +
          "   FROM listed"
          " RETURNING (SELECT COALESCE(ids, '[]'::pg_catalog.jsonb)::pg_catalog.text FROM listed)",
      params, table.owner);
  std::vector<int64_t> expired;
  for (const auto& id : nlohmann::json::parse(gone.value_or("[]"))) expired.push_back(id.get<int64_t>());
  return expired;
}

std::optional<std::string> oldest_kept_snapshot_xmin() {
  const LogTable table = find_log_table();
  if (!table.has_snapshot_xmin_column) return std::nullopt;
  const auto rows = query_latest_as_owner(
      table,
      "SELECT snapshot_xmin::pg_catalog.text FROM " + table.qualified_name +
          " WHERE operation OPERATOR(pg_catalog.=) 'backup'"
          "   AND status OPERATOR(pg_catalog.=) ANY ('{completed,restored}'::pg_catalog.text[])"
          "   AND snapshot_xmin IS NOT NULL"
          " ORDER BY snapshot_xmin LIMIT 1");
  if (rows.empty()) return std::nullopt;
  return rows[0][0];
}

std::vector<CaptureStretch> capture_stretches() {
  const LogTable logs = find_log_table();
  std::vector<CaptureStretch> out;
  const auto rows = query_latest_as_owner(logs,
      "SELECT s.id::pg_catalog.text, pg_catalog.to_char(s.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
      "       s.options OPERATOR(pg_catalog.->>) 'xid', s.options OPERATOR(pg_catalog.->>) 'consistent_lsn',"
      "       pg_catalog.to_char(e.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
      "       COALESCE(e.error OPERATOR(pg_catalog.->>) 'last_captured_commit_at',"
      "                e.options OPERATOR(pg_catalog.->>) 'last_captured_commit_at'),"
      "       e.id IS NOT NULL"
      "  FROM " + logs.qualified_name + " s"
      "  LEFT JOIN LATERAL (SELECT x.id, x.finished_at, x.error, x.options FROM " + logs.qualified_name + " x"
      "                      WHERE x.operation OPERATOR(pg_catalog.=) 'capture'"
      "                        AND x.id OPERATOR(pg_catalog.>) s.id"
      "                        AND (x.status OPERATOR(pg_catalog.=) 'failed'"
      "                             OR x.options OPERATOR(pg_catalog.->>) 'event' OPERATOR(pg_catalog.=) 'stop'"
      "                             OR x.options OPERATOR(pg_catalog.->>) 'event' OPERATOR(pg_catalog.=) 'start')"
      "                      ORDER BY x.id LIMIT 1) e ON true"
      " WHERE s.operation OPERATOR(pg_catalog.=) 'capture' AND s.status OPERATOR(pg_catalog.=) 'completed'"
      "   AND s.options OPERATOR(pg_catalog.->>) 'event' OPERATOR(pg_catalog.=) 'start'"
      " ORDER BY s.id", {});
  for (const auto& r : rows) {
    CaptureStretch c;
    c.start_id = std::stoll(*r[0]);
    c.started_at = r[1].value_or("");
    try {
      c.start_xid = std::stoull(r[2].value_or("0"));
    } catch (const std::exception&) {
      c.start_xid = UINT64_MAX;  // unreadable: no snapshot qualifies
    }
    c.consistent_lsn = r[3].value_or("0/0");
    // The next event ends this stretch: a stop, a failure, or a new start
    // (the slot was lost and made again: its changes since are missing).
    c.stopped = r[6] && *r[6] == "t";
    c.stopped_at = r[4];
    c.last_captured_commit_at = r[5];
    out.push_back(std::move(c));
  }
  return out;
}

std::optional<int64_t> newest_snapshot_between(const std::optional<std::string>& tenant,
                                               const std::string& after, const std::string& moment) {
  const LogTable logs = find_log_table();
  const auto rows = query_latest_as_owner(
      logs,
      "SELECT id::pg_catalog.text FROM " + logs.qualified_name +
          " WHERE operation OPERATOR(pg_catalog.=) 'backup'"
          "   AND status OPERATOR(pg_catalog.=) ANY ('{completed,restored}'::pg_catalog.text[])"
          "   AND (tenant OPERATOR(pg_catalog.=) $1 OR (tenant IS NULL AND $1 IS NULL))"
          "   AND file_name IS NOT NULL"
          "   AND finished_at OPERATOR(pg_catalog.<=) $2::pg_catalog.timestamptz"
          "   AND started_at OPERATOR(pg_catalog.>) $3::pg_catalog.timestamptz"
          " ORDER BY finished_at DESC, id DESC LIMIT 1",
      {tenant, moment, after});
  if (rows.empty()) return std::nullopt;
  return std::stoll(*rows[0][0]);
}

StretchSnapshots snapshots_in_stretch(const std::optional<std::string>& tenant, const CaptureStretch& c) {
  const LogTable logs = find_log_table();
  const auto rows = query_latest_as_owner(
      logs,
      "SELECT pg_catalog.min(finished_at)::pg_catalog.text, pg_catalog.count(*)::pg_catalog.text,"
      "       CASE WHEN $4::pg_catalog.bool THEN $3::pg_catalog.timestamptz ELSE pg_catalog.now() END::pg_catalog.text,"
      "       $2::pg_catalog.timestamptz::pg_catalog.text, $5::pg_catalog.timestamptz::pg_catalog.text"
      "  FROM " + logs.qualified_name +
          " WHERE operation OPERATOR(pg_catalog.=) 'backup'"
          "   AND status OPERATOR(pg_catalog.=) ANY ('{completed,restored}'::pg_catalog.text[])"
          "   AND (tenant OPERATOR(pg_catalog.=) $1 OR (tenant IS NULL AND $1 IS NULL))"
          "   AND file_name IS NOT NULL"
          "   AND started_at OPERATOR(pg_catalog.>) $2::pg_catalog.timestamptz"
          "   AND (NOT $4::pg_catalog.bool OR finished_at OPERATOR(pg_catalog.<=) $3::pg_catalog.timestamptz)",
      {tenant, c.started_at, c.last_captured_commit_at.value_or(c.started_at), c.stopped ? "true" : "false",
       c.stopped_at});
  const auto& w = rows.at(0);
  return {w[0], std::stoll(w[1].value_or("0")), w[2].value_or(""), w[3].value_or(""), w[4]};
}

std::string current_error_json() noexcept {
  try {
    nlohmann::json error;
    try {
      throw;
    } catch (const ServerError& e) {
      error = {{"message", e.what()},
               {"sqlstate", e.sqlstate()},
               {"detail", e.detail()}};
    } catch (const core::Error& e) {
      error = {{"message", e.what()}, {"sqlstate", e.sqlstate()}, {"detail", e.detail()}};
    } catch (const std::exception& e) {
      error = {{"message", e.what()}, {"sqlstate", core::sqlstate::kInternalError}, {"detail", ""}};
    }
    return error.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (...) {
    return std::string(R"({"message": "unknown error", "sqlstate": ")") + core::sqlstate::kInternalError + "\"}";
  }
}

}  // namespace ptb::pg
