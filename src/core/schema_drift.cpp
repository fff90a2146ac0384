#include "core/schema_drift.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/options.hpp"

namespace ptb::core {
namespace {

using json = nlohmann::json;

// A type as format_type() prints it, taken apart: "timestamp(3) without
// time zone[]" is base "timestamp without time zone", modifiers {3}, one
// array dimension. A name with a quote in it is kept whole (a user type).
struct TypeName {
  std::string base;
  std::vector<int> modifiers;
  int dimensions = 0;
};

TypeName parse_type_name(std::string_view text) {
  TypeName t;
  std::string s(text);
  while (s.size() > 2 && s.compare(s.size() - 2, 2, "[]") == 0) {
    s.resize(s.size() - 2);
    ++t.dimensions;
  }
  const auto open = s.find('(');
  const auto close = s.find(')', open == std::string::npos ? 0 : open);
  if (s.find('"') != std::string::npos || open == std::string::npos || close == std::string::npos) {
    t.base = s;
    return t;
  }
  std::string inside = s.substr(open + 1, close - open - 1);
  size_t at = 0;
  while (at <= inside.size()) {
    const size_t comma = std::min(inside.find(',', at), inside.size());
    try {
      t.modifiers.push_back(std::stoi(inside.substr(at, comma - at)));
    } catch (const std::exception&) {
      t.base = s;  // not numbers: keep it whole
      t.modifiers.clear();
      return t;
    }
    at = comma + 1;
  }
  t.base = s.substr(0, open) + s.substr(close + 1);
  return t;
}

// Decimal digits an integer type needs: what numeric(p,s) must hold left of the point.
int integer_digits(const std::string& base) {
  if (base == "smallint") return 5;
  if (base == "integer") return 10;
  if (base == "bigint") return 19;
  return 0;
}

// text or varchar without a limit: it holds any value's text, which is what
// the snapshot holds.
bool holds_any_text(const TypeName& t) {
  return t.modifiers.empty() && (t.base == "text" || t.base == "character varying");
}

bool is_time_with_precision(const std::string& base) {
  return base == "timestamp without time zone" || base == "timestamp with time zone" ||
         base == "time without time zone" || base == "time with time zone";
}

TypeChange element_change(const TypeName& from, const TypeName& to) {
  if (holds_any_text(to)) return TypeChange::Lossless;
  // Strings: a limit at least as long.
  if ((from.base == "character varying" || from.base == "character") && !from.modifiers.empty() &&
      to.base == "character varying" && to.modifiers.size() == 1 && to.modifiers[0] >= from.modifiers[0])
    return TypeChange::Lossless;
  // Numbers: wider integers, numerics with room on both sides of the point.
  const int from_digits = integer_digits(from.base);
  if (from_digits != 0) {
    if (integer_digits(to.base) >= from_digits) return TypeChange::Lossless;
    if (to.base == "numeric" &&
        (to.modifiers.empty() || (to.modifiers.size() == 2 && to.modifiers[0] - to.modifiers[1] >= from_digits)))
      return TypeChange::Lossless;
    if (to.base == "double precision" && from.base != "bigint") return TypeChange::Lossless;  // 53-bit mantissa
    if (to.base == "real" && from.base == "smallint") return TypeChange::Lossless;            // 24-bit mantissa
    return TypeChange::Lossy;
  }
  if (from.base == "numeric" && to.base == "numeric") {
    if (to.modifiers.empty()) return TypeChange::Lossless;
    if (from.modifiers.size() == 2 && to.modifiers.size() == 2 && to.modifiers[1] >= from.modifiers[1] &&
        to.modifiers[0] - to.modifiers[1] >= from.modifiers[0] - from.modifiers[1])
      return TypeChange::Lossless;
    return TypeChange::Lossy;
  }
  // real's shortest exact text reads back as the same decimal in double precision.
  if (from.base == "real" && to.base == "double precision") return TypeChange::Lossless;
  // Times: the same kind, at least as many fractional digits (6 when not given).
  if (is_time_with_precision(from.base) && to.base == from.base) {
    const int from_precision = from.modifiers.empty() ? 6 : from.modifiers[0];
    const int to_precision = to.modifiers.empty() ? 6 : to.modifiers[0];
    return to_precision >= from_precision ? TypeChange::Lossless : TypeChange::Lossy;
  }
  if (from.base == "date" && to.base == "timestamp without time zone") return TypeChange::Lossless;
  if (from.base.rfind("interval", 0) == 0 && to.base == "interval" && to.modifiers.empty())
    return TypeChange::Lossless;
  // jsonb's text is valid json; json -> jsonb would drop duplicate keys and spacing.
  if (from.base == "jsonb" && to.base == "json") return TypeChange::Lossless;
  return TypeChange::Lossy;
}

QualifiedName table_name(const std::string& option, const std::string& text) {
  try {
    return parse_qualified_name(text);
  } catch (const Error& e) {
    invalid_option_value(option, e.what());
  }
}

std::string column_name(const std::string& option, const std::string& text) {
  try {
    return parse_identifier(text);
  } catch (const Error& e) {
    invalid_option_value(option, e.what());
  }
}

}  // namespace

TypeChange classify_type_change(std::string_view from_text, std::string_view to_text) {
  if (from_text == to_text) return TypeChange::Same;
  const TypeName from = parse_type_name(from_text);
  const TypeName to = parse_type_name(to_text);
  if (to.dimensions == 0 && holds_any_text(to)) return TypeChange::Lossless;  // an array's text too
  if (from.dimensions != to.dimensions) return TypeChange::Lossy;
  return element_change(from, to);
}

RenameMap parse_rename(const json& value) {
  const std::string option = "rename";
  if (!value.is_object())
    invalid_option_value(option, "expected {\"tables\": {\"old\": \"new\"}, \"columns\": {\"table\": {\"old\": \"new\"}}}");
  RenameMap map;
  for (const auto& [key, entries] : value.items()) {
    if (key != "tables" && key != "columns") invalid_option_value(option, "unknown key \"" + key + "\" (expected tables or columns)");
    if (!entries.is_object()) invalid_option_value(option, "\"" + key + "\" must be an object");
    for (const auto& [from, to] : entries.items()) {
      const QualifiedName table = table_name(option, from);
      if (key == "tables") {
        if (!to.is_string()) invalid_option_value(option, "the new name of table \"" + from + "\" must be a string");
        map.tables[table] = table_name(option, to.get<std::string>());
        continue;
      }
      if (!to.is_object()) invalid_option_value(option, "the columns of \"" + from + "\" must be an object {\"old\": \"new\"}");
      for (const auto& [old_column, new_column] : to.items()) {
        if (!new_column.is_string())
          invalid_option_value(option, "the new name of column \"" + old_column + "\" of \"" + from + "\" must be a string");
        map.columns[table][column_name(option, old_column)] = column_name(option, new_column.get<std::string>());
      }
    }
  }
  return map;
}

ColumnDefaults parse_column_defaults(const json& value) {
  const std::string option = "column_defaults";
  if (!value.is_object()) invalid_option_value(option, "expected {\"table\": {\"column\": value}}");
  ColumnDefaults defaults;
  for (const auto& [table, columns] : value.items()) {
    if (!columns.is_object()) invalid_option_value(option, "the columns of \"" + table + "\" must be an object {\"column\": value}");
    auto& out = defaults[table_name(option, table)];
    for (const auto& [column, v] : columns.items()) {
      std::optional<std::string> text;
      if (v.is_string()) text = v.get<std::string>();
      else if (!v.is_null()) text = v.dump();  // numbers, booleans; objects and arrays as JSON text
      out[column_name(option, column)] = text;
    }
  }
  return defaults;
}

json schema_changes_json(const std::vector<SchemaDifference>& differences) {
  json out = json::array();
  for (const auto& d : differences) {
    if (d.refused()) continue;
    json entry = {{"table", d.table}, {"change", d.change}, {"detail", d.detail}};
    if (!d.column.empty()) entry["column"] = d.column;
    out.push_back(std::move(entry));
  }
  return out;
}

void refuse_schema_differences(const std::vector<SchemaDifference>& differences) {
  std::vector<const SchemaDifference*> refused;
  for (const auto& d : differences)
    if (d.refused()) refused.push_back(&d);
  if (refused.empty()) return;
  std::string detail;
  for (const auto* d : refused)
    detail += (detail.empty() ? "" : "\n") + d->table + (d->column.empty() ? "" : "." + d->column) + ": " + d->detail;
  const size_t n = refused.size();
  throw Error(refused.front()->sqlstate,
              "the snapshot does not fit this database's schema: " + std::to_string(n) +
                  (n == 1 ? " difference" : " differences") + " the import cannot get through",
              detail,
              "Nothing was changed. Map renamed tables and columns with opts.rename, leave tables out with "
              "exclude_tables, give new NOT NULL columns a value with column_defaults, leave dropped "
              "columns out with ignore_unknown_columns; docs/import.md, \"Restoring across migrations\".");
}

}  // namespace ptb::core
