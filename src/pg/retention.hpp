// Retention of stored snapshots: which expire (core/retention.hpp decides),
// their rows marked expired (pg/backup_log.hpp), then their files removed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/retention.hpp"

namespace ptb::pg {

// Expires the completed snapshots `scope` owns (core/retention.hpp) beyond
// max_backups per tenant and older than retention_days (the settings when
// unset), never the newest of a tenant in the scope, never a kept one, never
// a pre_restore snapshot whose restore can still be undone. `only_group`:
// prune one tenant's group (nullopt inside = whole-database snapshots);
// without it, every group. Returns how many were expired.
int64_t prune_backups(const std::optional<std::optional<std::string>>& only_group,
                      const core::RetentionScope& scope, std::optional<int64_t> max_backups,
                      std::optional<int64_t> retention_days);

}  // namespace ptb::pg
