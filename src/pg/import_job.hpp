// One import as its steps see it (run_import, import.cpp): the tables it
// loads and what every step reads or adds. Each step is a file of its own:
//   3. import_tables.cpp     the document's sections matched with tables, columns and keys
//   4. import_stage.cpp      stages and direct loads; import_replay.cpp for a restore to a moment
//   5. import_checks.cpp     the checks before any change
//   6. import_changes.cpp    updates, the replace's deletes, inserts
//   7. import_verify.cpp     the checks after the changes
//   8. import_sequences.cpp  sequences moved up past the rows loaded
// Triggers and session_replication_role: import_triggers.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/import_plan.hpp"
#include "core/schema_drift.hpp"
#include "core/tenancy.hpp"
#include "core/unchanged_rows.hpp"
#include "pg/citus.hpp"
#include "pg/import.hpp"
#include "pg/catalog_reader.hpp"
#include "pg/import_common.hpp"
#include "pg/import_renames.hpp"
#include "pg/snapshot_sections.hpp"

namespace ptb::pg {

class FingerprintFile;


struct LoadTable {
  const Section* section = nullptr;
  bool data = true;            // a data section (else master or reference rows)
  size_t catalog_index = 0;    // in the plan's catalog
  size_t owner_index = 0;      // in the owner plan's catalog (ImportJob::owner_plan)
  std::string oid;
  core::StagedTable staged;
  std::vector<int> positions;  // per loaded column, its index in the section's rows
  std::vector<core::ValueEncoding> encodings;
  core::TableOutcome outcome;
  int64_t doomed = 0;          // replace: the tenant's rows the snapshot lacks
  // Across a migration: columns added NOT NULL without a default that the
  // snapshot has no values for, and columns that became NOT NULL; the rows
  // decide whether the import can get through (checked once staged).
  std::vector<std::string> needs_value;
  std::vector<std::string> now_not_null;
  // replace of a snapshot that does not record the rows its soft-delete
  // filter left out (before 0.2.0), for a table the filter reaches: the
  // rows it lacks may be such rows, so none is deleted (docs/import.md).
  bool unrecorded = false;
  // Citus distributes the table by the column that says whose a row is
  // (the tenant column; the tenant table's key): every key of the table
  // holds it.
  bool distributed_by_tenant = false;
  bool citus_reference = false;  // a Citus reference table (pg/citus.hpp)
  bool citus_reference_unchanged = false;  // ... whose rows the import leaves as they are
  // Copied straight into the table, without a stage (core::loads_directly);
  // `loaded_xid`: the transaction that wrote its rows.
  bool direct = false;
  std::string loaded_xid;
  // The stage's unique index proved no key is in it twice.
  bool keys_unique = false;
  // How many staged rows have a key the table lacked before any change
  // (core::key_owners_sql); unknown for a table that query does not serve.
  std::optional<int64_t> new_rows;
  // A merge's snapshot rows the table had as they are, left out of the
  // stage (import_unchanged.cpp).
  uint64_t left_out = 0;
  // The rows COPY wrote into the stage.
  uint64_t staged_rows = 0;
};


struct ImportJob {
  ImportJob(const ImportRequest& request, const core::TenancyPlan& plan, const core::TenancyPlan& owner_plan)
      : request(request), plan(plan), owner_plan(owner_plan) {}

  const ImportRequest& request;
  // The tenancy plan, and the one that says which rows are the tenant's
  // whatever their soft-delete column says (the plan itself when it has
  // no soft-delete filter).
  const core::TenancyPlan& plan;
  const core::TenancyPlan& owner_plan;
  bool filters_soft_deleted = false;  // owner_plan is not plan
  core::ImportMode mode = core::ImportMode::Merge;
  core::ImportOptions io;  // fire_triggers as decided (import_triggers.cpp)
  std::optional<std::string> tenant;
  std::vector<TextValue> params;  // the tenancy plan's parameters
  bool by_column = false;         // the plan reads its tenant parameter
  core::TriggerDecision triggers;
  core::ImportSteps steps;  // what the mode does, once triggers are decided

  // Step 3: the document's row sections (LoadTable::section points into
  // them), the tables in load order (data tables, then master and
  // reference rows, then filtered keys), and what differs from the snapshot.
  std::vector<Section> data_sections, master_sections, filtered_sections;
  RecordedColumns recorded_columns;
  std::vector<LoadTable> tables;
  std::vector<core::SchemaDifference> differences;
  std::map<std::string, CitusTable> citus;  // by oid
  bool writes_citus = false;

