// Which completed snapshots a retention policy expires. Pure: the server
// side lists the snapshots and deletes what this returns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ptb::core {

struct StoredSnapshot {
  int64_t id;
  std::optional<std::string> tenant;  // nullopt: a whole-database snapshot
  int64_t finished_at;                // unix seconds
};

struct RetentionPolicy {
  std::optional<int64_t> max_backups;     // keep at most this many per tenant (>= 1)
  std::optional<int64_t> retention_days;  // expire those older than this (>= 0)
};

// The ids to expire, ascending. Snapshots are grouped per tenant (the
// whole-database ones form their own group) and ranked newest first
// (finished_at, then id, descending). In each group a snapshot expires when
// it ranks beyond max_backups or finished more than retention_days * 86400
// seconds before now; the newest of a group never expires, so a policy
// can never leave a tenant without a snapshot. A policy with neither limit
// expires nothing. max_backups <= 0 or retention_days < 0 throws
// Error(22023).
std::vector<int64_t> snapshots_to_expire(std::vector<StoredSnapshot> completed,
                                         const RetentionPolicy& policy, int64_t now);

}  // namespace ptb::core
