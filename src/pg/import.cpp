// run_import: a snapshot document applied to its tenant (docs/import.md).
// The SQL functions that call it are in import_functions.cpp
// (backup_import, backup_import_stored) and restore_functions.cpp
// (backup_restore, backup_restore_to).
//
// The flow of one import, all in a subtransaction of the caller's
// transaction (rolled back for a dry run, or when anything fails):
//   1. (by the caller) read and check the document (format, version, shape)
//      as a stream, the text of a jsonb argument as a stored file; its rows
//      are spilled to a temporary file (spilled_rows.hpp)
//   2. take the tenant's lock (55P03 when taken; tenant_lock.cpp), plan the
//      tenant as the snapshot was taken (the document's options)
//   3. match the document's sections with the tables and columns here
//      (opts.rename: import_renames.cpp; catalog reads: import_catalog.cpp)
//   4. stage every section in a temporary table through COPY
//      (copy_section.cpp); for a restore to a moment, replay the captured
//      changes into the stages
//   5. check before any change: the tenant, duplicate keys, master and
//      reference rows, keys owned by another tenant
//   6. change: one set-based statement per table and step (a table holding
//      none of the tenant's rows: its section copied straight into it)
//   7. check after: foreign keys of the written rows, ownership
//   8. advance sequences
#include "pg/import.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <climits>
#include <cstring>
#include <map>
#include <set>

#include "core/error.hpp"
#include "core/options.hpp"
#include "pg/backup_log.hpp"
#include "pg/boundary.hpp"
#include "pg/citus.hpp"
#include "pg/copy_section.hpp"
#include "pg/import_catalog.hpp"
#include "pg/import_common.hpp"
#include "pg/import_renames.hpp"
#include "pg/progress.hpp"
#include "pg/session.hpp"
#include "pg/setting_levels.hpp"
#include "pg/settings.hpp"
#include "pg/snapshot_export.hpp"
#include "pg/spi.hpp"
#include "pg/subtransaction.hpp"
#include "pg/tenancy.hpp"
#include "pg/tenant_lock.hpp"
#include "pg/value_cast.hpp"

