// SQL entry points of stored snapshots: backup_create, backup_prune,
// backup_delete.
#include "core/error.hpp"
#include "core/storage_names.hpp"
#include "pg/autonomous.hpp"
#include "pg/backup_log.hpp"
#include "pg/backups.hpp"
#include "pg/boundary.hpp"
#include "pg/settings.hpp"
#include "pg/spi.hpp"
#include "pg/srf.hpp"
#include "pg/storage.hpp"
#include "pg/stored_backups.hpp"

namespace {

using namespace ptb;

std::optional<std::string> optional_text(FunctionCallInfo fcinfo, int argno) {
  if (PG_ARGISNULL(argno)) return std::nullopt;
  return pg::text_arg(fcinfo, argno);
}

std::optional<int64_t> optional_int(FunctionCallInfo fcinfo, int argno) {
  if (PG_ARGISNULL(argno)) return std::nullopt;
  return static_cast<int64_t>(PG_GETARG_INT32(argno));
}

void delete_backup(int64_t id) {
  pg::Spi::connect();
  pg::LogTable table = pg::find_log_table();
  auto rows = pg::as_owner(table.owner, [&] {
    return pg::Spi::query("SELECT status, file_name, tenant, table_counts::pg_catalog.text FROM " +
                              table.qualified_name +
                              " WHERE id OPERATOR(pg_catalog.=) $1::pg_catalog.int8"
                              "   AND operation OPERATOR(pg_catalog.=) 'backup'",
                          {std::to_string(id)});
  });
  if (rows.empty())
    throw core::Error("42704", "backup " + std::to_string(id) + " does not exist", {},
                      "List stored snapshots with SELECT * FROM backup_list.");
  pg::check_may_open_snapshot(id, rows[0][3] ? nlohmann::json::parse(*rows[0][3]) : nlohmann::json::object());
  const std::string status = *rows[0][0];
  if (status == "running")
    throw core::Error("55006", "backup " + std::to_string(id) + " is still running", {},
                      "Wait for it to finish, then delete it.");
  if (status != "completed" && status != "restored" && status != "failed")
    throw core::Error("55000", "backup " + std::to_string(id) + " is already " + status);
  std::string role;
  pg::guarded([&] { role = GetUserNameFromId(GetUserId(), false); });
  pg::run_autonomously(
      "WITH deleted AS (UPDATE " + table.qualified_name +
          " SET status = 'deleted' WHERE id OPERATOR(pg_catalog.=) $1::pg_catalog.int8"
          " RETURNING id, tenant, file_name)"
          " INSERT INTO " + table.qualified_name +
          " (operation, status, tenant, started_at, finished_at, file_name, source_id, created_by, pid)"
          " SELECT 'delete', 'completed', tenant, pg_catalog.clock_timestamp(),"
          "        pg_catalog.clock_timestamp(), file_name, id, $2::pg_catalog.name,"
          "        $3::pg_catalog.int4 FROM deleted",
      {std::to_string(id), role, std::to_string(MyProcPid)}, table.owner);
  if (rows[0][1] && core::is_snapshot_file_name(*rows[0][1]))
    pg::remove_file_quietly(pg::storage_settings().storage_path + "/" + *rows[0][1]);
  pg::Spi::finish();
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(backup_create);
Datum backup_create(PG_FUNCTION_ARGS) {
  return pg::entry([&]() -> Datum {
    pg::CreateRequest request;
    request.tenant = optional_text(fcinfo, 0);
    request.opts = PG_ARGISNULL(1) ? nullptr : PG_GETARG_JSONB_P(1);
    request.name = optional_text(fcinfo, 2);
    request.notes = optional_text(fcinfo, 3);
    return Int64GetDatum(pg::create_backup(request));
  });
}

PG_FUNCTION_INFO_V1(backup_prune);
Datum backup_prune(PG_FUNCTION_ARGS) {
  return pg::entry([&]() -> Datum {
    auto tenant = optional_text(fcinfo, 0);
    auto max_backups = optional_int(fcinfo, 1);
    auto retention_days = optional_int(fcinfo, 2);
    if (max_backups && *max_backups < 1)
      throw core::Error("22023", "max_backups must be at least 1");
    if (retention_days && *retention_days < 0)
      throw core::Error("22023", "retention_days must not be negative");
    pg::Spi::connect();
    std::optional<std::optional<std::string>> group;
    if (tenant) group = tenant;
    int64_t expired = pg::prune_backups(group, max_backups, retention_days);
    pg::Spi::finish();
    return Int32GetDatum(static_cast<int32>(expired));
  });
}

PG_FUNCTION_INFO_V1(backup_delete);
Datum backup_delete(PG_FUNCTION_ARGS) {
  return pg::entry([&]() -> Datum {
    delete_backup(PG_GETARG_INT64(0));
    PG_RETURN_VOID();
  });
}
}
