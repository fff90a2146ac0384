// Writes a tenant's snapshot document (docs/format.md) to a JsonWriter,
// streaming every table's rows from one snapshot through a DestReceiver.
// Shared by backup_export (jsonb result) and backup_create (file).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json_writer.hpp"
#include "pg/tenancy.hpp"

namespace ptb::pg {

inline constexpr int kFormatVersion = 1;
inline constexpr const char* kFormatName = "pg_tenant_backup";

struct TableRowCount {
  std::string table_name;  // display name, schema-qualified
  std::string role;
  int64_t rows = 0;
};

struct ExportStatistics {
  std::vector<TableRowCount> data_tables;    // tenant and child tables
  std::vector<TableRowCount> master_tables;  // master and reference rows
  // filtered_rows: the keys of rows the soft-delete filter left out
  bool records_filtered_rows = false;
  std::vector<TableRowCount> filtered_tables;
  int64_t total_rows = 0;                    // rows in data
  std::string snapshot_xmin;                 // metadata.transactions.xmin
};

// Fixes the output settings that value texts depend on (DateStyle,
// IntervalStyle, TimeZone, extra_float_digits, bytea_output) and
// search_path (pg_catalog, then pg_temp) at a new GUC nesting level. Call it before
// reading the catalog, so type names are qualified the same way always. restore_output_settings() puts the caller's values back
// on success; on an error the (sub)transaction abort does. Not RAII on
// purpose: restoring calls the server, which destructors must not.
int fix_output_settings();
void restore_output_settings(int nest_level);

// Writes the whole document. Needs an open SPI connection; every query runs
// in the calling statement's snapshot.
ExportStatistics write_snapshot(const TenantSnapshotPlan& snapshot, core::JsonWriter& writer);

}  // namespace ptb::pg