  bool tenant_exists = true;  // its row is here (or the plan has no tenant row)
  // Steps 4 to 7 (read before step 4).
  std::vector<LoadTable*> data_tables;
  std::vector<ForeignKey> data_foreign_keys;  // on or to a data table
  // Before step 4, a table's statistics changed since its last ANALYZE by
  // more rows than make autovacuum analyze it: joins run without nested
  // loops (import.cpp).
  bool statistics_stale = false;
  // The transactions the updates and inserts of staged tables wrote in.
  std::set<std::string> writers;
  uint64_t stages_made = 0;  // ptb_stage_1, _2, ... (import_stage.cpp)

  // The data table at catalog index `index` of the plan; nullptr if none.
  LoadTable* data_table(size_t index) const;
  // The data table with this pg_class oid; nullptr if none.
  LoadTable* data_table(const std::string& oid) const;
  // The owner plan's membership of the table's rows on `alias`.
  std::string owned_sql(const LoadTable& t, const std::string& alias) const {
    return owner_plan.membership_sql(t.owner_index, alias);
  }
};

// --- Shared by the steps ---------------------------------------------------

// import_tables.cpp: a count's value; the columns describing a row in
// messages (the key, else a few columns).
int64_t first_int(const SqlResult& r, size_t column = 0);
using core::column_list;
std::vector<std::string> describing_columns(const core::StagedTable& t);
// import_checks.cpp: ERROR 22023, a row of the snapshot would not be the
// tenant's (core::row_not_the_tenants).
[[noreturn]] void not_the_tenants(const LoadTable& t, const std::string& row,
                                  const std::optional<std::string>& tenant);
// Step 3 (import_tables.cpp). Sections matched with the tables here (a
// section with no table is a difference); oids and Citus tables read.
void match_sections(ImportJob& job);
// Per table: the columns loaded, the key rows are matched on, the
// migration's differences; refuses those the import cannot get through.
void plan_columns_and_keys(ImportJob& job);

// Step 4 (import_stage.cpp). Which data sections go straight into their
// table (core::loads_directly); stages the others (restore to a moment:
// replays into them).
void choose_direct_loads(ImportJob& job);
void stage_sections(ImportJob& job);
// Stages one section (step 6: a direct load the table refused).
void stage(ImportJob& job, LoadTable& t);
// Copies a data section straight into its table and counts the rows it
// wrote that are the tenant's; false, with nothing written, when the table
// refuses a row or one is not the tenant's (the caller stages it then).
bool load_directly(ImportJob& job, LoadTable& t);
// A restore to a moment: the captured changes replayed into the stages
// (import_replay.cpp).
void replay_into_stages(ImportJob& job);

// A merge's rows the table has as they are (import_unchanged.cpp): how
// many parts the section is compared in when it may leave them out of its
// stage (core::leaves_out_unchanged_rows), else 0.
uint32_t unchanged_row_parts(ImportJob& job, const LoadTable& t);
// The tenant's rows of the table as fingerprints, one part at a time, in
// order: the table is read once, for the first part; the other parts'
// fingerprints wait in temporary files meanwhile.
class TenantsRows {
 public:
  TenantsRows(ImportJob& job, const LoadTable& t, uint32_t parts);
  ~TenantsRows();
  core::TableRows part(core::KeyPart part);

 private:
  ImportJob& job_;
  const LoadTable& t_;
  // The fingerprints one part may hold (of the import's memory budget).
  const uint64_t rows_per_part_;
  std::vector<std::unique_ptr<FingerprintFile>> later_;  // per part; none for the first
};

// Step 5 (import_checks.cpp).
void check_before_changes(ImportJob& job);
// A staged section's keys: none twice, none another tenant's row has.
void check_staged_keys(ImportJob& job, LoadTable& t);

// Step 6 (import_changes.cpp).
void write_changes(ImportJob& job);

// Step 7 (import_verify.cpp).
void check_after_changes(ImportJob& job);
// Whether step 7 reads only the rows the import wrote, not every staged
// row, to check a foreign key's references, or a table's rows' owner.
bool references_checked_on_written_rows(const ImportJob& job, const ForeignKey& fk);
bool owner_checked_on_written_rows(const ImportJob& job, const LoadTable& t);

// Step 8 (import_sequences.cpp).
void advance_sequences(const LoadTable& t);

// import_triggers.cpp. Whether the writes fire triggers (the caller's
// fire_triggers, or what the caller may switch off).
core::TriggerDecision decide_triggers(const ImportJob& job);
// session_replication_role for the import's writes. When Citus tables are
// written the workers need it too: Citus sends them SET LOCAL statements
// only, and they keep it to the end of the transaction, so it is set back
// to the caller's value there when the writes are done.
struct WriteRole {
  int level = 0;
  bool citus = false;
  std::string previous;
};
WriteRole set_write_role(const char* role, bool citus);
void restore_write_role(const WriteRole& w);

}  // namespace ptb::pg
