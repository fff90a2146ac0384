// Step 3 of an import (import_job.hpp): the document's row sections matched
// with the tables here, and per table the columns loaded, the key its rows
// are matched on and what a migration changed (docs/import.md).
#include <algorithm>

#include "core/error.hpp"
#include "pg/import_job.hpp"
#include "pg/value_cast.hpp"

namespace ptb::pg {

using nlohmann::json;
using core::quote_ident;

namespace {

std::optional<size_t> find_table(const core::Catalog& c, const std::string& schema, const std::string& name) {
  for (size_t i = 0; i < c.tables.size(); ++i)
    if (c.tables[i].schema == schema && c.tables[i].name == name) return i;
  return std::nullopt;
}

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

}  // namespace

std::string column_list(const std::vector<std::string>& columns) {
  std::string out;
  for (const auto& c : columns) out += (out.empty() ? "" : ", ") + quote_ident(c);
  return out;
}

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

core::SchemaDifference needs_value_difference(const LoadTable& t, const std::string& column,
                                              const std::string& rows) {
  return core::SchemaDifference{t.staged.display, column, "column_added",
                                "added NOT NULL without a default, and the snapshot has no values for it: " + rows +
                                    " a value (column_defaults)",
                                core::sqlstate::kNotNullViolation};
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
  const core::ImportMode mode = job.mode;
  const core::ImportOptions& io = job.io;
  auto& differences = job.differences;
  auto& recorded_columns = job.recorded_columns;
  auto& tables = job.tables;
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
  if (std::any_of(differences.begin(), differences.end(), [](const auto& d) { return d.refused(); }))
    for (const auto& t : tables)
      for (const auto& column : t.needs_value)
        differences.push_back(needs_value_difference(t, column, "rows inserted need"));
  core::refuse_schema_differences(differences);
}

}  // namespace ptb::pg