namespace ptb::pg {

namespace {

using nlohmann::json;
using core::quote_ident;

int64_t first_int(const SqlResult& r, size_t column = 0) {
  if (r.rows.empty() || r.rows[0].size() <= column || !r.rows[0][column]) return 0;
  return std::stoll(*r.rows[0][column]);
}

// session_replication_role for the import's writes. When Citus tables are
// written the workers need it too: Citus sends them SET LOCAL statements
// only, and they keep it to the end of the transaction, so it is set back
// to the caller's value there when the writes are done.
struct WriteRole {
  int level = 0;
  bool citus = false;
  std::string previous;
};

WriteRole set_write_role(const char* role, bool citus) {
  WriteRole w;
  w.citus = citus;
  w.previous = setting_value("session_replication_role");
  w.level = set_setting("session_replication_role", role);
  if (citus && w.previous != role) set_local_on_workers("session_replication_role", role);
  return w;
}

void restore_write_role(const WriteRole& w) {
  const std::string now = setting_value("session_replication_role");
  restore_settings(w.level);
  if (w.citus && now != w.previous) set_local_on_workers("session_replication_role", w.previous);
}

// --- Tables of the import ---------------------------------------------------

struct LoadTable {
  const Section* section = nullptr;
  bool data = true;            // a data section (else master or reference rows)
  size_t catalog_index = 0;    // in the plan's catalog
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
};

// Staging tables are named ptb_stage_1, _2, ... afresh for each import:
// they are dropped at its end (or rolled back with it), and names that never
// repeat would fill the backend's catalog caches with entries for names
// looked up once.
uint64_t stage_counter = 0;

// Sets staged.key and key_operators to the unique key with exactly these
// columns; false when the table has none.
bool use_key(core::StagedTable& staged, const std::vector<UniqueKey>& keys,
             const std::vector<std::string>& columns) {
  const std::set<std::string> wanted(columns.begin(), columns.end());
  for (const auto& key : keys) {
    if (std::set<std::string>(key.columns.begin(), key.columns.end()) != wanted ||
        key.columns.size() != columns.size())
      continue;
    staged.key = columns;
    staged.key_operators.clear();
    staged.key_opclasses.clear();
    staged.key_collations.clear();
    for (const auto& c : columns) {
      auto at = std::find(key.columns.begin(), key.columns.end(), c) - key.columns.begin();
      staged.key_operators.push_back(key.operators[at]);
      staged.key_opclasses.push_back(key.opclasses[at]);
      staged.key_collations.push_back(key.collations[at]);
    }
    return true;
  }
  return false;
}

std::string column_list(const std::vector<std::string>& columns) {
  std::string out;
  for (const auto& c : columns) out += (out.empty() ? "" : ", ") + quote_ident(c);
  return out;
}

// What COPY loads of the table's section.
SectionCopy copy_of(const LoadTable& t) {
  return {t.section, t.staged.columns, t.positions, t.encodings, t.staged.display};
}

// Creates the staging table and copies the section's rows into it.
// `unique`: index its key as unique, proving no key is there twice (a
// restore to a moment does not: its replay writes the stage by key).
void stage(LoadTable& t, const SpilledRows& rows, bool unique) {
  const std::string name = "ptb_stage_" + std::to_string(++stage_counter);
  t.staged.stage = "pg_temp." + quote_ident(name);
  // Only the loaded columns, with their types, typmods and collations
  // (domains keep their checks); no defaults, constraints or triggers.
  run("CREATE TEMP TABLE " + t.staged.stage + " ON COMMIT DROP AS SELECT " +
      column_list(t.staged.columns) + " FROM " + t.staged.target + " WITH NO DATA");
  const Oid stage_oid = static_cast<Oid>(
      std::stoul(*run("SELECT $1::pg_catalog.regclass::pg_catalog.oid::pg_catalog.text", {t.staged.stage})
                      .rows.at(0)
                      .at(0)));
  const uint64_t copied = copy_section(copy_of(t), rows, stage_oid);
  if (t.staged.has_key()) {
    // The index sorts within work_mem, as the import's queries do: at
    // maintenance_work_mem, a budget set for maintenance, its sort would
    // hold up to that much for a large tenant (docs/performance.md).
    const std::string sort_kb = std::to_string(sort_memory_kb());
    const int level = set_setting("maintenance_work_mem", sort_kb.c_str());
    t.keys_unique = false;
    if (unique) {
      try {
        in_subtransaction(true, [&] { return run(core::stage_key_index_sql(t.staged, true)); });
        t.keys_unique = true;
      } catch (const ServerError& e) {
        // A key twice: check_staged_keys names it.
        if (e.sqlstate() != std::string_view(core::sqlstate::kUniqueViolation)) throw;
      }
    }
    if (!t.keys_unique) run(core::stage_key_index_sql(t.staged, false));
    restore_settings(level);
  }
  // Statistics, so the checks and writes are planned for the real number of
  // rows: without them the planner guesses a small table and may hash a
  // subplan over it that then grows with the tenant, past work_mem.
  run("ANALYZE " + t.staged.stage);
  if (copied != t.section->row_count)
    throw core::Error(core::sqlstate::kInternalError, "pg_tenant_backup: staged " + std::to_string(copied) + " rows of " +
                                   t.staged.display + ", the snapshot has " +
                                   std::to_string(t.section->row_count));
}

// Copies a data section straight into its table, in a subtransaction of
// its own, then counts the rows it wrote that `membership` (on alias ptb_l;
// none: every row of the table is the tenant's) says are the tenant's.
// False, with nothing written, when the table refuses a row for a unique
// key (a key another tenant's row has, or one the snapshot repeats) or a
// written row is not the tenant's: the caller stages the section then, and
// its checks give the exact reason.
bool load_directly(LoadTable& t, const SpilledRows& rows, const std::optional<std::string>& membership,
                   const std::vector<TextValue>& params) {
  struct NotAllTheTenants {};
  const Oid oid = static_cast<Oid>(std::stoul(t.oid));
  try {
    in_subtransaction(true, [&] {
      const uint64_t copied = copy_section(copy_of(t), rows, oid);
      const std::string xid = writing_transaction();
      t.loaded_xid = xid.empty() ? "0" : xid;  // nothing written: an id no row has
      if (membership && copied > 0) {
        std::vector<TextValue> with_xid = params;
        with_xid.emplace_back(t.loaded_xid);
        const int64_t owned =
            first_int(run(core::count_loaded_rows_sql(t.staged, *membership, static_cast<int>(with_xid.size())),
                          with_xid));
        if (owned != static_cast<int64_t>(copied)) throw NotAllTheTenants{};
      }
      t.outcome.inserted = static_cast<int64_t>(copied);
      t.outcome.loaded_directly = true;
      return true;
    });
    return true;
  } catch (const ServerError& e) {
    if (e.sqlstate() != std::string_view(core::sqlstate::kUniqueViolation)) throw;
  } catch (const NotAllTheTenants&) {
  }
  t.loaded_xid.clear();
  t.outcome.inserted = 0;
  return false;
}

// A restore to a moment: the captured changes go into the stages, then
// every staged row that is not the tenant's then (a row of another tenant
// an update touched, a child whose parent left) is removed, judged by the
// tenancy plan with the stages standing for the tables. Soft-deleted rows
// count as the tenant's: the moment is restored as it was.
void replay_into_stages(const StageReplay& replay, const std::vector<LoadTable*>& tables,
                        const core::Catalog& catalog, const core::TenancyPlan& owner_plan,
                        const std::vector<TextValue>& params) {
  std::vector<core::ReplayStage> stages;
  std::vector<std::pair<size_t, std::string>> relations;
  for (const auto* t : tables) {
    core::ReplayStage s;
    s.schema = catalog.tables[t->catalog_index].schema;
    s.name = catalog.tables[t->catalog_index].name;
    s.display = t->staged.display;
    s.stage = t->staged.stage;
    s.key = t->staged.key;
    s.key_operators = t->staged.key_operators;
    std::map<std::string, std::string> types;
    for (const auto& row : run("SELECT a.attname::pg_catalog.text, pg_catalog.format_type(a.atttypid, a.atttypmod)"
                               "  FROM pg_catalog.pg_attribute a"
                               " WHERE a.attrelid = $1::pg_catalog.regclass AND a.attnum > 0 AND NOT a.attisdropped",
                               {t->staged.stage})
                             .rows)
      types[*row[0]] = *row[1];
    for (const auto& c : t->staged.columns) {
      s.columns.push_back(c);
      s.types.push_back(types.at(c));
    }
    stages.push_back(std::move(s));
    const core::Table& table = catalog.tables[t->catalog_index];
    for (size_t i = 0; i < owner_plan.catalog().tables.size(); ++i)
      if (owner_plan.catalog().tables[i].schema == table.schema && owner_plan.catalog().tables[i].name == table.name)
        relations.emplace_back(i, t->staged.stage);
  }
  replay.apply(stages);
  if (owner_plan.uses_tenant_parameter()) {
    const core::TenancyPlan over = owner_plan.reading_from(relations);
    for (const auto& [index, stage] : relations) {
      std::string owned = over.membership_sql(index, "t0");
      if (std::string orphan = over.orphan_sql(index, "t0"); !orphan.empty())
        owned = "(" + owned + ") OR (" + orphan + ")";
      run("DELETE FROM " + stage + " t0 WHERE NOT COALESCE((" + owned + "), false)", params);
    }
  }
  for (auto* t : tables) {
    run("ANALYZE " + t->staged.stage);
    t->outcome.rows = first_int(run("SELECT pg_catalog.count(*) FROM " + t->staged.stage));
  }
  replay.check(stages);
}

// The columns describing a row in messages: the key, else a few columns.
std::vector<std::string> describing_columns(const core::StagedTable& t) {
  if (t.has_key()) return t.key;
  return std::vector<std::string>(t.columns.begin(),
                                  t.columns.begin() + std::min<size_t>(t.columns.size(), 4));
}

// Sequences owned by loaded columns (serial and identity) move up to the
// highest value loaded, never down. (After a direct load, the highest value
// in the table: no lower than the highest loaded, and read from its index
// when the column has one.)
void advance_sequences(const LoadTable& t) {
  constexpr const char* kSql = R"SQL(
SELECT a.attname, d.objid::pg_catalog.regclass::pg_catalog.text, s.seqincrement::pg_catalog.text
  FROM pg_catalog.pg_depend d
  JOIN pg_catalog.pg_sequence s ON s.seqrelid = d.objid
  JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
 WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
   AND d.refobjid = $1::pg_catalog.oid AND d.deptype IN ('a', 'i')
 ORDER BY 1)SQL";
  for (const auto& row : run(kSql, {t.oid}).rows) {
    const std::string& column = *row[0];
    if (std::find(t.staged.columns.begin(), t.staged.columns.end(), column) == t.staged.columns.end())
      continue;
    const std::string& sequence = *row[1];
    const bool ascending = std::stoll(*row[2]) > 0;
    auto loaded = run("SELECT " + std::string(ascending ? "pg_catalog.max" : "pg_catalog.min") + "(ptb_s." +
                      quote_ident(column) + ")::pg_catalog.int8::pg_catalog.text FROM " +
                      (t.direct ? t.staged.only_target() : t.staged.stage) + " ptb_s");
    if (loaded.rows.empty() || !loaded.rows[0][0]) continue;
    const std::string extreme = *loaded.rows[0][0];
    // The value nextval would hand out next: from the last one it gave, or,
    // when it was never called (or reset), by asking it for one.
    auto last = run("SELECT pg_catalog.pg_sequence_last_value($1::pg_catalog.regclass)"
                    "       OPERATOR(pg_catalog.+) $2::pg_catalog.int8",
                    {sequence, *row[2]});
    std::string next;
    if (!last.rows.empty() && last.rows[0][0])
      next = *last.rows[0][0];
    else
      next = *run("SELECT pg_catalog.nextval($1::pg_catalog.regclass)::pg_catalog.text", {sequence})
                  .rows.at(0).at(0);
    run(std::string("SELECT pg_catalog.setval($1::pg_catalog.regclass, $2::pg_catalog.int8, true) WHERE ") +
            (ascending ? "$2::pg_catalog.int8 OPERATOR(pg_catalog.>=) $3::pg_catalog.int8"
                       : "$2::pg_catalog.int8 OPERATOR(pg_catalog.<=) $3::pg_catalog.int8"),
        {sequence, extreme, next});
  }
}

}  // namespace

[[noreturn]] void not_the_tenants(const LoadTable& t, const std::string& row,
                                  const std::optional<std::string>& tenant) {
  throw core::Error(core::sqlstate::kInvalidParameterValue,
                    "row " + t.staged.display + " " + row + " of the snapshot would not belong to " +
                        quoted_tenant(tenant),
                    "Its tenant column or owning foreign key points at another tenant. Nothing "
                    "was changed.",
                    "A snapshot changes only its own tenant's rows: check that the document was "
                    "not edited, and that the tenancy options are those it was taken with.");
}

