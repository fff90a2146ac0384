#include "core/table_load.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/names.hpp"

namespace ptb::core {

namespace {

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// Sets staged.key and its operators, classes and collations to the unique
// key with exactly these columns; false when the table has none.
bool use_key(StagedTable& staged, const std::vector<UniqueKey>& keys, const std::vector<std::string>& columns) {
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

std::optional<UniqueKey> identity_key(const std::vector<UniqueKey>& keys, std::string& source) {
  for (const auto& key : keys)
    if (key.replica_identity && key.not_null) {
      source = "replica identity index " + quote_ident(key.index);
      return key;
    }
  const UniqueKey* best = nullptr;
  for (const auto& key : keys)
    if (key.not_null && (best == nullptr || key.columns.size() < best->columns.size() ||
                         (key.columns.size() == best->columns.size() && key.index < best->index)))
      best = &key;
  if (best == nullptr) return std::nullopt;
  source = "unique index " + quote_ident(best->index);
  return *best;
}

SchemaDifference needs_value_difference(const std::string& table, const std::string& column,
                                        const std::string& rows) {
  return SchemaDifference{table, column, "column_added",
                          "added NOT NULL without a default, and the snapshot has no values for it: " + rows +
                              " a value (column_defaults)",
                          sqlstate::kNotNullViolation};
}

TableLoad plan_table_load(const TableHere& here, const SectionHere& s, const ImportOptions& io, ImportMode mode,
                          const DefaultValueCheck& check_default, std::vector<SchemaDifference>& differences,
                          UsedTableOptions& used) {
  const Table& table = *here.table;
  const auto& columns = here.columns;
  TableLoad t;
  t.staged.display = here.display;
  t.staged.target = quote_qualified(table.schema, table.name);
  t.staged.partitioned = table.partitioned;

  // The key rows are matched on: the one named in key_columns, else the
  // primary key, else the table's identity key (identity_key).
  std::vector<std::string> key = table.primary_key;
  std::string key_source = key.empty() ? "" : "primary key";
  bool named = false;
  if (s.data) {
    for (const auto& [name, key_columns] : io.key_columns)
      if (name.matches(table.schema, table.name)) {
        key = key_columns;
        key_source = "key_columns";
        named = true;
        used.key_columns.insert(name);
      }
  }
  if (key.empty())
    if (auto identity = identity_key(here.keys, key_source)) key = identity->columns;
  for (const auto& k : key) {
    if (contains(s.columns, k)) continue;
    if (!s.data || (!named && table.primary_key.empty())) {
      // Master rows without their key cannot be looked up; a snapshot
      // without the columns of an identity key is matched as if the table
      // had none.
      key.clear();
      key_source.clear();
      break;
    }
    throw Error(sqlstate::kInvalidParameterValue,
                "the snapshot has no column \"" + k + "\" of the key of " + t.staged.display,
                "Rows are matched on (" + column_list(key) + ").",
                named ? "Name columns the snapshot has in key_columns." : "");
  }

  for (size_t i = 0; i < s.columns.size(); ++i) {
    const std::string& name = s.columns[i];
    auto c = columns.find(name);
    if (c == columns.end()) {
      if (!s.data) continue;  // a master section's other columns are not read
      if (io.ignore_unknown_columns)
        differences.push_back({t.staged.display, name, "column_dropped",
                               "no such column here; its values are left out (ignore_unknown_columns)", ""});
      else
        differences.push_back({t.staged.display, name, "column_dropped",
                               "no such column here (dropped or renamed), and the snapshot has values for it",
                               sqlstate::kUndefinedColumn});
      continue;
    }
    if (c->second.generated) continue;  // computed again on load
    if (!s.data && !contains(key, name)) continue;
    t.staged.columns.push_back(name);
    t.positions.push_back(static_cast<int>(i));
    const RecordedColumn* was = nullptr;
    if (s.recorded != nullptr)
      if (auto f = s.recorded->find(name); f != s.recorded->end()) was = &f->second;
    const Column* now = table.find_column(name);
    std::optional<ValueEncoding> e = was ? was->encoding : std::nullopt;
    if (!e && now) e = now->encoding;
    t.encodings.push_back(e.value_or(ValueEncoding::Text));
    if (c->second.identity_always) t.staged.fixed_columns.push_back(name);
    if (was == nullptr || now == nullptr) continue;  // a document that records no types
    switch (was->type.empty() ? TypeChange::Same : classify_type_change(was->type, now->type)) {
      case TypeChange::Same:
        break;
      case TypeChange::Lossless:
        differences.push_back({t.staged.display, name, "type_changed",
                               "from " + was->type + " to " + now->type + ": every value is kept", ""});
        break;
      case TypeChange::Lossy:
        differences.push_back({t.staged.display, name, "type_changed",
                               "from " + was->type + " to " + now->type +
                                   ": values could be rounded, cut or read differently, so they are not converted",
                               sqlstate::kDatatypeMismatch});
        break;
    }
    if (s.data && !was->not_null && c->second.not_null) t.now_not_null.push_back(name);
  }
  // Columns the snapshot has no values for: rows inserted get the value of
  // column_defaults, else the column's default, else NULL; a NOT NULL
  // column without either can take no inserted row.
  if (s.data) {
    const std::map<std::string, std::optional<std::string>>* given = nullptr;
    for (const auto& [name, values] : io.column_defaults)
      if (name.matches(table.schema, table.name)) {
        given = &values;
        used.column_defaults.insert(name);
      }
    for (const auto& [name, info] : columns) {
      std::optional<std::optional<std::string>> value;  // set: column_defaults names the column
      if (given)
        if (auto it = given->find(name); it != given->end()) value = it->second;
      if (contains(s.columns, name) || info.generated) {
        if (value)
          throw Error(sqlstate::kInvalidParameterValue,
                      "column_defaults gives a value for column \"" + name + "\" of " + t.staged.display +
                          (info.generated ? ", a generated column" : ", which the snapshot has values for"),
                      {}, "Give values only for columns the snapshot lacks.");
        continue;
      }
      const Column* column = table.find_column(name);
      if (value) {
        check_default(*value, column->type, name);
        t.staged.inserted_values.emplace_back(
            name, "CAST(" + (*value ? quote_literal(**value) : std::string("NULL")) + " AS " + column->type + ")");
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
          throw Error(sqlstate::kUndefinedColumn, "column_defaults names column \"" + name + "\", which " +
                                                      t.staged.display + " does not have");
  }
  if (!key.empty() && !use_key(t.staged, here.keys, key)) {
    if (named)
      throw Error(sqlstate::kInvalidParameterValue,
                  "key_columns (" + column_list(key) + ") of " + t.staged.display +
                      " are not a unique key of the table",
                  {},
                  "Name the columns of its primary key or of a unique constraint or index that is not "
                  "partial and not deferrable.");
    key_source.clear();
  }
  if (s.data && !t.staged.has_key() && mode != ImportMode::Replace)
    throw Error(sqlstate::kInvalidParameterValue,
                "table " + t.staged.display + " has no key: " + std::string(to_string(mode)) +
                    " cannot match its rows",
                "It has no primary key, no replica identity index and no unique index over NOT NULL columns.",
                "Name a unique key in opts, {\"key_columns\": {\"" + table.name +
                    "\": [\"column\"]}}, add a primary key, or use mode replace.");
  t.key_source = key_source;
  // Without fire_triggers the server does not check foreign keys as rows
  // are written: a column other rows reference (other than the key the
  // rows are matched on) is never changed, so no reference is left
  // dangling unchecked.
  if (s.data && !io.fire_triggers)
    for (const auto& column : here.referenced_columns)
      if (!contains(t.staged.key, column) && !contains(t.staged.fixed_columns, column))
        t.staged.fixed_columns.push_back(column);
  return t;
}

void finish_table_loads(const std::vector<const TableLoad*>& loads, const ImportOptions& io,
                        const UsedTableOptions& used, std::vector<SchemaDifference>& differences) {
  for (const auto& [name, columns] : io.key_columns)
    if (!used.key_columns.count(name))
      throw Error(sqlstate::kInvalidParameterValue,
                  "key_columns names \"" + name.to_string() + "\", which is not a table of the snapshot");
  for (const auto& [name, values] : io.column_defaults)
    if (!used.column_defaults.count(name))
      throw Error(sqlstate::kInvalidParameterValue,
                  "column_defaults names \"" + name.to_string() + "\", which is not a table the import loads");
  // Refused together; a column that needs a value counts too then, as the
  // rows may need it (they are not read when the import stops here).
  if (std::any_of(differences.begin(), differences.end(), [](const auto& d) { return d.refused(); }))
    for (const auto* t : loads)
      for (const auto& column : t->needs_value)
        differences.push_back(needs_value_difference(t->staged.display, column, "rows inserted need"));
  refuse_schema_differences(differences);
}

}  // namespace ptb::core
