// Step 3 of an import (import_job.hpp): the document's row sections matched
// with the tables here; per table, the catalog's facts handed to
// core/table_load, which plans the columns loaded, the key its rows are
// matched on and what a migration changed (docs/import.md).
#include <algorithm>

#include "core/error.hpp"
#include "pg/import_job.hpp"
#include "pg/value_cast.hpp"

namespace ptb::pg {

using nlohmann::json;

namespace {

std::optional<size_t> find_table(const core::Catalog& c, const std::string& schema, const std::string& name) {
  for (size_t i = 0; i < c.tables.size(); ++i)
    if (c.tables[i].schema == schema && c.tables[i].name == name) return i;
  return std::nullopt;
}

}  // namespace

LoadTable* ImportJob::data_table(size_t index) const {
  for (auto* t : data_tables)
    if (t->catalog_index == index) return t;
  return nullptr;
}

LoadTable* ImportJob::data_table(const std::string& oid) const {
  for (auto* t : data_tables)
    if (t->oid == oid) return t;
  return nullptr;
}

int64_t first_int(const SqlResult& r, size_t column) {
  if (r.rows.empty() || r.rows[0].size() <= column || !r.rows[0][column]) return 0;
  return std::stoll(*r.rows[0][column]);
}

std::vector<std::string> describing_columns(const core::StagedTable& t) {
  if (t.has_key()) return t.key;
  return std::vector<std::string>(t.columns.begin(),
                                  t.columns.begin() + std::min<size_t>(t.columns.size(), 4));
}

void match_sections(ImportJob& job) {
  const ImportRequest& request = job.request;
  const core::SnapshotSummary* summary = request.summary;
  const core::TenancyPlan& plan = job.plan;
  const core::Catalog& catalog = plan.catalog();
  const core::ImportMode mode = job.mode;
  const std::optional<std::string>& tenant = job.tenant;
  const bool by_column = job.by_column;
  core::ImportOptions& io = job.io;
  auto& differences = job.differences;
  auto& data_sections = job.data_sections;
  auto& master_sections = job.master_sections;
  auto& filtered_sections = job.filtered_sections;
  auto& recorded_columns = job.recorded_columns;
  auto& tables = job.tables;
  auto& citus = job.citus;
  bool& writes_citus = job.writes_citus;
  // A snapshot taken before a migration: every difference the import can
  // and cannot get through is collected, and those it cannot refuse it
  // together, before anything is staged (core/schema_drift.hpp).
  data_sections = spilled_sections(*summary, *request.spilled, "data");
  master_sections = spilled_sections(*summary, *request.spilled, "master_data");
  filtered_sections = spilled_sections(*summary, *request.spilled, "filtered_rows");
  recorded_columns = recorded_columns_of(summary->schema_tables);
  apply_renames(io.rename, {&data_sections, &master_sections, &filtered_sections}, recorded_columns, differences);
  std::map<TableKey, const Section*> data_by_name;
  for (const auto& s : data_sections) {
    if (!data_by_name.emplace(TableKey{s.schema, s.name}, &s).second)
      throw core::Error(core::sqlstate::kInvalidParameterValue,
                        s.where() + ": table " + table_display(s.schema, s.name) +
                            " has a second data section");
  }
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
    if (caller_selects && find_table(catalog, it->first.first, it->first.second))
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
    if (!find_table(catalog, s.schema, s.name)) {
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
    const auto index = find_table(catalog, s.schema, s.name);
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
    const auto index = find_table(catalog, s.schema, s.name);
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

  for (auto& t : tables) t.oid = catalog.tables[t.catalog_index].oid;
  // Citus tables (docs/citus.md): their SQL reaches the stages through
  // subqueries and keeps to the tenant's shard group.
  std::vector<std::string> all_oids;
  for (const auto& t : tables) all_oids.push_back(t.oid);
  citus = citus_tables(all_oids);
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
  for (auto& t : tables) {
    const core::Table& table = catalog.tables[t.catalog_index];
    const auto index = find_table(job.owner_plan.catalog(), table.schema, table.name);
    if (index)
      t.owner_index = *index;
    else if (t.data)  // (the two plans differ in their soft-delete filter only)
      throw core::Error(core::sqlstate::kInternalError, "pg_tenant_backup: table " +
                                                            table_display(table.schema, table.name) +
                                                            " is not in the tenant's owner plan");
  }
}

void plan_columns_and_keys(ImportJob& job) {
  const core::Catalog& catalog = job.plan.catalog();
  core::UsedTableOptions used;
  std::vector<core::TableLoad> loads;
  loads.reserve(job.tables.size());
  for (auto& t : job.tables) {
    const core::Table& table = catalog.tables[t.catalog_index];
    const Section& s = *t.section;
    core::TableHere here;
    here.table = &table;
    here.display = table_display(table.schema, table.name);
    here.columns = table_columns(t.oid);
    here.keys = unique_keys(t.oid);
    if (t.data && !job.io.fire_triggers) here.referenced_columns = referenced_columns(t.oid);
    core::SectionHere section;
    section.data = t.data;
    section.columns = s.columns;
    section.row_count = s.row_count;
    if (auto r = job.recorded_columns.find({s.schema, s.name}); r != job.recorded_columns.end())
      section.recorded = &r->second;
    auto check_default = [&](const std::optional<std::string>& value, const std::string& type,
                             const std::string& column) {
      const CastOutcome cast = cast_text(value, type);
      if (!cast.ok())
        throw core::Error(cast.sqlstate,
                          "column_defaults gives column \"" + column + "\" of " + here.display +
                              " a value that is not a " + type,
                          cast.reason + ".", "Give the value as the column's type reads it.");
    };
    core::TableLoad load =
        core::plan_table_load(here, section, job.io, job.mode, check_default, job.differences, used);
    // What match_sections learned of the table stays (Citus).
    load.staged.citus = t.staged.citus;
    load.staged.citus_scope = t.staged.citus_scope;
    t.staged = load.staged;
    t.positions = load.positions;
    t.encodings = load.encodings;
    t.needs_value = load.needs_value;
    t.now_not_null = load.now_not_null;
    if (t.data) {
      t.outcome.table = t.staged.display;
      t.outcome.key = t.staged.key;
      t.outcome.key_source = load.key_source;
      t.outcome.rows = s.row_count;
    }
    loads.push_back(std::move(load));
  }
  std::vector<const core::TableLoad*> planned;
  for (const auto& l : loads) planned.push_back(&l);
  core::finish_table_loads(planned, job.io, used, job.differences);
}

}  // namespace ptb::pg