namespace {

// The referenced table of a foreign key, as a stage-driven check reads it:
// empty (the table itself), or for a Citus table a subquery (the tenant's
// rows when the import writes that table, else the whole table).
std::string referenced_rows(const ForeignKey& fk, const std::vector<LoadTable>& tables,
                            const std::map<std::string, CitusTable>& citus) {
  if (!citus.count(fk.to_oid)) return {};
  for (const auto& t : tables)
    if (t.data && t.oid == fk.to_oid) return t.staged.target_rows();
  return "(SELECT * FROM " + std::string(fk.check.to_partitioned ? "" : "ONLY ") + fk.check.to_table +
         " ptb_c OFFSET 0)";
}

// session_replication_role = replica switches off every trigger, key checks
// and audit triggers included: a superuser-only setting. An import sets it
// only for a caller who could have done as much itself: a superuser, or
// the owner of every table written (who may disable its triggers).
core::TriggerDecision decide_triggers(bool requested, const std::vector<LoadTable>& tables, bool citus) {
  if (requested) return {true, "requested (fire_triggers)"};
  if (is_superuser()) return {false, "skipped (session_replication_role = replica): the caller is a superuser"};
  // The Citus workers take the setting only from a superuser.
  if (citus)
    return {true, "fired: the import writes Citus tables, and only a superuser can switch triggers off "
                  "on the Citus workers"};
  std::vector<std::string> oids;
  for (const auto& t : tables)
    if (t.data) oids.push_back(t.oid);
  const auto not_owned = run(
      "SELECT c.oid::pg_catalog.regclass::pg_catalog.text FROM pg_catalog.pg_class c"
      " WHERE c.oid OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.oid[])"
      "   AND NOT pg_catalog.pg_has_role(c.relowner, 'USAGE')"
      " ORDER BY c.oid::pg_catalog.regclass::pg_catalog.text LIMIT 1",
      {"{" + [&] {
         std::string list;
         for (const auto& o : oids) list += (list.empty() ? "" : ",") + o;
         return list;
       }() + "}"});
  if (not_owned.rows.empty())
    return {false, "skipped (session_replication_role = replica): the caller owns every table written"};
  return {true, "fired: the caller is not a superuser and does not own table " +
                    not_owned.rows[0][0].value_or("?") +
                    ", so the import cannot switch its triggers off"};
}

}  // namespace

