// SQL entry points of stored snapshots: backup_create, backup_prune,
// backup_delete, backup_keep.
#include "core/error.hpp"
#include "core/storage_names.hpp"
#include "pg/autonomous.hpp"
#include "pg/backup_log.hpp"
#include "pg/change_segments.hpp"
#include "pg/create_backup.hpp"
#include "pg/retention.hpp"
#include "pg/boundary.hpp"
#include "pg/entry_point.hpp"
#include "pg/settings.hpp"
#include "pg/spi.hpp"
#include "pg/srf.hpp"
#include "pg/file_io.hpp"
#include "pg/stored_snapshot_reader.hpp"

namespace {

using namespace ptb;

void delete_backup(int64_t id) {
  pg::Spi::connect();
  const pg::BackupRow row = pg::find_backup_row(id);
  pg::check_may_open_snapshot(id, row.table_counts ? nlohmann::json::parse(*row.table_counts)
                                                   : nlohmann::json::object());
  const std::string& status = row.status;
  if (status == "running")
    throw core::Error(core::sqlstate::kObjectInUse, "backup " + std::to_string(id) + " is still running", {},
                      "Wait for it to finish, then delete it.");
  if (status != "completed" && status != "restored" && status != "failed")
    throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState, "backup " + std::to_string(id) + " is already " + status);
  // Whose file it is, before anything changes: another database's file (a
  // row copied with the database) is refused, and so is a 0.1.0 file whose
  // snapshot does not name this database.
  std::optional<std::string> doomed;
  if (row.file_name &&
      core::owner_of_stored_file(*row.file_name, id, MyDatabaseId).owner != core::FileOwner::Invalid) {
    const pg::RowFile file = pg::file_of_row(id, *row.file_name, "delete");
    if (file.legacy &&
        !pg::legacy_file_is_own(file.path, core::compression_from_string(row.compression.value_or("none"))
                                               .value_or(core::Compression::None)))
      throw core::Error(
          core::sqlstate::kObjectNotInPrerequisiteState,
          "cannot delete backup " + std::to_string(id) +
              ": its file, written by version 0.1.0, cannot be shown to be this database's",
          "A 0.1.0 file carries no database in its name; its snapshot's first bytes must name this "
          "database (metadata.database), and those of " + *row.file_name + " do not.",
          "If the file is this database's, remove it from pg_tenant_backup.storage_path by hand and "
          "call backup_delete again; otherwise delete the snapshot in the database it belongs to.");
    doomed = file.path;
  }
  pg::record_backup_deleted(id);
  if (doomed) pg::remove_file_quietly(*doomed);
  // Change segments only this snapshot could use go with it.
  (void)pg::prune_change_segments();
  pg::Spi::finish();
}

// Pins (or unpins) a stored snapshot. Like backup_delete it commits at once,
// in a transaction of its own: retention runs autonomously too, and would
// otherwise wait forever for a row the caller's transaction holds. A prune
// running at the same time waits for this row and then leaves it alone.
void keep_backup(int64_t id, bool keep) {
  pg::Spi::connect();
  const std::string which = "backup " + std::to_string(id);
  if (!pg::set_backup_keep(id, keep)) {
    throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState,
                      which + " is " + pg::find_backup_row(id).status + ": it has no stored snapshot to keep", {},
                      "Only a completed snapshot (one of backup_list) can be kept.");
  }
  pg::Spi::finish();
}

}  // namespace

PTB_SQL_FUNCTION(backup_create) {
  pg::CreateRequest request;
  request.tenant = args.string(0);
  request.opts = args.opts(1);
  request.name = args.string(2);
  request.notes = args.string(3);
  // keep: since 0.2.0 (a 0.1.0 definition passes four arguments).
  if (args.count() > 4) request.keep = args.boolean_required(4, "keep");
  return Int64GetDatum(pg::create_backup(request));
}

PTB_SQL_FUNCTION(backup_prune) {
  auto tenant = args.string(0);
  auto max_backups = args.int4(1);
  auto retention_days = args.int4(2);
  if (max_backups && *max_backups < 1)
    throw core::Error(core::sqlstate::kInvalidParameterValue, "max_backups must be at least 1");
  if (retention_days && *retention_days < 0)
    throw core::Error(core::sqlstate::kInvalidParameterValue, "retention_days must not be negative");
  pg::Spi::connect();
  std::optional<std::optional<std::string>> group;
  if (tenant) group = tenant;
  int64_t expired = pg::prune_backups(group, {core::RetentionScope::Kind::Prune, std::nullopt}, max_backups,
                                      retention_days);
  pg::Spi::finish();
  return Int32GetDatum(static_cast<int32>(expired));
}

PTB_SQL_FUNCTION(backup_delete) {
  delete_backup(args.int8_required(0, "the backup id"));
  return args.void_result();
}

PTB_SQL_FUNCTION(backup_keep) {
  const int64_t id = args.int8_required(0, "the backup id");
  keep_backup(id, args.boolean_required(1, "keep"));
  return args.void_result();
}
