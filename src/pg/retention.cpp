#include "pg/retention.hpp"

#include <ctime>
#include <map>

#include "core/compression.hpp"
#include "core/error.hpp"
#include "pg/backup_log.hpp"
#include "pg/server_log.hpp"
#include "pg/change_segments.hpp"
#include "pg/settings.hpp"
#include "pg/file_io.hpp"
#include "pg/stored_snapshot_reader.hpp"

namespace ptb::pg {

int64_t prune_backups(const std::optional<std::optional<std::string>>& only_group,
                      const core::RetentionScope& scope, std::optional<int64_t> max_backups,
                      std::optional<int64_t> retention_days) {
  const StorageSettings settings = storage_settings();
  core::RetentionPolicy policy{max_backups ? max_backups : settings.max_backups,
                               retention_days ? retention_days : settings.retention_days};
  const auto rows = retention_candidates(only_group, restore_settings().restore_window);
  std::vector<core::StoredSnapshot> completed;
  std::map<int64_t, std::string> files;
  // Rows whose files are not this database's (copied with the database by
  // CREATE DATABASE ... TEMPLATE or a dump; 0.1.0 files whose document does
  // not name this database) are neither counted nor expired: their files
  // stay as they are.
  int64_t foreign = 0;
  for (const auto& row : rows) {
    bool own = false;
    try {
      const RowFile file = file_of_row(row.id, row.file_name, "prune");
      own = !file.legacy ||
            legacy_file_is_own(file.path, core::compression_from_string(row.compression)
                                              .value_or(core::Compression::None));
      if (own) files[row.id] = file.path;
    } catch (const core::Error&) {
      own = false;
    }
    if (!own) {
      ++foreign;
      continue;
    }
    core::StoredSnapshot s{row.id, row.tenant, row.finished_unix};
    // A trigger this version does not know is left alone (never expired).
    auto trigger = core::snapshot_trigger_from_string(row.trigger);
    if (!trigger) continue;
    s.trigger = *trigger;
    s.schedule_id = row.schedule_id;
    s.keep = row.keep;
    s.undo_possible = row.undo_possible;
    completed.push_back(std::move(s));
  }
  if (foreign > 0)
    report({LogLevel::Notice,
            "pg_tenant_backup: " + std::to_string(foreign) +
                " stored snapshots whose files are not this database's were left alone",
            "Their rows were copied from another database (CREATE DATABASE ... TEMPLATE, or a "
            "restored dump), or they are 0.1.0 files whose snapshot does not name this database.",
            "Prune them in the database that owns them; docs/operations.md, Storage, says how."});
  const int64_t now = static_cast<int64_t>(time(nullptr));
  auto expired = core::snapshots_to_expire(completed, policy, now, scope);
  if (expired.empty()) return 0;

  // Rows first, then files: a crash in between leaves a file without a
  // row (harmless), never a completed row without its file. Only the ids
  // expire_backups returns lose their files.
  expired = expire_backups(expired, only_group && only_group->has_value() ? **only_group : TextValue());
  for (auto id : expired) remove_file_quietly(files[id]);
  // Change segments only the expired snapshots could use go with them.
  if (!expired.empty()) (void)prune_change_segments();
  return static_cast<int64_t>(expired.size());
}

}  // namespace ptb::pg
