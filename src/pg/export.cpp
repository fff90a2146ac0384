// backup_export(tenant text, opts jsonb) RETURNS jsonb: a tenant's snapshot
// document as one jsonb value (docs/format.md).
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "pg/backup_log.hpp"
#include "pg/guarded.hpp"
#include "pg/entry_point.hpp"
#include "pg/progress.hpp"
#include "pg/settings.hpp"
#include "pg/snapshot_export.hpp"
#include "pg/spi.hpp"
#include "pg/srf.hpp"

namespace {

using namespace ptb;

// A string sink that refuses to grow past what one jsonb value can hold,
// so an oversized tenant fails early instead of exhausting memory.
class BoundedStringSink : public core::Sink {
 public:
  explicit BoundedStringSink(size_t limit) : limit_(limit) {}
  void write(std::string_view bytes) override {
    if (data_.size() + bytes.size() > limit_) too_large();
    data_.append(bytes);
    pg::progress::add_bytes_written(bytes.size());
  }
  const std::string& data() const { return data_; }

  [[noreturn]] static void too_large() {
    throw core::Error(core::sqlstate::kProgramLimitExceeded, "the snapshot is too large to be returned as one jsonb value",
                      "A jsonb value holds at most 256 MB, and any value at most 1 GB.",
                      "Use backup_create, which streams the snapshot to a file.");
  }

 private:
  size_t limit_;
  std::string data_;
};

std::string counts_json(const pg::ExportStatistics& stats) {
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& t : stats.data_tables) counts[t.table_name] = t.rows;
  return counts.dump();
}

Datum export_snapshot(const std::optional<std::string>& tenant, Jsonb* opts) {
  core::SnapshotOptions options = pg::snapshot_options(pg::opts_document(opts));
  pg::progress::Scope progress(pg::progress::Operation::Export, tenant, pg::progress::Phase::Planning);
  pg::Spi::connect();
  const std::string started = pg::log_clock();
  int level = pg::fix_output_settings();
  pg::TenantSnapshotPlan snapshot = pg::plan_tenant_snapshot(tenant, std::move(options));

  BoundedStringSink sink(MaxAllocSize - 1);
  core::JsonWriter writer(sink);
  pg::ExportStatistics stats = pg::write_snapshot(snapshot, writer);

  pg::LogEntry log;
  log.operation = "export";
  log.tenant = tenant;
  log.status = "completed";
  log.started_at = started;
  log.finished = true;
  log.table_count = static_cast<int64_t>(stats.data_tables.size());
  log.row_count = stats.total_rows;
  log.table_counts = counts_json(stats);
  log.options = core::options_to_json(snapshot.plan.options());
  pg::insert_log(log);
  pg::restore_output_settings(level);
  pg::Spi::finish();

  Datum result = 0;
  try {
    result = pg::jsonb_result(sink.data());
  } catch (const pg::ServerError& e) {
    if (std::string(e.sqlstate()) == core::sqlstate::kProgramLimitExceeded) BoundedStringSink::too_large();
    throw;
  }
  return result;
}

}  // namespace

PTB_SQL_FUNCTION(backup_export) { return export_snapshot(args.string(0), args.jsonb(1)); }
