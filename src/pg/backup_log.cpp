#include "pg/backup_log.hpp"

#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/spi.hpp"

namespace ptb::pg {

namespace {

struct LogTable {
  std::string qualified_name;
  Oid owner;
};

LogTable find_log_table() {
  auto rows = Spi::query(
      "SELECT quote_ident(n.nspname) || '.backup_logs', c.relowner::text "
      "  FROM pg_catalog.pg_extension e "
      "  JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace "
      "  JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = 'backup_logs' "
      " WHERE e.extname = 'pg_tenant_backup'");
  if (rows.empty())
    throw core::Error(core::sqlstate::kUndefinedTable,
                      "the backup_logs table of pg_tenant_backup is missing", {},
                      "Reinstall the extension: DROP EXTENSION pg_tenant_backup; CREATE EXTENSION "
                      "pg_tenant_backup.");
  return {*rows[0][0], static_cast<Oid>(std::stoul(*rows[0][1]))};
}

}  // namespace

std::string log_clock() {
  // ISO 8601 in UTC: reads back the same whatever DateStyle and TimeZone are.
  return *Spi::query(
              "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
              "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
              .at(0)
              .at(0);
}

int64_t insert_log(const LogEntry& e) {
  LogTable table = find_log_table();
  std::string created_by;
  Oid caller = InvalidOid;
  int security_context = 0;
  guarded([&] {
    GetUserIdAndSecContext(&caller, &security_context);
    created_by = GetUserNameFromId(caller, false);
  });
  auto number = [](const std::optional<int64_t>& v) -> TextValue {
    return v ? TextValue(std::to_string(*v)) : std::nullopt;
  };
  const std::string sql =
      "INSERT INTO " + table.qualified_name +
      " (operation, trigger, tenant, status, started_at, finished_at, table_count, row_count,"
      "  table_counts, options, created_by)"
      " VALUES ($1, $2, $3, $4, $5::timestamptz, clock_timestamp(), $6::int, $7::bigint,"
      "         $8::jsonb, $9::jsonb, $10) RETURNING id";
  const std::vector<TextValue> params = {
      e.operation, e.trigger, e.tenant, e.status, e.started_at, number(e.table_count),
      number(e.row_count), e.table_counts, e.options, created_by};
  // Write as the log's owner; restricted, so no user code runs with those
  // rights. An ERROR in between is cleaned up by the transaction abort.
  guarded([&] {
    SetUserIdAndSecContext(table.owner, security_context | SECURITY_LOCAL_USERID_CHANGE |
                                            SECURITY_RESTRICTED_OPERATION);
  });
  TextValue id;
  try {
    id = Spi::execute(sql, params);
  } catch (...) {
    guarded([&] { SetUserIdAndSecContext(caller, security_context); });
    throw;
  }
  guarded([&] { SetUserIdAndSecContext(caller, security_context); });
  return std::stoll(id.value());
}

}  // namespace ptb::pg
