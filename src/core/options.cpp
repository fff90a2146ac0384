#include "core/options.hpp"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace ptb::core {

void invalid_option_value(std::string_view option, const std::string& why) {
  throw Error(sqlstate::kInvalidParameterValue,
              "invalid value for option \"" + std::string(option) + "\": " + why);
}

namespace {

using json = nlohmann::json;

TenancyMode parse_tenancy(std::string_view option, std::string_view text) {
  if (text == "column") return TenancyMode::Column;
  if (text == "schema") return TenancyMode::Schema;
  invalid_option_value(option, "\"" + std::string(text) + "\" is not one of column, schema");
}

std::string parse_column_name(std::string_view option, std::string_view text,
                              bool allow_empty) {
  if (text.empty()) {
    if (allow_empty) return {};
    invalid_option_value(option, "a column name is required");
  }
  try {
    return parse_identifier(text);
  } catch (const Error& e) {
    invalid_option_value(option, e.what());
  }
}

std::vector<std::string> parse_schema_list(std::string_view option,
                                           const std::vector<std::string>& items) {
  std::vector<std::string> out;
  try {
    for (const auto& item : items) out.push_back(parse_identifier(item));
  } catch (const Error& e) {
    invalid_option_value(option, e.what());
  }
  if (out.empty()) invalid_option_value(option, "at least one schema is required");
  return out;
}

std::vector<QualifiedName> parse_table_list(std::string_view option,
                                            const std::vector<std::string>& items) {
  std::vector<QualifiedName> out;
  try {
    for (const auto& item : items) out.push_back(parse_qualified_name(item));
  } catch (const Error& e) {
    invalid_option_value(option, e.what());
  }
  return out;
}

// A list option is a JSON array of strings or one comma-separated string.
std::vector<std::string> list_items(std::string_view option, const json& value) {
  if (value.is_string()) return split_name_list(value.get<std::string>());
  if (!value.is_array())
    invalid_option_value(option, "expected an array of names or a comma-separated string");
  std::vector<std::string> items;
  for (const auto& item : value) {
    if (!item.is_string()) invalid_option_value(option, "every item must be a string");
    items.push_back(item.get<std::string>());
  }
  return items;
}

const std::string& string_value(std::string_view option, const json& value) {
  if (!value.is_string()) invalid_option_value(option, "expected a string");
  return value.get_ref<const std::string&>();
}

bool bool_value(std::string_view option, const json& value) {
  if (!value.is_boolean()) invalid_option_value(option, "expected true or false");
  return value.get<bool>();
}


// {"table": {"type": "column", "id": "column", "types": {"Value": "table"},
//            "follow": ["table"]}}
std::map<QualifiedName, PolymorphicLink> parse_polymorphic(const json& value) {
  const std::string option = "polymorphic";
  if (!value.is_object())
    invalid_option_value(option, "expected an object {\"table\": {\"type\": \"type column\", \"id\": \"id column\"}}");
  std::map<QualifiedName, PolymorphicLink> out;
  for (const auto& [table, spec] : value.items()) {
    const std::string where = "the entry for \"" + table + "\"";
    QualifiedName name;
    try {
      name = parse_qualified_name(table);
    } catch (const Error& e) {
      invalid_option_value(option, e.what());
    }
    if (!spec.is_object())
      invalid_option_value(option, where + " must be an object with the keys type and id (and optionally types, follow)");
    PolymorphicLink link;
    for (const auto& [key, item] : spec.items()) {
      if (key == "type" || key == "id") {
        if (!item.is_string() || item.get<std::string>().empty())
          invalid_option_value(option, where + ": \"" + key + "\" must be a column name");
        (key == "type" ? link.type_column : link.id_column) =
            parse_column_name(option, item.get<std::string>(), false);
      } else if (key == "types") {
        if (!item.is_object())
          invalid_option_value(option, where + ": \"types\" must be an object {\"type value\": \"table\"}");
        for (const auto& [type_value, target] : item.items()) {
          if (!target.is_string() || target.get<std::string>().empty())
            invalid_option_value(option, where + ": the table for type \"" + type_value + "\" must be a table name");
          try {
            link.types[type_value] = parse_qualified_name(target.get<std::string>());
          } catch (const Error& e) {
            invalid_option_value(option, e.what());
          }
        }
      } else if (key == "follow") {
        if (item.is_null()) continue;  // every referenced table, as options_to_json records it
        link.follow = parse_table_list(option, list_items(option, item));
      } else {
        invalid_option_value(option, where + " has an unknown key \"" + key + "\" (valid: type, id, types, follow)");
      }
    }
    if (link.type_column.empty() || link.id_column.empty())
      invalid_option_value(option, where + " must name both the type column (\"type\") and the id column (\"id\")");
    if (link.type_column == link.id_column)
      invalid_option_value(option, where + ": the type and id columns must differ");
    if (!out.emplace(name, std::move(link)).second)
      invalid_option_value(option, "table \"" + name.to_string() + "\" is named twice");
  }
  return out;
}

std::string ascii_capitalized(std::string word) {
  if (!word.empty() && word[0] >= 'a' && word[0] <= 'z') word[0] = static_cast<char>(word[0] - 'a' + 'A');
  return word;
}

}  // namespace

