// backup_import and backup_restore (docs/import.md): a snapshot document is
// staged through PostgreSQL's COPY machinery into temporary tables, checked,
// and applied to its tenant with one set-based statement per table and step,
// all in the caller's transaction.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/change_replay.hpp"
#include "core/import_plan.hpp"
#include "core/options.hpp"
#include "core/snapshot_reader.hpp"
#include "pg/snapshot_sections.hpp"

namespace ptb::pg {

// The rows of a snapshot read as a stream, in a temporary file (spilled_rows.hpp).
class SpilledRows;

// A restore to a moment (change_replay.cpp): once the snapshot's rows are
// staged, `apply` replays the captured changes into the stages; the import
// then removes the staged rows that are not the tenant's (by the tenancy
// plan, the stages standing for the tables) and calls `check`.
struct StageReplay {
  std::function<void(const std::vector<core::ReplayStage>&)> apply;
  std::function<void(const std::vector<core::ReplayStage>&)> check;
};

struct ImportRequest {
  // The snapshot as read_snapshot read it: its summary, and its rows
  // spilled to a temporary file.
  const core::SnapshotSummary* summary = nullptr;
  SpilledRows* spilled = nullptr;
  core::ImportMode mode = core::ImportMode::Merge;
  core::ImportCallOptions caller;  // the call's opts: import keys, and snapshot options over the document's
  // Called once everything is validated, before the first change, with the
  // effective snapshot options and whether the tenant exists in the
  // database now (a restore takes its pre_restore snapshot).
  std::function<void(const core::SnapshotOptions&, bool tenant_exists)> before_changes;
  const StageReplay* replay = nullptr;
  // Set as soon as the document's tenant is known (for the failure log).
  std::optional<std::string>* tenant_out = nullptr;
};

struct ImportOutcome {
  core::ImportReport report;
  nlohmann::json options;  // effective snapshot and import options (backup_logs.options)
  nlohmann::json table_counts = nlohmann::json::object();  // rows per data section
  int64_t total_rows = 0;
};

// Applies the document in the current transaction (the caller runs it in a
// subtransaction). Connects to SPI itself. Takes the tenant's lock first.
ImportOutcome run_import(const ImportRequest& request);

}  // namespace ptb::pg
