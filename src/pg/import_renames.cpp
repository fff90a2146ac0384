// What a snapshot records of its columns, and opts.rename applied to the
// import (import_renames.hpp).
#include "pg/import_renames.hpp"

#include <algorithm>
#include <set>

#include "core/error.hpp"
#include "pg/import_common.hpp"

namespace ptb::pg {

using nlohmann::json;

RecordedColumns recorded_columns_of(const json& schema_tables) {
  RecordedColumns out;
  if (!schema_tables.is_array()) return out;
  auto text = [](const json& object, const char* key) -> std::optional<std::string> {
    auto it = object.find(key);
    if (it == object.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  for (const json& t : schema_tables) {
    if (!t.is_object()) continue;
    auto schema = text(t, "schema"), name = text(t, "name");
    auto columns = t.find("columns");
    if (!schema || !name || columns == t.end() || !columns->is_array()) continue;
    auto& table = out[{*schema, *name}];
    for (const json& column : *columns) {
      if (!column.is_object()) continue;
      auto column_name = text(column, "name");
      if (!column_name) continue;
      RecordedColumn& r = table[*column_name];
      if (auto encoding = text(column, "encoding")) r.encoding = core::encoding_from_string(*encoding);
      r.type = text(column, "type").value_or("");
      auto not_null = column.find("not_null");
      r.not_null = not_null != column.end() && not_null->is_boolean() && not_null->get<bool>();
    }
  }
  return out;
}

void apply_renames(const core::RenameMap& rename, std::vector<std::vector<Section>*> parts,
                   RecordedColumns& recorded, std::vector<core::SchemaDifference>& differences) {
  if (rename.empty()) return;
  std::set<core::QualifiedName> used_tables;
  std::set<std::pair<core::QualifiedName, std::string>> used_columns;
  std::set<TableKey> renamed_recorded;
  for (auto* part : parts)
    for (Section& s : *part) {
      const TableKey old_key{s.schema, s.name};
      const std::string old_display = table_display(s.schema, s.name);
      TableKey new_key = old_key;
      for (const auto& [from, to] : rename.tables)
        if (from.matches(s.schema, s.name)) {
          used_tables.insert(from);
          new_key = {to.schema.empty() ? s.schema : to.schema, to.name};
        }
      std::map<std::string, std::string> column_map;
      for (const auto& [table, columns] : rename.columns)
        if (table.matches(s.schema, s.name)) {
          for (const auto& [from, to] : columns) {
            column_map[from] = to;
            if (std::find(s.columns.begin(), s.columns.end(), from) != s.columns.end())
              used_columns.insert({table, from});
          }
        }
      const bool data = s.part == "data";
      if (new_key != old_key && data)
        differences.push_back({table_display(new_key.first, new_key.second), "", "table_renamed",
                               "the snapshot's " + old_display + " (opts.rename)", ""});
      for (auto& c : s.columns)
        if (auto it = column_map.find(c); it != column_map.end()) {
          if (data)
            differences.push_back({table_display(new_key.first, new_key.second), it->second, "column_renamed",
                                   "the snapshot's column \"" + c + "\" (opts.rename)", ""});
          c = it->second;
        }
      s.schema = new_key.first;
      s.name = new_key.second;
      // What the snapshot records of the table's columns, under the new names (once per table).
      if (!renamed_recorded.insert(old_key).second) continue;
      auto found = recorded.find(old_key);
      if (found == recorded.end()) continue;
      std::map<std::string, RecordedColumn> columns;
      for (auto& [name, column] : found->second) {
        auto it = column_map.find(name);
        columns[it != column_map.end() ? it->second : name] = column;
      }
      recorded.erase(found);
      recorded[new_key] = std::move(columns);
    }
  for (const auto& [from, to] : rename.tables)
    if (!used_tables.count(from))
      throw core::Error(core::sqlstate::kInvalidParameterValue,
                        "rename names table \"" + from.to_string() + "\", which is not a table of the snapshot",
                        {}, "Name the table as the snapshot does (backup_read lists its tables).");
  for (const auto& [table, columns] : rename.columns)
    for (const auto& [from, to] : columns)
      if (!used_columns.count({table, from}))
        throw core::Error(core::sqlstate::kInvalidParameterValue,
                          "rename names column \"" + from + "\" of \"" + table.to_string() +
                              "\", which the snapshot does not have",
                          {}, "Name the table and the column as the snapshot does.");
}

}  // namespace ptb::pg