std::vector<std::string> type_values_for_table(std::string_view schema, std::string_view name) {
  std::set<std::string> values;
  const std::string table(name);
  values.insert(table);
  values.insert(std::string(schema) + "." + table);
  auto ends_with = [&](std::string_view suffix) {
    return table.size() > suffix.size() && table.compare(table.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  std::vector<std::string> singulars;
  if (ends_with("ies")) singulars.push_back(table.substr(0, table.size() - 3) + "y");
  for (std::string_view suffix : {"ses", "xes", "zes", "ches", "shes"})
    if (ends_with(suffix)) singulars.push_back(table.substr(0, table.size() - 2));
  if (ends_with("s") && !ends_with("ss")) singulars.push_back(table.substr(0, table.size() - 1));
  if (singulars.empty()) singulars.push_back(table);
  for (const auto& singular : singulars) {
    values.insert(singular);
    // Words of the singular, then every way of joining them: directly
    // (BillingInvoice) or as a namespace (Billing::Invoice). At most 64
    // spellings; longer names get the two extremes.
    std::vector<std::string> words;
    size_t start = 0;
    for (size_t i = 0; i <= singular.size(); ++i)
      if (i == singular.size() || singular[i] == '_') {
        if (i > start) words.push_back(ascii_capitalized(singular.substr(start, i - start)));
        start = i + 1;
      }
    if (words.empty()) continue;
    const size_t boundaries = words.size() - 1;
    std::vector<unsigned long> masks;
    if (boundaries <= 6) {
      for (unsigned long m = 0; m < (1UL << boundaries); ++m) masks.push_back(m);
    } else {
      masks = {0, (1UL << boundaries) - 1};
      if (boundaries >= 8 * sizeof(unsigned long)) masks = {0};
    }
    for (unsigned long m : masks) {
      std::string value = words[0];
      for (size_t w = 1; w < words.size(); ++w) value += ((m >> (w - 1)) & 1UL ? "::" : "") + words[w];
      values.insert(value);
    }
  }
  return {values.begin(), values.end()};
}

bool type_value_matches(std::string_view value, std::string_view schema, std::string_view name) {
  const auto values = type_values_for_table(schema, name);
  return std::binary_search(values.begin(), values.end(), std::string(value));
}

std::string_view to_string(TenancyMode mode) {
  return mode == TenancyMode::Column ? "column" : "schema";
}

const std::vector<std::string>& valid_option_names() {
  // Allocated once and never destroyed: no static destructor runs when a
  // backend or worker exits.
  static const auto* names = new std::vector<std::string>{
      "audit_tables",       "exclude_tables",     "include_audit_logs",
      "include_deleted",    "owning_fks",         "polymorphic",
      "schemas",
      "soft_delete_column", "tables",             "tenancy",
      "tenant_column"};
  return *names;
}

std::string options_to_json(const SnapshotOptions& o) {
  // Table names as written in SQL, so that opts reads them back as the
  // same tables: "Order Lines", "Sales".orders (recorded_options_as_opts
  // reads the unquoted form earlier snapshots wrote too).
  auto written = [](const QualifiedName& n) {
    return n.schema.empty() ? display_identifier(n.name) : display_qualified(n.schema, n.name);
  };
  auto names = [&](const std::vector<QualifiedName>& list) {
    json out = json::array();
    for (const auto& n : list) out.push_back(written(n));
    return out;
  };
  json doc = {
      {"tenancy", std::string(to_string(o.tenancy))},
      {"tenant_column", o.tenant_column},
      {"schemas", o.schemas},
      {"exclude_tables", names(o.exclude_tables)},
      {"audit_tables", names(o.audit_tables)},
      {"soft_delete_column", o.soft_delete_column},
      {"include_deleted", o.include_deleted},
      {"include_audit_logs", o.include_audit_logs},
  };
  doc["tables"] = o.tables ? names(*o.tables) : json(nullptr);
  json owning = json::object();
  for (const auto& [table, constraint] : o.owning_fks) owning[written(table)] = constraint;
  doc["owning_fks"] = owning;
  json polymorphic = json::object();
  for (const auto& [table, link] : o.polymorphic) {
    json types = json::object();
    for (const auto& [value, target] : link.types) types[value] = written(target);
    json entry = {{"type", display_identifier(link.type_column)},
                  {"id", display_identifier(link.id_column)},
                  {"types", types}};
    entry["follow"] = link.follow ? names(*link.follow) : json(nullptr);
    polymorphic[written(table)] = entry;
  }
  doc["polymorphic"] = polymorphic;
  return doc.dump();
}

const std::vector<std::string>& stored_snapshot_option_keys() {
  static const auto* keys = new std::vector<std::string>{"compression", "verify_after_backup"};
  return *keys;
}

StoredSnapshotOptions apply_stored_snapshot_options(const json& doc, StoredSnapshotOptions o) {
  if (!doc.is_object()) return o;  // apply_options reports it
  if (auto it = doc.find("compression"); it != doc.end()) {
    const std::string& c = string_value("compression", *it);
    if (c != "none" && c != "zstd") invalid_option_value("compression", "\"" + c + "\" is not one of none, zstd");
    o.compression = c;
  }
  if (auto it = doc.find("verify_after_backup"); it != doc.end())
    o.verify_after_backup = bool_value("verify_after_backup", *it);
  return o;
}

SnapshotOptions options_from_settings(const SettingStrings& s) {
  SnapshotOptions o;
  auto setting = [](const char* name) { return std::string("pg_tenant_backup.") + name; };
  o.tenancy = parse_tenancy(setting("tenancy"), s.tenancy);
  o.tenant_column = parse_column_name(setting("tenant_column"), s.tenant_column, false);
  o.schemas = parse_schema_list(setting("schemas"), split_name_list(s.schemas));
  o.exclude_tables = parse_table_list(setting("exclude_tables"), split_name_list(s.exclude_tables));
  o.audit_tables = parse_table_list(setting("audit_tables"), split_name_list(s.audit_tables));
  o.soft_delete_column =
      parse_column_name(setting("soft_delete_column"), s.soft_delete_column, true);
  return o;
}

void validate_setting(std::string_view name, std::string_view value) {
  SettingStrings s{"column", "tenant_id", "public", "", "", ""};
  std::string text(value);
  if (name == "tenancy") s.tenancy = text;
  else if (name == "tenant_column") s.tenant_column = text;
  else if (name == "schemas") s.schemas = text;
  else if (name == "exclude_tables") s.exclude_tables = text;
  else if (name == "audit_tables") s.audit_tables = text;
  else if (name == "soft_delete_column") s.soft_delete_column = text;
  else throw Error(sqlstate::kInternalError, "no setting named " + std::string(name));
  options_from_settings(s);
}

json parse_opts(std::string_view json_text) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::exception&) {
    throw Error(sqlstate::kInvalidParameterValue, "opts is not valid JSON");
  }
  if (!doc.is_object())
    throw Error(sqlstate::kInvalidParameterValue, "opts must be a JSON object",
                {}, "Pass options as '{\"name\": value}'::jsonb.");
  return doc;
}

