// backup_stats(tenant text, opts jsonb) RETURNS TABLE(table_name, role, row_count):
// what a tenant's snapshot would contain, counted in one snapshot.
#include <optional>
#include <string>
#include <vector>

#include "pg/boundary.hpp"
#include "pg/entry_point.hpp"
#include "pg/settings.hpp"
#include "pg/snapshot_export.hpp"
#include "pg/spi.hpp"
#include "pg/srf.hpp"
#include "pg/tenancy.hpp"

namespace {

struct TableCount {
  std::string table_name;
  std::string role;
  int64_t row_count;
};

std::vector<TableCount> count_snapshot_rows(const std::optional<std::string>& tenant,
                                            Jsonb* opts) {
  using namespace ptb;
  using namespace ptb::pg;
  core::SnapshotOptions options = snapshot_options(opts_document(opts));
  Spi::connect();
  int level = fix_output_settings();
  TenantSnapshotPlan snapshot = plan_tenant_snapshot(tenant, std::move(options));
  const auto params = tenant_parameters(snapshot);
  std::vector<TableCount> counts;
  for (const auto& planned : snapshot.plan.tables()) {
    auto rows = Spi::query(snapshot.plan.count_sql(planned), params);
    counts.push_back({display_name(snapshot.plan.catalog().tables[planned.table]),
                      std::string(core::to_string(planned.role)), std::stoll(*rows.at(0).at(0))});
  }
  restore_output_settings(level);
  Spi::finish();
  return counts;
}

}  // namespace

PTB_SQL_FUNCTION(backup_stats) {
  auto counts = count_snapshot_rows(args.string(0), args.jsonb(1));
  ptb::pg::MaterializedResult result(args.call());
  for (const auto& c : counts)
    result.add_row({ptb::pg::SqlValue::text(c.table_name), ptb::pg::SqlValue::text(c.role),
                    ptb::pg::SqlValue::int8(c.row_count)});
  return args.void_result();
}

// backup_coverage(tenant text, opts jsonb) RETURNS TABLE(table_name, role, reason):
// every user table of the database and where it stands for the snapshot.
namespace {

std::vector<ptb::core::TableCoverage> plan_coverage(const std::optional<std::string>& tenant,
                                                   Jsonb* opts) {
  using namespace ptb;
  using namespace ptb::pg;
  core::SnapshotOptions options = snapshot_options(opts_document(opts));
  Spi::connect();
  TenantSnapshotPlan snapshot = plan_tenant_snapshot(tenant, std::move(options), true, false);
  std::vector<core::TableCoverage> out = snapshot.plan.coverage();
  Spi::finish();
  return out;
}

}  // namespace

PTB_SQL_FUNCTION(backup_coverage) {
  auto coverage = plan_coverage(args.string(0), args.jsonb(1));
  ptb::pg::MaterializedResult result(args.call());
  for (const auto& c : coverage) {
    ptb::core::Table t;
    t.schema = c.schema;
    t.name = c.name;
    result.add_row({ptb::pg::SqlValue::text(ptb::pg::display_name(t)),
                    ptb::pg::SqlValue::text(std::string(ptb::core::to_string(c.coverage))),
                    ptb::pg::SqlValue::text(c.reason)});
  }
  return args.void_result();
}
