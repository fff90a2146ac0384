// Taking a stored snapshot (a backup): for backup_create, the scheduler's
// jobs and the pre_restore snapshot of backup_restore.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>


namespace ptb::pg {

struct CreateRequest {
  std::optional<std::string> tenant;
  nlohmann::json opts = nlohmann::json::object();  // parsed once by the caller (core::parse_opts)
  std::optional<std::string> name;
  std::optional<std::string> notes;
  std::string trigger = "manual";  // manual | scheduled | pre_restore
  std::optional<int64_t> schedule_id;
  bool keep = false;  // kept for good: no retention and no backup_prune removes it
  // Retention after a scheduled backup (the schedule's own snapshots only);
  // the settings when unset. A manual backup prunes only with
  // pg_tenant_backup.prune_manual on; a pre_restore one never does.
  std::optional<int64_t> max_backups;
  std::optional<int64_t> retention_days;
};

// Streams the snapshot to a file, records it in backup_logs and returns
// the log id. On failure the row says failed (committed whatever the
// caller's transaction does), no file is left, and the error is rethrown.
// `log_id`, when given, is set as soon as the row exists (so a caller can
// tell a refused call, which has no row, from a failed backup).
int64_t create_backup(const CreateRequest& request, std::optional<int64_t>* log_id = nullptr);

}  // namespace ptb::pg