SnapshotOptions apply_options_json(std::string_view json_text, SnapshotOptions o,
                                   const std::vector<std::string>& extra_keys) {
  return apply_options(parse_opts(json_text), std::move(o), extra_keys);
}

SnapshotOptions apply_options(const json& doc, SnapshotOptions o, const std::vector<std::string>& extra_keys) {
  if (!doc.is_object())
    throw Error(sqlstate::kInvalidParameterValue, "opts must be a JSON object",
                {}, "Pass options as '{\"name\": value}'::jsonb.");
  for (const auto& [key, value] : doc.items()) {
    if (key == "tenancy") {
      o.tenancy = parse_tenancy(key, string_value(key, value));
    } else if (key == "tenant_column") {
      o.tenant_column = parse_column_name(key, string_value(key, value), false);
    } else if (key == "schemas") {
      o.schemas = parse_schema_list(key, list_items(key, value));
    } else if (key == "exclude_tables") {
      o.exclude_tables = parse_table_list(key, list_items(key, value));
    } else if (key == "audit_tables") {
      o.audit_tables = parse_table_list(key, list_items(key, value));
    } else if (key == "soft_delete_column") {
      o.soft_delete_column = value.is_null()
                                 ? std::string()
                                 : parse_column_name(key, string_value(key, value), true);
    } else if (key == "include_deleted") {
      o.include_deleted = bool_value(key, value);
    } else if (key == "include_audit_logs") {
      o.include_audit_logs = bool_value(key, value);
    } else if (key == "tables") {
      if (value.is_null())
        o.tables.reset();  // all tables, as options_to_json records it
      else
        o.tables = parse_table_list(key, list_items(key, value));
    } else if (key == "owning_fks") {
      if (!value.is_object())
        invalid_option_value(key, "expected an object {\"table\": \"constraint name\"}");
      o.owning_fks.clear();
      for (const auto& [table, constraint] : value.items()) {
        if (!constraint.is_string() || constraint.get<std::string>().empty())
          invalid_option_value(key, "the constraint for \"" + table + "\" must be a non-empty string");
        try {
          o.owning_fks[parse_qualified_name(table)] = constraint.get<std::string>();
        } catch (const Error& e) {
          invalid_option_value(key, e.what());
        }
      }
    } else if (key == "polymorphic") {
      o.polymorphic = parse_polymorphic(value);
    } else if (std::find(extra_keys.begin(), extra_keys.end(), key) == extra_keys.end()) {
      std::vector<std::string> valid = valid_option_names();
      valid.insert(valid.end(), extra_keys.begin(), extra_keys.end());
      std::sort(valid.begin(), valid.end());
      throw Error(sqlstate::kInvalidParameterValue,
                  "unknown option \"" + key + "\"",
                  "Valid options are: " + join(valid, ", ") + ".");
    }
  }
  return o;
}

}  // namespace ptb::core
