#include "pg/change_segments.hpp"

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "pg/autonomous.hpp"
#include "pg/backup_log.hpp"
#include "pg/boundary.hpp"
#include "pg/scheduler.hpp"
#include "pg/settings.hpp"
#include "pg/spi.hpp"
#include "pg/file_io.hpp"
#include "pg/storage_directory.hpp"

namespace ptb::pg {

std::string segment_path(const std::string& file_name) {
  const size_t slash = file_name.find('/');
  const std::string folder = slash == std::string::npos ? std::string() : file_name.substr(0, slash);
  const std::string rest = slash == std::string::npos ? std::string() : file_name.substr(slash + 1);
  const bool named = !folder.empty() && folder != "." && folder != ".." && rest.size() == 8 + 16 + 1 + 16 + 10 &&
                     rest.compare(0, 8, "changes/") == 0 &&
                     rest.find_first_not_of("0123456789ABCDEF", 8) == 8 + 16 && rest[24] == '-' &&
                     rest.find_first_not_of("0123456789ABCDEF", 25) == 41 && rest.compare(41, 10, ".jsonl.zst") == 0;
  if (!named)
    throw core::Error(core::sqlstate::kDataCorrupted, "change segment \"" + file_name + "\" has a name change capture never writes",
                      "backup_change_segments.file_name was changed.", {});
  if (!check_own_folder(folder))
    throw core::Error(core::sqlstate::kUndefinedFile, "change segment \"" + file_name + "\" is missing: its folder does not exist",
                      {}, "Restore the storage directory (pg_tenant_backup.storage_path) from a copy.");
  return storage_settings().storage_path + "/" + file_name;
}

int64_t prune_change_segments() {
  const std::string segments = extension_table("backup_change_segments");
  const std::optional<std::string> floor = oldest_kept_snapshot_xmin();
  if (segments.empty() || !floor) return 0;
  const TextValue gone = run_autonomously(
      "WITH gone AS (DELETE FROM " + segments + " s"
          "           WHERE s.max_xid OPERATOR(pg_catalog.<) $1::pg_catalog.xid8 RETURNING s.file_name)"
          " SELECT COALESCE(pg_catalog.jsonb_agg(file_name), '[]'::pg_catalog.jsonb)::pg_catalog.text FROM gone",
      {*floor}, find_log_table().owner);
  int64_t removed = 0;
  for (const auto& name : nlohmann::json::parse(gone.value_or("[]"))) {
    ++removed;
    try {
      (void)remove_file_quietly(segment_path(name.get<std::string>()));
    } catch (const core::Error&) {
      // A name or folder that is not this database's: its row is gone,
      // the file (not ours to judge) stays.
    }
  }
  if (removed > 0)
    guarded([&] {
      ereport(LOG, (errmsg("pg_tenant_backup: removed %lld change segments older than every kept snapshot",
                           static_cast<long long>(removed))));
    });
  return removed;
}

}  // namespace ptb::pg