ImportOutcome run_import(const ImportRequest& request) {
  const auto started = std::chrono::steady_clock::now();
  const core::SnapshotSummary* summary = request.summary;
  const std::optional<std::string> tenant = summary->tenant_id;
  if (request.tenant_out != nullptr) *request.tenant_out = tenant;
  progress::set_tenant(tenant);

  // Options: the settings and the caller's; the snapshot's own only narrow
  // them (core::import_snapshot_options). Keys a later release of format 1
  // may add are ignored.
  const auto recorded = summary->metadata.find("options");
  core::SnapshotOptions options = core::import_snapshot_options(
      settings_snapshot_options(), recorded != summary->metadata.end() ? *recorded : json::object(),
      request.caller.opts);
  const core::ImportMode mode = request.mode;
  core::ImportOptions io = request.caller.import;  // fire_triggers may be forced on below

  Spi::connect();
  stage_counter = 0;
  const int output_level = fix_output_settings();
  lock_tenant(tenant, options);
  TenantSnapshotPlan snapshot = plan_tenant_snapshot(tenant, options, false);
  const core::TenancyPlan& plan = snapshot.plan;
  const core::Catalog& catalog = plan.catalog();
  const auto params = tenant_parameters(snapshot);
  const bool by_column = plan.uses_tenant_parameter();
  // Which rows are the tenant's whatever their soft-delete column says:
  // a snapshot row may bring back a row soft-deleted since. (In schema
  // tenancy too: a replace compares it with the plan, section 6.)
  std::optional<TenantSnapshotPlan> owner_snapshot;
  if (!plan.options().include_deleted && !plan.options().soft_delete_column.empty()) {
    core::SnapshotOptions owner_options = plan.options();
    owner_options.include_deleted = true;
    owner_snapshot = plan_tenant_snapshot(tenant, owner_options, false);
  }
  const core::TenancyPlan& owner_plan = owner_snapshot ? owner_snapshot->plan : plan;
  auto catalog_index = [](const core::Catalog& c, const std::string& schema,
                          const std::string& name) -> std::optional<size_t> {
    for (size_t i = 0; i < c.tables.size(); ++i)
      if (c.tables[i].schema == schema && c.tables[i].name == name) return i;
    return std::nullopt;
  };

  // --- 3. Sections and tables.
  // A snapshot taken before a migration: every difference the import can
  // and cannot get through is collected, and those it cannot refuse it
  // together, before anything is staged (core/schema_drift.hpp).
  std::vector<core::SchemaDifference> differences;
  std::vector<Section> data_sections = spilled_sections(*summary, *request.spilled, "data");
  std::vector<Section> master_sections = spilled_sections(*summary, *request.spilled, "master_data");
  std::vector<Section> filtered_sections = spilled_sections(*summary, *request.spilled, "filtered_rows");
  RecordedColumns recorded_columns = recorded_columns_of(summary->schema_tables);
  apply_renames(io.rename, {&data_sections, &master_sections, &filtered_sections}, recorded_columns, differences);
  std::map<TableKey, const Section*> data_by_name;
  for (const auto& s : data_sections) {
    if (!data_by_name.emplace(TableKey{s.schema, s.name}, &s).second)
      throw core::Error(core::sqlstate::kInvalidParameterValue,
                        s.where() + ": table " + table_display(s.schema, s.name) +
                            " has a second data section");
  }
  std::vector<LoadTable> tables;  // data tables in load order, then master and reference rows
  for (const auto& p : plan.tables()) {
    if (p.role == core::TableRole::Master) continue;
    const core::Table& t = catalog.tables[p.table];
    auto it = data_by_name.find({t.schema, t.name});
    if (it == data_by_name.end()) continue;
    LoadTable lt;
    lt.section = it->second;
    lt.catalog_index = p.table;
    tables.push_back(std::move(lt));
    data_by_name.erase(it);
  }
  // Sections of tables the caller's table options leave out are skipped.
  const bool caller_selects = request.caller.selects_tables;
  for (auto it = data_by_name.begin(); it != data_by_name.end();) {
    if (caller_selects && catalog_index(catalog, it->first.first, it->first.second))
      it = data_by_name.erase(it);
    else
      ++it;
  }
  // A table the caller leaves out (its own tables, exclude_tables) that is
  // gone here: skipped, and said so. (The settings' exclude_tables do not
  // skip a section: a table they name is not the tenant's to import.)
  const core::SnapshotOptions& caller = request.caller.caller_tables;
  auto left_out = [&](const std::string& schema, const std::string& name) {
    if (!caller_selects) return false;
    const auto listed = [&](const std::vector<core::QualifiedName>& list) {
      return std::any_of(list.begin(), list.end(), [&](const core::QualifiedName& n) { return n.matches(schema, name); });
    };
    return listed(caller.exclude_tables) || (caller.tables && !listed(*caller.tables));
  };
  for (const auto& [key, section] : data_by_name) {
    const Section& s = *section;
    const std::string display = table_display(s.schema, s.name);
    if (!catalog_index(catalog, s.schema, s.name)) {
      if (left_out(s.schema, s.name)) {
        differences.push_back({display, "", "table_skipped",
                               "no such table here; its section is left out (tables, exclude_tables)", ""});
        continue;
      }
      differences.push_back({display, "", "table_missing",
                             "no such table here (dropped or renamed), and the snapshot has " +
                                 std::to_string(s.row_count) + (s.row_count == 1 ? " row" : " rows") + " of it",
                             core::sqlstate::kUndefinedTable});
      continue;
    }
    differences.push_back({display, "", "table_missing",
                           "not a table of " + quoted_tenant(tenant) + " here: with the snapshot's options (" +
                               std::string(core::to_string(plan.options().tenancy)) + " tenancy, schemas " +
                               json(plan.options().schemas).dump() +
                               ") it is not a tenant or child table, or the options leave it out",
                           core::sqlstate::kUndefinedTable});
  }
  for (const auto& s : master_sections) {
    const auto index = catalog_index(catalog, s.schema, s.name);
    if (!index) {
      if (left_out(s.schema, s.name)) continue;
      differences.push_back({table_display(s.schema, s.name), "", "table_missing",
                             "no such table here: " + s.where() + " records " +
                                 (s.role == "reference" ? "rows" : "master rows") +
                                 " of it that the tenant's rows reference",
                             core::sqlstate::kUndefinedTable});
      continue;
    }
    LoadTable lt;
    lt.section = &s;
    lt.data = false;
    lt.catalog_index = *index;
    tables.push_back(std::move(lt));
  }
  // The keys of the rows the snapshot's soft-delete filter left out
  // (filtered_rows), for the tables imported: a replace leaves those rows
  // alone. Keys that cannot be matched would let it delete them, so a
  // section without the table's primary key is refused, in every mode.
  for (const auto& s : filtered_sections) {
    const auto index = catalog_index(catalog, s.schema, s.name);
    const bool imported = index && std::any_of(tables.begin(), tables.end(), [&](const LoadTable& d) {
                            return d.data && d.catalog_index == *index;
                          });
    if (!imported) continue;
    const std::vector<std::string>& primary_key = catalog.tables[*index].primary_key;
    for (const auto& k : primary_key)
      if (std::find(s.columns.begin(), s.columns.end(), k) == s.columns.end())
        throw core::Error(core::sqlstate::kInvalidParameterValue,
                          s.where() + " (" + table_display(s.schema, s.name) +
                              ") lacks a column of the table's primary key",
                          "Its rows are the keys of rows the snapshot's soft-delete filter left out: (" +
                              column_list(primary_key) + ").",
                          "Import the snapshot as it was written.");
    if (mode == core::ImportMode::Replace) {
      LoadTable lt;
      lt.section = &s;
      lt.data = false;
      lt.catalog_index = *index;
      tables.push_back(std::move(lt));
    }
  }

  for (auto& t : tables) {
    const core::Table& table = catalog.tables[t.catalog_index];
    t.oid = *run("SELECT c.oid::pg_catalog.text FROM pg_catalog.pg_class c"
                 "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                 " WHERE n.nspname = $1 AND c.relname = $2",
                 {table.schema, table.name})
                 .rows.at(0)
                 .at(0);
  }
  // Citus tables (docs/citus.md): their SQL reaches the stages through
  // subqueries and keeps to the tenant's shard group.
  std::vector<std::string> all_oids;
  for (const auto& t : tables) all_oids.push_back(t.oid);
  const std::map<std::string, CitusTable> citus = citus_tables(all_oids);
  bool writes_citus = false;
  for (auto& t : tables) {
    auto c = citus.find(t.oid);
    if (c == citus.end()) continue;
    t.staged.citus = true;
    t.citus_reference = c->second.reference;
    writes_citus = writes_citus || t.data;
    if (t.data && c->second.hash_distributed && by_column) {
      const size_t index = t.catalog_index;
      t.staged.citus_scope = [&plan, index](std::string_view alias) {
        return plan.membership_sql(index, std::string(alias));
      };
      const std::string& column = c->second.distribution_column;
      const auto& tenant_table = plan.tenant_table();
      t.distributed_by_tenant = tenant_table && tenant_table->table == index
                                    ? column == tenant_table->key_column
                                    : column == plan.options().tenant_column &&
                                          catalog.tables[index].find_column(column) != nullptr;
    }
  }
  const core::TriggerDecision triggers = decide_triggers(io.fire_triggers, tables, writes_citus);
  // Citus refuses a write to a reference table after a parallel write to
  // the distributed tables that reference it in one transaction (a
  // whole-database import): its writes run one shard at a time then. A
  // tenant's writes go to one shard group anyway.
  const int citus_mode_level = writes_citus ? set_setting("citus.multi_shard_modify_mode", "sequential") : -1;
  io.fire_triggers = triggers.fired;

  std::set<core::QualifiedName> used_key_columns, used_column_defaults;
  for (auto& t : tables) {
    const core::Table& table = catalog.tables[t.catalog_index];
    const Section& s = *t.section;
    t.staged.display = table_display(table.schema, table.name);
    t.staged.target = core::quote_qualified(table.schema, table.name);
    t.staged.partitioned = table.partitioned;
    const auto columns = table_columns(t.oid);
    const auto keys = unique_keys(t.oid);
    const auto doc_columns = recorded_columns.find({s.schema, s.name});

    // The key rows are matched on: the one named in key_columns, else the
    // primary key, else the table's identity key (identity_key).
    std::vector<std::string> key = table.primary_key;
    std::string key_source = key.empty() ? "" : "primary key";
    bool named = false;
    if (t.data) {
      for (const auto& [name, key_columns] : io.key_columns)
        if (name.matches(table.schema, table.name)) {
          key = key_columns;
          key_source = "key_columns";
          named = true;
          used_key_columns.insert(name);
        }
    }
    if (key.empty())
      if (auto identity = identity_key(keys, key_source)) key = identity->columns;
    for (const auto& k : key) {
      if (std::find(s.columns.begin(), s.columns.end(), k) != s.columns.end()) continue;
      if (!t.data || (!named && table.primary_key.empty())) {
        // Master rows without their key cannot be looked up; a snapshot
        // without the columns of an identity key is matched as if the
        // table had none.
        key.clear();
        key_source.clear();
        break;
      }
      throw core::Error(core::sqlstate::kInvalidParameterValue,
                        "the snapshot has no column \"" + k + "\" of the key of " + t.staged.display,
                        "Rows are matched on (" + column_list(key) + ").",
                        named ? "Name columns the snapshot has in key_columns." : "");
    }

    for (size_t i = 0; i < s.columns.size(); ++i) {
      const std::string& name = s.columns[i];
      auto c = columns.find(name);
      if (c == columns.end()) {
        if (!t.data) continue;  // a master section's other columns are not read
        if (io.ignore_unknown_columns)
          differences.push_back({t.staged.display, name, "column_dropped",
                                 "no such column here; its values are left out (ignore_unknown_columns)", ""});
        else
          differences.push_back({t.staged.display, name, "column_dropped",
                                 "no such column here (dropped or renamed), and the snapshot has values for it",
                                 core::sqlstate::kUndefinedColumn});
        continue;
      }
      if (c->second.generated) continue;  // computed again on load
      if (!t.data && std::find(key.begin(), key.end(), name) == key.end()) continue;
      t.staged.columns.push_back(name);
      t.positions.push_back(static_cast<int>(i));
      const RecordedColumn* was = nullptr;
      if (doc_columns != recorded_columns.end())
        if (auto f = doc_columns->second.find(name); f != doc_columns->second.end()) was = &f->second;
      const core::Column* now = table.find_column(name);
      std::optional<core::ValueEncoding> e = was ? was->encoding : std::nullopt;
      if (!e && now) e = now->encoding;
      t.encodings.push_back(e.value_or(core::ValueEncoding::Text));
      if (c->second.identity_always) t.staged.fixed_columns.push_back(name);
      if (was == nullptr || now == nullptr) continue;  // a document that records no types
      switch (was->type.empty() ? core::TypeChange::Same : core::classify_type_change(was->type, now->type)) {
        case core::TypeChange::Same:
          break;
        case core::TypeChange::Lossless:
          differences.push_back({t.staged.display, name, "type_changed",
                                 "from " + was->type + " to " + now->type + ": every value is kept", ""});
          break;
        case core::TypeChange::Lossy:
          differences.push_back({t.staged.display, name, "type_changed",
                                 "from " + was->type + " to " + now->type +
                                     ": values could be rounded, cut or read differently, so they are not converted",
                                 core::sqlstate::kDatatypeMismatch});
          break;
      }
      if (t.data && !was->not_null && c->second.not_null) t.now_not_null.push_back(name);
    }
    // Columns the snapshot has no values for: rows inserted get the value
    // of column_defaults, else the column's default, else NULL; a NOT NULL
    // column without either can take no inserted row.
    if (t.data) {
      const std::map<std::string, std::optional<std::string>>* given = nullptr;
      for (const auto& [name, values] : io.column_defaults)
        if (name.matches(table.schema, table.name)) {
          given = &values;
          used_column_defaults.insert(name);
        }
      for (const auto& [name, info] : columns) {
        const bool in_snapshot = std::find(s.columns.begin(), s.columns.end(), name) != s.columns.end();
        std::optional<std::optional<std::string>> value;  // set: column_defaults names the column
        if (given)
          if (auto it = given->find(name); it != given->end()) value = it->second;
        const bool has_value = value.has_value();
        if (in_snapshot || info.generated) {
          if (has_value)
            throw core::Error(core::sqlstate::kInvalidParameterValue,
                              "column_defaults gives a value for column \"" + name + "\" of " + t.staged.display +
                                  (info.generated ? ", a generated column" : ", which the snapshot has values for"),
                              {}, "Give values only for columns the snapshot lacks.");
          continue;
        }
        const core::Column* column = table.find_column(name);
        if (has_value) {
          const CastOutcome cast = cast_text(*value, column->type);
          if (!cast.ok())
            throw core::Error(cast.sqlstate,
                              "column_defaults gives column \"" + name + "\" of " + t.staged.display +
                                  " a value that is not a " + column->type,
                              cast.reason + ".", "Give the value as the column's type reads it.");
          t.staged.inserted_values.emplace_back(
              name, "CAST(" + (*value ? core::quote_literal(**value) : std::string("NULL")) +
                        " AS " + column->type + ")");
          differences.push_back({t.staged.display, name, "column_added",
                                 "rows inserted get " + (*value ? "\"" + **value + "\"" : std::string("NULL")) +
                                     " (column_defaults)",
                                 ""});
        } else if (info.has_default) {
          differences.push_back({t.staged.display, name, "column_added", "rows inserted get its default", ""});
        } else if (!info.not_null) {
          differences.push_back({t.staged.display, name, "column_added", "rows inserted get NULL", ""});
        } else {
          t.needs_value.push_back(name);
        }
      }
      if (given)
        for (const auto& [name, v] : *given)
          if (!columns.count(name))
            throw core::Error(core::sqlstate::kUndefinedColumn,
                              "column_defaults names column \"" + name + "\", which " + t.staged.display +
                                  " does not have");
    }
    if (!key.empty() && !use_key(t.staged, keys, key)) {
      if (named)
        throw core::Error(core::sqlstate::kInvalidParameterValue,
                          "key_columns (" + column_list(key) + ") of " + t.staged.display +
                              " are not a unique key of the table",
                          {},
                          "Name the columns of its primary key or of a unique constraint or index "
                          "that is not partial and not deferrable.");
      key.clear();
      key_source.clear();
    }
    if (t.data && !t.staged.has_key() && mode != core::ImportMode::Replace)
      throw core::Error(core::sqlstate::kInvalidParameterValue,
                        "table " + t.staged.display + " has no key: " + std::string(core::to_string(mode)) +
                            " cannot match its rows",
                        "It has no primary key, no replica identity index and no unique index over "
                        "NOT NULL columns.",
                        "Name a unique key in opts, {\"key_columns\": {\"" + table.name +
                            "\": [\"column\"]}}, add a primary key, or use mode replace.");
    if (t.data) {
      t.outcome.table = t.staged.display;
      t.outcome.key = t.staged.key;
      t.outcome.key_source = key_source;
      t.outcome.rows = s.row_count;
      // Without fire_triggers the server does not check foreign keys as rows
      // are written: a column other rows reference (other than the key the
      // rows are matched on) is never changed, so no reference is left
      // dangling unchecked.
      if (!io.fire_triggers)
        for (const auto& row : run("SELECT DISTINCT a.attname FROM pg_catalog.pg_constraint con"
                                   " CROSS JOIN LATERAL unnest(con.confkey) AS k(attnum)"
                                   " JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid"
                                   "  AND a.attnum = k.attnum"
                                   " WHERE con.contype = 'f' AND con.confrelid = $1::pg_catalog.oid",
                                   {t.oid})
                                   .rows) {
          const std::string& column = *row[0];
          auto& fixed = t.staged.fixed_columns;
          if (std::find(t.staged.key.begin(), t.staged.key.end(), column) == t.staged.key.end() &&
              std::find(fixed.begin(), fixed.end(), column) == fixed.end())
            fixed.push_back(column);
        }
    }
  }
  for (const auto& [name, columns] : io.key_columns)
    if (!used_key_columns.count(name))
      throw core::Error(core::sqlstate::kInvalidParameterValue,
                        "key_columns names \"" + name.to_string() + "\", which is not a table of the snapshot");
  for (const auto& [name, values] : io.column_defaults)
    if (!used_column_defaults.count(name))
      throw core::Error(core::sqlstate::kInvalidParameterValue,
                        "column_defaults names \"" + name.to_string() + "\", which is not a table the import loads");
  // Refused together; a column that needs a value counts too then, as the
  // rows may need it (they are not read when the import stops here).
  auto needs_value_difference = [](const LoadTable& t, const std::string& column, const std::string& rows) {
    return core::SchemaDifference{t.staged.display, column, "column_added",
                                  "added NOT NULL without a default, and the snapshot has no values for it: " + rows +
                                      " a value (column_defaults)",
                                  core::sqlstate::kNotNullViolation};
  };
  if (std::any_of(differences.begin(), differences.end(), [](const auto& d) { return d.refused(); }))
    for (const auto& t : tables)
      for (const auto& column : t.needs_value)
        differences.push_back(needs_value_difference(t, column, "rows inserted need"));
  core::refuse_schema_differences(differences);

  // Lookups of one row by the tenant (Spi::probe says why sequential
  // scans are off, and JIT with them).
  const int probe_level = set_setting("enable_seqscan", "off");
  (void)set_setting("jit", "off");
  // The tenant exists here, or (checked once staged) the snapshot brings its
  // row back.
  const bool tenant_exists = !by_column || !run(plan.tenant_lookup_sql(), params).rows.empty();

  // Sections that load straight into their table (core::loads_directly).
  {
    for (auto& t : tables) {
      if (!t.data) continue;
      const core::Table& table = catalog.tables[t.catalog_index];
      core::DirectLoadFacts facts;
      facts.has_key = t.staged.has_key();
      facts.restoring_to_moment = request.replay != nullptr;
      facts.migrates = !t.staged.inserted_values.empty() || !t.needs_value.empty() || !t.now_not_null.empty();
      const auto& tenant_table = plan.tenant_table();
      facts.brings_back_tenant = !tenant_exists && tenant_table && tenant_table->table == t.catalog_index;
      const Oid oid = static_cast<Oid>(std::stoul(t.oid));
      facts.plain_table = is_plain_table(oid) && !t.staged.citus && !t.staged.partitioned;
      // As COPY FROM itself asks (the staged path's INSERT is checked by the
      // executor).
      facts.may_insert = may_insert(oid);
      if (facts.has_key && facts.plain_table && facts.may_insert) {
        const auto index = catalog_index(owner_plan.catalog(), table.schema, table.name);
        facts.tenant_has_rows =
            !index || !run("SELECT 1 FROM " + t.staged.only_target() + " t0 WHERE " +
                               owner_plan.membership_sql(*index, "t0") + " LIMIT 1",
                           params)
                           .rows.empty();
      }
      t.direct = core::loads_directly(facts);
    }
  }
  restore_settings(probe_level);

  // --- 4. Stage.
  progress::set_phase(progress::Phase::Staging,
                      std::count_if(tables.begin(), tables.end(),
                                    [](const LoadTable& t) { return !t.direct && (t.data || t.staged.has_key()); }));
  for (auto& t : tables)
    if (!t.direct && (t.data || t.staged.has_key())) {
      stage(t, *request.spilled, request.replay == nullptr);
      progress::table_done();
    }
  if (request.replay) {
    progress::set_phase(progress::Phase::Replaying, std::nullopt, true);
    std::vector<LoadTable*> staged_data;
    for (auto& t : tables)
      if (t.data) staged_data.push_back(&t);
    replay_into_stages(*request.replay, staged_data, catalog, owner_plan, params);
  }

  // --- 5. Checks before any change.
  progress::set_phase(progress::Phase::Validating);
  std::vector<LoadTable*> data_tables;
  for (auto& t : tables)
    if (t.data) data_tables.push_back(&t);
  // Statistics autovacuum has not caught up with (a tenant emptied or
  // restored moments ago: they say it has no rows) plan the checks' joins
  // as nested loops that read the tenant's rows once per staged row, hours
  // for a large tenant (docs/performance.md, "A plan from stale
  // statistics"). Then steps 5 to 7 run without nested loops: hash and
  // merge joins, whose cost follows the rows, whatever their estimates.
  // (Catalog reads come before: they need nested loops.)
  std::vector<std::string> data_oids;
  for (auto* t : data_tables) data_oids.push_back(t->oid);
  const std::vector<ForeignKey> data_foreign_keys = foreign_keys(data_oids);
  std::vector<std::string> table_oids;
  for (const auto& t : tables) table_oids.push_back(t.oid);
  const int join_level = statistics_are_stale(table_oids) ? set_setting("enable_nestloop", "off") : -1;
  // Across a migration, what the rows decide: a column added NOT NULL
  // without a default takes no inserted row, one made NOT NULL no NULL.
  std::vector<core::SchemaDifference> row_differences;
  for (auto* t : data_tables) {
    const int64_t inserted = t->needs_value.empty() ? 0 : first_int(run(core::count_missing_sql(t->staged), params));
    for (const auto& column : t->needs_value) {
      if (inserted == 0)
        differences.push_back({t->staged.display, column, "column_added",
                               "added NOT NULL without a default; no row is inserted, so none needs a value", ""});
      else
        row_differences.push_back(needs_value_difference(
            *t, column,
            std::to_string(inserted) + (inserted == 1 ? " row the import inserts needs" : " rows the import inserts need")));
    }
    for (const auto& column : t->now_not_null) {
      const int64_t nulls = first_int(
          run("SELECT pg_catalog.count(*) FROM " + t->staged.stage + " WHERE " + quote_ident(column) + " IS NULL"));
      if (nulls != 0)
        row_differences.push_back({t->staged.display, column, "now_not_null",
                                   "NOT NULL now, and " + std::to_string(nulls) +
                                       (nulls == 1 ? " row of the snapshot has" : " rows of the snapshot have") +
                                       " NULL there",
                                   core::sqlstate::kNotNullViolation});
    }
  }
  core::refuse_schema_differences(row_differences);

  auto find_data = [&](size_t index) -> LoadTable* {
    for (auto* t : data_tables)
      if (t->catalog_index == index) return t;
    return nullptr;
  };

  if (!tenant_exists) {
    bool brought = false;
    std::string where;
    if (const auto& tt = plan.tenant_table()) {
      where = "No row of " + table_display(catalog.tables[tt->table].schema, catalog.tables[tt->table].name) +
              " has " + tt->key_column + " = " + *tenant;
      if (LoadTable* t = find_data(tt->table);
          t != nullptr && std::find(t->staged.columns.begin(), t->staged.columns.end(), tt->key_column) !=
                              t->staged.columns.end()) {
        const core::Column* key = catalog.tables[tt->table].find_column(tt->key_column);
        std::string op = "OPERATOR(pg_catalog.=)";
        if (t->staged.key == std::vector<std::string>{tt->key_column}) op = t->staged.key_operators[0];
        brought = !run("SELECT 1 FROM " + t->staged.stage + " ptb_s WHERE ptb_s." + quote_ident(tt->key_column) +
                           " " + op + " CAST($1 AS " + key->type + ") LIMIT 1",
                       params)
                       .rows.empty();
      }
      where += brought ? "" : ", and the snapshot does not have that row.";
    } else {
      for (auto* t : data_tables) brought = brought || t->outcome.rows > 0;
      where = "No tenant table has a row with " + plan.options().tenant_column + " = " + *tenant +
              ", and the snapshot has no rows.";
    }
    if (!brought)
      throw core::Error(core::sqlstate::kUndefinedObject, "tenant \"" + *tenant + "\" does not exist",
                        where, "Import a snapshot into the database it was taken from, or create the tenant first.");
  }

  // A staged section's keys: none twice in the snapshot, none taken by a
  // row that is not the tenant's.
  auto check_staged_keys = [&](LoadTable* t) {
    if (!t->staged.has_key()) return;
    auto dup = t->keys_unique ? SqlResult{} : run(core::duplicate_keys_sql(t->staged));
    if (!dup.rows.empty())
      throw core::Error(core::sqlstate::kUniqueViolation,
                        "the snapshot has more than one row of " + t->staged.display + " with " +
                            dup.rows[0][0].value_or(""),
                        t->section->where() + " repeats a key the rows are matched on.");
    if (!by_column) return;
    const auto index = catalog_index(owner_plan.catalog(), catalog.tables[t->catalog_index].schema,
                                     catalog.tables[t->catalog_index].name);
    // Orphans (blobs no attachment references any more) are nobody's:
    // the snapshot may take them back.
    std::string owned = owner_plan.membership_sql(*index, "t0");
    const std::string orphan = owner_plan.orphan_sql(*index, "t0");
    if (!orphan.empty()) owned = "(" + owned + ") OR (" + orphan + ")";
    // A table Citus distributes by the tenant: its keys hold the
    // distribution column, so only a staged row of another tenant can
    // take another tenant's key. Checked on the stage alone, so the
    // import never reads the other tenants' shards.
    if (t->distributed_by_tenant) {
      auto stray = run(core::stray_staged_sql(t->staged, owner_plan.membership_sql(*index, "t0")), params);
      if (!stray.rows.empty()) not_the_tenants(*t, stray.rows[0][0].value_or(""), tenant);
      return;
    }
    // For a table whose rows say whose they are, the same join counts the
    // rows an insert would add: none, and a merge skips its insert.
    const bool row_alone = owner_plan.membership_reads_only_the_row(*index) && orphan.empty();
    const std::string owners = t->staged.citus || !row_alone ? std::string() : core::key_owners_sql(t->staged, owned);
    auto taken = run(owners.empty() ? core::foreign_owner_sql(t->staged, owned) : owners, params);
    if (!owners.empty()) {
      t->new_rows = first_int(taken, 1);
      if (!taken.rows.at(0).at(0)) taken.rows.clear();
    }
    if (!taken.rows.empty())
      throw core::Error(core::sqlstate::kUniqueViolation,
                        "row " + t->staged.display + " " + taken.rows[0][0].value_or("") +
                            " of the snapshot belongs to another tenant in this database",
                        "Its key is taken by a row that is not " + quoted_tenant(tenant) + "'s.",
                        "An import changes only its own tenant's rows: import a snapshot into the "
                        "database it was taken from.");
  };
  for (auto* t : data_tables)
    if (!t->direct) check_staged_keys(t);
  for (auto& t : tables) {
    if (t.data || !t.staged.has_key() || t.section->part == "filtered_rows") continue;
    auto missing = run(core::missing_rows_sql(t.staged), params);
    const int64_t count = first_int(missing);
    if (count == 0) continue;
    const std::string first = missing.rows[0][1].value_or("");
    const bool reference = t.section->role == "reference";
    throw core::Error(
        core::sqlstate::kForeignKeyViolation,
        (reference ? "row " + t.staged.display + " " + first +
                         ", which the snapshot's rows reference, does not exist in this database"
                   : "master row " + t.staged.display + " " + first +
                         " of the snapshot does not exist in this database"),
        std::to_string(count) + (count == 1 ? " row" : " rows") + " of " + t.staged.display +
            (reference ? " (another tenant's, or outside the snapshot)" : "") +
            " that the tenant's rows reference " + (count == 1 ? "is" : "are") +
            " missing; the first is shown. Nothing was changed.",
        reference ? "Create the missing rows first: an import checks that the rows the tenant's "
                    "rows point at exist, it never creates them."
                  : "Create the missing master rows first: an import checks that the master data "
                    "the tenant's rows point at exists, it never creates it.");
  }
  // Citus cannot update or delete rows of a reference table from the
  // staging tables: an import that would is refused before any change.
  for (auto* t : data_tables) {
    if (!t->citus_reference || mode == core::ImportMode::InsertOnly) continue;
    int64_t differ = 0;
    if (const std::string count = core::count_differing_sql(t->staged); !count.empty())
      differ = first_int(run(count, params));
    int64_t doomed = 0;
    if (mode == core::ImportMode::Replace && !t->unrecorded)
      doomed = first_int(run("SELECT pg_catalog.count(*) FROM " + t->staged.only_target() + " ptb_t WHERE " +
                                 core::doomed_sql(t->staged, "ptb_t", plan.membership_sql(t->catalog_index, "ptb_t")),
                             params));
    if (differ == 0 && doomed == 0) {
      t->citus_reference_unchanged = true;
      continue;
    }
    throw core::Error(core::sqlstate::kFeatureNotSupported,
                      "the import would change rows of " + t->staged.display +
                          ", a Citus reference table, which Citus does not update from an import",
                      std::to_string(differ) + " of its rows differ from the snapshot's and " +
                          std::to_string(doomed) + " would be removed. Nothing was changed.",
                      "Give those rows the snapshot's values yourself (a reference table is shared by "
                      "every node), or import with mode insert_only; docs/citus.md.");
  }

  if (request.before_changes) request.before_changes(plan.options(), tenant_exists);

  // --- 6. Changes.
  // Inserts and updates run with session_replication_role = replica unless
  // fire_triggers: user triggers and rules do not rewrite restored rows.
  // Foreign keys are not checked by the server then; step 7 checks them.
  // Each table in load order (referenced tables first): update the rows
  // that differ (merge, replace); replace: remove the tenant's rows the
  // snapshot lacks, in one statement; insert the rows that are missing.
  const char* write_role = io.fire_triggers ? "origin" : "replica";
  // The transactions the staged tables' updates and inserts wrote in (one,
  // the import's subtransaction, as they run today).
  std::set<std::string> writers;
  auto note_writer = [&](int64_t written) {
    if (written == 0) return;
    if (std::string xid = writing_transaction(); !xid.empty()) writers.insert(xid);
  };
  if (mode != core::ImportMode::InsertOnly) {
    progress::set_phase(progress::Phase::Updating, static_cast<int64_t>(data_tables.size()));
    const WriteRole role = set_write_role(write_role, writes_citus);
    for (auto* t : data_tables) {
      if (std::string sql = core::update_existing_sql(t->staged);
          !sql.empty() && !t->citus_reference_unchanged && !t->direct) {
        t->outcome.updated = static_cast<int64_t>(run(sql, params).processed);
        note_writer(t->outcome.updated);
      }
      progress::add_rows(t->outcome.updated);
      progress::table_done();
    }
    restore_write_role(role);
  }
  if (mode == core::ImportMode::Replace) {
    progress::set_phase(progress::Phase::Deleting, std::nullopt, true);
    // Deletes run as origin, so foreign keys and their actions apply.
    const WriteRole role = set_write_role("origin", writes_citus);
    // Rows a replace leaves alone although the snapshot lacks them
    // (docs/import.md, "Soft-deleted rows"): those whose key it records in
    // filtered_rows (its soft-delete filter left them out) or as reference
    // rows (its rows point at them). A snapshot that does not record its
    // filtered rows leaves every such row of the tables its filter reaches.
    std::map<size_t, std::vector<const core::StagedTable*>> spared;
    for (const auto& t : tables)
      if (!t.data && t.staged.has_key() &&
          (t.section->role == "reference" || t.section->part == "filtered_rows"))
        spared[t.catalog_index].push_back(&t.staged);
    if (!summary->records_filtered_rows && owner_snapshot)
      for (auto* t : data_tables) {
        const core::Table& table = catalog.tables[t->catalog_index];
        const auto index = catalog_index(owner_plan.catalog(), table.schema, table.name);
        // (A table without a key is replaced whole: keeping its rows
        // would double them.)
        t->unrecorded = index && t->staged.has_key() &&
                        owner_plan.membership_sql(*index, "ptb_t") != plan.membership_sql(t->catalog_index, "ptb_t");
      }
    auto doomed_of = [&](const LoadTable& t, const std::string& alias) -> std::string {
      if (t.unrecorded || t.direct) return "false";  // (a direct load's table has none of the tenant's rows)
      return core::doomed_sql(t.staged, alias, plan.membership_sql(t.catalog_index, alias),
                              spared[t.catalog_index]);
    };
    std::vector<std::string> doomed;
    for (auto* t : data_tables) {
      doomed.push_back(doomed_of(*t, "ptb_t"));
      if (t->direct) continue;
      auto count = [&](const std::string& where) {
        return first_int(
            run("SELECT pg_catalog.count(*) FROM " + t->staged.only_target() + " ptb_t WHERE " + where, params));
      };
      t->doomed = t->unrecorded ? 0 : count(doomed.back());
      if (!t->unrecorded && spared[t->catalog_index].empty()) continue;
      const int64_t kept =
          count(core::doomed_sql(t->staged, "ptb_t", plan.membership_sql(t->catalog_index, "ptb_t"))) - t->doomed;
      (t->unrecorded ? t->outcome.kept_unrecorded : t->outcome.kept_soft_deleted) = kept;
    }
    const auto& fks = data_foreign_keys;
    for (const auto& fk : fks) {
      LoadTable* to = nullptr;
      LoadTable* from = nullptr;
      for (auto* t : data_tables) {
        if (t->oid == fk.to_oid) to = t;
        if (t->oid == fk.from_oid) from = t;
      }
      if (to == nullptr || to->doomed == 0) continue;
      const std::string to_doomed = doomed_of(*to, "ptb_d");
      const std::string from_doomed = from ? doomed_of(*from, "ptb_x") : "false";
      core::ForeignKeyCheck check = fk.check;
      check.from_key = from ? describing_columns(from->staged) : primary_key_of(fk.from_oid);
      if (check.from_key.empty()) check.from_key = check.from_columns;
      const auto to_key = to->staged.has_key() ? to->staged.key : check.to_columns;
      auto blocked = run(core::blocked_delete_sql(check, to_doomed, to_key, from_doomed), params);
      if (!blocked.rows.empty())
        throw core::Error(
            core::sqlstate::kForeignKeyViolation,
            "cannot remove row " + to->staged.display + " " + blocked.rows[0][1].value_or("") + " of " +
                quoted_tenant(tenant) + ": row " + check.from_display + " " +
                blocked.rows[0][0].value_or("") + " still references it",
            "A replace removes the tenant's rows that the snapshot does not have; the row of " +
                check.from_display + " stays (it is outside the tenant or the snapshot) and references "
                "it through foreign key " + check.name + ". Nothing was changed.",
            "Delete or change that row first (if it belongs to another tenant, that tenant's row must "
            "go first), then run the import again.");
    }
    std::vector<const core::StagedTable*> deleting;
    std::vector<std::string> predicates;
    std::vector<LoadTable*> deleted;
    for (size_t i = 0; i < data_tables.size(); ++i)
      if (data_tables[i]->doomed > 0) {
        deleting.push_back(&data_tables[i]->staged);
        predicates.push_back(doomed[i]);
        deleted.push_back(data_tables[i]);
      }
    if (!deleting.empty()) {
      auto counts = run(core::delete_doomed_sql(deleting, predicates), params);
      for (size_t i = 0; i < deleted.size(); ++i) {
        deleted[i]->outcome.deleted = first_int(counts, i);
        progress::add_rows(deleted[i]->outcome.deleted);
      }
    }
    restore_write_role(role);
  }
  {
    progress::set_phase(progress::Phase::Inserting, static_cast<int64_t>(data_tables.size()));
    const WriteRole role = set_write_role(write_role, writes_citus);
    for (auto* t : data_tables) {
      std::optional<std::string> membership;
      if (t->direct && by_column) {
        const core::Table& table = catalog.tables[t->catalog_index];
        membership = owner_plan.membership_sql(*catalog_index(owner_plan.catalog(), table.schema, table.name), "ptb_l");
      }
      const int64_t rows_before = progress::rows_done();
      if (t->direct && load_directly(*t, *request.spilled, membership, params)) {
        progress::table_done();
        continue;
      }
      if (t->direct) {
        // The table refused the rows or a loaded row is not the tenant's:
        // staged and checked as any other section, for the exact error.
        // (The rows the feed counted were rolled back: not counted twice.)
        t->direct = false;
        stage(*t, *request.spilled, request.replay == nullptr);
        progress::set_rows_done(rows_before);
        check_staged_keys(t);
      }
      // No new key before the changes, and none since: a merge without
      // triggers (its updates never change a key, and no trigger or rule
      // runs) or insert_only (which changed nothing) has nothing to insert.
      const bool nothing_new = t->new_rows == 0 && (mode == core::ImportMode::InsertOnly ||
                                                    (mode == core::ImportMode::Merge && !io.fire_triggers));
      if (!nothing_new) {
        t->outcome.inserted = static_cast<int64_t>(run(core::insert_missing_sql(t->staged), params).processed);
        note_writer(t->outcome.inserted);
      }
      progress::add_rows(t->outcome.inserted);
      progress::table_done();
    }
    restore_write_role(role);
  }
  if (mode == core::ImportMode::InsertOnly) {
    // Rows insert_only skips are never written, but a snapshot that says
    // they belong elsewhere is refused as in the other modes.
    if (by_column)
      for (auto* t : data_tables) {
        const auto index = catalog_index(owner_plan.catalog(), catalog.tables[t->catalog_index].schema,
                                         catalog.tables[t->catalog_index].name);
        if (t->direct) continue;
        auto stray = run(core::stray_staged_sql(t->staged, owner_plan.membership_sql(*index, "t0")), params);
        if (!stray.rows.empty()) not_the_tenants(*t, stray.rows[0][0].value_or(""), tenant);
      }
    for (auto* t : data_tables)
      if (!t->direct) run(core::drop_skipped_sql(t->staged), params);
  }

  // --- 7. Checks after the changes.
  progress::set_phase(progress::Phase::Validating);
  // After a merge without triggers, a staged row the import did not write
  // is as step 5 found it: the tenant's, its references checked by the
  // server when it was written. It stays so while the rows it depends on
  // keep the columns it depends on: nothing is deleted, and an update never
  // changes the key it matched on or a column other rows reference. So
  // where every row a row depends on is found through such columns (or in
  // a table the import did not update), the checks read only the rows the
  // import wrote (their xmin), not every staged row (docs/import.md, step 7).
  const bool only_written_changed = mode == core::ImportMode::Merge && !io.fire_triggers;
  std::vector<TextValue> written_params = params;
  std::string writer_ids;
  for (const auto& xid : writers) writer_ids += (writer_ids.empty() ? "" : ",") + xid;
  written_params.emplace_back("{" + writer_ids + "}");
  const int written_param = static_cast<int>(written_params.size());
  // Whether the rows of `to` that `to_columns` find are the ones they found
  // before the changes (maybe more): columns of its key or fixed ones (a
  // referenced column, step 3), which its update does not set.
  auto keeps_referenced = [&](const LoadTable* to, const std::vector<std::string>& to_columns) {
    if (to == nullptr || to->direct) return true;  // not updated
    if (to->staged.citus) return false;
    const auto& key = to->staged.key;
    const auto& fixed = to->staged.fixed_columns;
    return std::all_of(to_columns.begin(), to_columns.end(), [&](const std::string& c) {
      return std::find(key.begin(), key.end(), c) != key.end() ||
             std::find(fixed.begin(), fixed.end(), c) != fixed.end();
    });
  };
  if (!io.fire_triggers) {
    for (const auto& fk : data_foreign_keys) {
      LoadTable* from = nullptr;
      LoadTable* to = nullptr;
      for (auto* t : data_tables) {
        if (t->oid == fk.from_oid) from = t;
        if (t->oid == fk.to_oid) to = t;
      }
      if (from == nullptr) continue;
      core::ForeignKeyCheck check = fk.check;
      check.to_rows = referenced_rows(fk, tables, citus);
      // A direct load's rows are read where they were written.
      std::vector<TextValue> check_params = params;
      std::string rows = from->staged.stage;
      if (!from->direct && only_written_changed && !from->staged.citus &&
          keeps_referenced(to, fk.check.to_columns)) {
        check_params = written_params;
        rows = core::written_rows_sql(from->staged, written_param);
      } else if (from->direct) {
        check_params.emplace_back(from->loaded_xid);
        const core::Table& table = catalog.tables[from->catalog_index];
        rows = core::loaded_rows_sql(
            from->staged,
            by_column ? owner_plan.membership_sql(*catalog_index(owner_plan.catalog(), table.schema, table.name), "ptb_l")
                      : std::string(),
            static_cast<int>(check_params.size()));
      }
      const std::string sql =
          core::dangling_reference_sql(check, rows, from->staged.columns, describing_columns(from->staged));
      if (sql.empty()) continue;
      auto dangling = run(sql, check_params);
      if (!dangling.rows.empty())
        throw core::Error(core::sqlstate::kForeignKeyViolation,
                          "row " + from->staged.display + " " + dangling.rows[0][0].value_or("") +
                              " of the snapshot references " + fk.check.to_display + " " +
                              dangling.rows[0][1].value_or("") + ", which does not exist",
                          "Foreign key " + fk.check.name + ". Nothing was changed.",
                          "Create the missing row first (or import a snapshot that has it).");
    }
  }
  if (by_column) {
    std::map<size_t, const LoadTable*> by_owner_index;
    for (auto* t : data_tables)
      if (const auto index = catalog_index(owner_plan.catalog(), catalog.tables[t->catalog_index].schema,
                                           catalog.tables[t->catalog_index].name))
        by_owner_index[*index] = t;
    // A row whose membership is its owning keys up to the tenant column
    // stays the tenant's while each row up that chain is found by the same
    // key and the rows the import wrote are the tenant's.
    auto keeps_owners = [&](size_t index) {
      const auto chain = owner_plan.membership_chain(index);
      if (!chain) return false;
      for (size_t f : *chain) {
        const core::ForeignKey& fk = owner_plan.catalog().foreign_keys[f];
        const auto to = by_owner_index.find(fk.to);
        if (!keeps_referenced(to == by_owner_index.end() ? nullptr : to->second, fk.to_columns)) return false;
      }
      return true;
    };
    for (auto* t : data_tables) {
      const auto index = catalog_index(owner_plan.catalog(), catalog.tables[t->catalog_index].schema,
                                       catalog.tables[t->catalog_index].name);
      if (t->direct) continue;  // counted as it was loaded
      const std::string owned = owner_plan.membership_sql(*index, "t0");
      const bool written_only = only_written_changed && !t->staged.citus && t->staged.has_key() &&
                                owner_plan.orphan_sql(*index, "t0").empty() && keeps_owners(*index);
      auto stray = written_only ? run(core::written_not_owned_sql(t->staged, owned, written_param), written_params)
                                : run(core::not_owned_sql(t->staged, owned), params);
      if (!stray.rows.empty()) not_the_tenants(*t, stray.rows[0][0].value_or(""), tenant);
    }
  }

  if (join_level >= 0) restore_settings(join_level);

  // --- 8. Sequences (not rolled back: none in a dry run).
  if (!io.dry_run)
    for (auto* t : data_tables) advance_sequences(*t);

  std::string drop;
  for (const auto& t : tables)
    if (!t.staged.stage.empty()) drop += (drop.empty() ? "" : ", ") + t.staged.stage;
  if (!drop.empty()) run("DROP TABLE " + drop);

  ImportOutcome outcome;
  outcome.report.mode = mode;
  outcome.report.dry_run = io.dry_run;
  outcome.report.triggers = triggers;
  outcome.report.tenant = tenant;
  outcome.report.schema_differences = differences;
  for (auto* t : data_tables) {
    outcome.report.tables.push_back(t->outcome);
    outcome.table_counts[t->staged.display] = t->outcome.rows;
    outcome.total_rows += t->outcome.rows;
  }
  outcome.options = json::parse(core::options_to_json(plan.options()));
  outcome.options.update(core::import_options_json(mode, io));
  if (citus_mode_level >= 0) restore_settings(citus_mode_level);
  restore_output_settings(output_level);
  Spi::finish();
  outcome.report.duration_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  return outcome;
}

}  // namespace ptb::pg
