// opts.rename: what a snapshot records of its tables' columns, and the
// renames applied to its sections and to those records (docs/import.md).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/import_plan.hpp"
#include "core/schema_drift.hpp"
#include "core/table_load.hpp"
#include "core/value_encoding.hpp"
#include "pg/import_common.hpp"
#include "pg/snapshot_sections.hpp"

namespace ptb::pg {

// What schema.tables records of each column (core::RecordedColumn).
using core::RecordedColumn;
using RecordedColumns = std::map<TableKey, std::map<std::string, RecordedColumn>>;

// Read from the snapshot's schema.tables; anything of another shape is
// left out.
RecordedColumns recorded_columns_of(const nlohmann::json& schema_tables);

// opts.rename applied to the sections and to what the snapshot records of
// their columns: from here on the import sees this database's names. Each
// entry must rename something of the snapshot.
void apply_renames(const core::RenameMap& rename, std::vector<std::vector<Section>*> parts,
                   RecordedColumns& recorded, std::vector<core::SchemaDifference>& differences);

}  // namespace ptb::pg
