#include "core/import_plan.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/json_writer.hpp"
#include "core/options.hpp"

namespace ptb::core {

namespace {

using json = nlohmann::json;

// "a", "b" or x."a", x."b"
std::string column_list(const std::vector<std::string>& columns, std::string_view alias = {}) {
  std::vector<std::string> items;
  items.reserve(columns.size());
  for (const auto& c : columns)
    items.push_back(alias.empty() ? quote_ident(c) : std::string(alias) + "." + quote_ident(c));
  return join(items, ", ");
}

// The rows differ in at least one of `columns`, comparing stored images
// (record_image_eq; NULLs equal each other). Called as a function, not as
// the *= operator: Citus deparses a one-column ROW cast to record as the
// bare column, and the operator then finds no match on the workers.
std::string rows_differ(const std::vector<std::string>& columns, std::string_view left,
                        std::string_view right) {
  return "NOT pg_catalog.record_image_eq(ROW(" + column_list(columns, left) + "), ROW(" +
         column_list(columns, right) + "))";
}

std::string from_table(const std::string& table, bool partitioned) {
  return partitioned ? table : "ONLY " + table;
}

std::string describe(const std::vector<std::string>& header,
                     const std::vector<std::string>& values) {
  std::string out = "pg_catalog.concat(" + quote_literal("(" + join(header, ", ") + ")=(");
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ", " + quote_literal(", ");
    out += ", COALESCE(CAST(" + values[i] + " AS pg_catalog.text), 'null')";
  }
  return out + ", ')')";
}

std::vector<std::string> qualified(const std::vector<std::string>& columns, std::string_view alias) {
  std::vector<std::string> out;
  for (const auto& c : columns) out.push_back(std::string(alias) + "." + quote_ident(c));
  return out;
}

bool bool_option(const std::string& key, const json& value) {
  if (value.is_null()) return false;
  if (!value.is_boolean()) invalid_option_value(key, "expected true or false");
  return value.get<bool>();
}

}  // namespace

// --- Modes and options -----------------------------------------------------

std::string_view to_string(ImportMode mode) {
  switch (mode) {
    case ImportMode::Merge: return "merge";
    case ImportMode::Replace: return "replace";
    case ImportMode::InsertOnly: return "insert_only";
  }
  return "merge";
}

ImportMode import_mode_from_string(std::string_view text) {
  if (text == "merge") return ImportMode::Merge;
  if (text == "replace") return ImportMode::Replace;
  if (text == "insert_only") return ImportMode::InsertOnly;
  std::string shown(text.substr(0, 100));
  throw Error(sqlstate::kInvalidParameterValue, "unknown import mode \"" + shown + "\"",
              "Valid modes are: insert_only, merge, replace.");
}

namespace {
std::string tenant_words(const std::optional<std::string>& tenant) {
  return tenant ? "tenant \"" + *tenant + "\"" : "the whole database";
}
}  // namespace

void check_expected_tenant(const std::optional<std::optional<std::string>>& expected,
                           const std::optional<std::string>& actual, const std::string& backup) {
  if (!expected || *expected == actual) return;
  throw Error(sqlstate::kInvalidParameterValue,
              backup + " is of " + tenant_words(actual) + ", not of " + tenant_words(*expected) +
                  " as opts.tenant expects",
              {},
              "Check the backup id (its row in backup_logs shows its tenant), or leave out opts.tenant.");
}

namespace {
ImportOptions import_options_of(const json& doc);
}  // namespace

ImportCallOptions read_import_call_options(std::string_view json_text, const SnapshotOptions& settings) {
  ImportCallOptions call;
  call.opts = parse_opts(json_text);
  call.import = import_options_of(call.opts);
  (void)apply_options(call.opts, settings, kImportOptionKeys);  // every snapshot key checked now
  for (const char* key : {"tables", "exclude_tables", "audit_tables", "include_audit_logs"})
    call.selects_tables = call.selects_tables || call.opts.contains(key);
  if (call.selects_tables) {
    SnapshotOptions lists;
    lists.exclude_tables.clear();  // the caller's lists alone, not the defaults
    call.caller_tables = apply_options(call.opts, std::move(lists), kImportOptionKeys);
  }
  return call;
}

namespace {

ImportOptions import_options_of(const json& doc) {
  ImportOptions o;
  for (const auto& [key, value] : doc.items()) {
    if (key == "dry_run") {
      o.dry_run = bool_option(key, value);
    } else if (key == "fire_triggers") {
      o.fire_triggers = bool_option(key, value);
    } else if (key == "ignore_unknown_columns") {
      o.ignore_unknown_columns = bool_option(key, value);
    } else if (key == "tenant") {
      if (value.is_string())
        o.expected_tenant = std::optional<std::string>(value.get<std::string>());
      else if (value.is_number_integer())
        o.expected_tenant = std::optional<std::string>(value.dump());
      else if (value.is_null())
        o.expected_tenant = std::optional<std::string>();
      else
        invalid_option_value(key, "expected the tenant as a string, or null for the whole database");
    } else if (key == "target_tenant") {
      if (!value.is_null())
        throw Error(sqlstate::kFeatureNotSupported,
                    "importing a snapshot into another tenant (opts.target_tenant) is not "
                    "supported yet",
                    {},
                    "A snapshot is imported into the tenant it was taken from; leave out "
                    "target_tenant.");
    } else if (key == "rename") {
      o.rename = parse_rename(value);
    } else if (key == "column_defaults") {
      o.column_defaults = parse_column_defaults(value);
    } else if (key == "key_columns") {
      if (!value.is_object())
        invalid_option_value(key, "expected an object {\"table\": [\"column\", ...]}");
      for (const auto& [table, columns] : value.items()) {
        QualifiedName name;
        try {
          name = parse_qualified_name(table);
        } catch (const Error& e) {
          invalid_option_value(key, e.what());
        }
        std::vector<std::string> items;
        if (columns.is_string()) {
          items = split_name_list(columns.get<std::string>());
        } else if (columns.is_array()) {
          for (const auto& c : columns) {
            if (!c.is_string())
              invalid_option_value(key, "the columns of \"" + table + "\" must be strings");
            items.push_back(c.get<std::string>());
          }
        } else {
          invalid_option_value(key, "the columns of \"" + table + "\" must be an array of names");
        }
        std::vector<std::string> parsed;
        try {
          for (const auto& item : items) parsed.push_back(parse_identifier(item));
        } catch (const Error& e) {
          invalid_option_value(key, e.what());
        }
        if (parsed.empty()) invalid_option_value(key, "\"" + table + "\" names no column");
        o.key_columns[name] = std::move(parsed);
      }
    }
  }
  return o;
}

}  // namespace

namespace {

// A table name as a snapshot records it, as opts reads it. Snapshots write
// it in SQL now ("Order Lines", "Sales".orders); earlier ones wrote
// schema.name unquoted, which a name that needs quoting does not survive:
// text without a double quote, or that does not read as a name, is that
// older form, split at its dot (with more than one, which dot ends the
// schema is not known: refused, as it was).
std::string recorded_table_name(const std::string& text) {
  if (text.find('"') != std::string::npos) {
    try {
      (void)parse_qualified_name(text);
      return text;
    } catch (const Error&) {
    }
  }
  const size_t dot = text.find('.');
  if (dot == std::string::npos) return display_identifier(text);
  // Which dot ends the schema is not known: left to be refused as before.
  if (text.find('.', dot + 1) != std::string::npos) return text;
  return display_qualified(text.substr(0, dot), text.substr(dot + 1));
}

json recorded_table_names(const json& list) {
  if (!list.is_array()) return list;
  json out = json::array();
  for (const auto& item : list) out.push_back(item.is_string() ? json(recorded_table_name(item)) : item);
  return out;
}

json recorded_table_keys(const json& object) {
  if (!object.is_object()) return object;
  json out = json::object();
  for (const auto& [table, value] : object.items()) out[recorded_table_name(table)] = value;
  return out;
}

}  // namespace

json recorded_options_as_opts(const json& recorded) {
  json out = json::object();
  if (!recorded.is_object()) return out;
  const auto& names = valid_option_names();
  auto quoted = [](const json& name) {
    return name.is_string() && !name.get<std::string>().empty() ? json(quote_ident(name.get<std::string>()))
                                                                : name;
  };
  for (const auto& [key, value] : recorded.items()) {
    if (std::find(names.begin(), names.end(), key) == names.end()) continue;
    if (key == "tenant_column" || key == "soft_delete_column") {
      out[key] = quoted(value);
    } else if (key == "schemas" && value.is_array()) {
      json list = json::array();
      for (const auto& schema : value) list.push_back(quoted(schema));
      out[key] = list;
    } else if (key == "tables" || key == "exclude_tables" || key == "audit_tables") {
      out[key] = recorded_table_names(value);
    } else if (key == "owning_fks") {
      out[key] = recorded_table_keys(value);
    } else if (key == "polymorphic" && value.is_object()) {
      json links = recorded_table_keys(value);
      for (auto& [table, link] : links.items()) {
        if (!link.is_object()) continue;
        if (link.contains("follow")) link["follow"] = recorded_table_names(link["follow"]);
        if (link.contains("types") && link["types"].is_object())
          for (auto& [type_value, target] : link["types"].items())
            if (target.is_string()) target = recorded_table_name(target);
      }
      out[key] = links;
    } else {
      out[key] = value;
    }
  }
  return out;
}

namespace {

std::string written_name(const std::string& schema, const std::string& name) {
  return schema.empty() ? display_identifier(name) : display_qualified(schema, name);
}

// A recorded table name in this database's names (opts.rename), as the
// names it stands for: one, renamed or not; or, for a name without a schema
// of which a rename moves one schema's table, the name itself (still every
// other schema's table) and that table's new name.
std::vector<std::string> renamed_names(const std::string& text, const RenameMap& rename) {
  QualifiedName listed;
  try {
    listed = parse_qualified_name(text);
  } catch (const Error&) {
    return {text};  // apply_options refuses it, as without a rename
  }
  std::vector<std::string> out;
  bool replaced = false;
  for (const auto& [from, to] : rename.tables) {
    if (from.name != listed.name) continue;
    if (from.schema.empty() || from.schema == listed.schema) {
      if (!replaced) out.insert(out.begin(), written_name(to.schema.empty() ? listed.schema : to.schema, to.name));
      replaced = true;
    } else if (listed.schema.empty()) {
      out.push_back(written_name(to.schema.empty() ? from.schema : to.schema, to.name));
    }
  }
  if (!replaced) out.insert(out.begin(), text);
  return out;
}

// One name where one is needed (an object's key, a polymorphic type's
// table): renamed when the rename says which table it is, else as it was.
std::string renamed_name(const std::string& text, const RenameMap& rename) {
  const std::vector<std::string> names = renamed_names(text, rename);
  return names.size() == 1 ? names[0] : text;
}

json renamed_list(const json& list, const RenameMap& rename) {
  if (!list.is_array()) return list;
  json out = json::array();
  for (const auto& item : list) {
    if (!item.is_string()) {
      out.push_back(item);
      continue;
    }
    for (auto& name : renamed_names(item.get<std::string>(), rename)) out.push_back(std::move(name));
  }
  return out;
}

json renamed_keys(const json& object, const RenameMap& rename) {
  if (!object.is_object()) return object;
  json out = json::object();
  for (const auto& [table, value] : object.items()) out[renamed_name(table, rename)] = value;
  return out;
}

// The snapshot's recorded options (as opts) in this database's names: the
// table lists, owning_fks and polymorphic name tables as they were when it
// was taken, and opts.rename says what they are called now.
void rename_recorded_tables(json& recorded, const RenameMap& rename) {
  if (rename.tables.empty()) return;
  for (const char* key : {"tables", "exclude_tables", "audit_tables"})
    if (recorded.contains(key)) recorded[key] = renamed_list(recorded[key], rename);
  if (recorded.contains("owning_fks")) recorded["owning_fks"] = renamed_keys(recorded["owning_fks"], rename);
  if (recorded.contains("polymorphic") && recorded["polymorphic"].is_object()) {
    json links = renamed_keys(recorded["polymorphic"], rename);
    for (auto& [table, link] : links.items()) {
      if (!link.is_object()) continue;
      if (link.contains("follow")) link["follow"] = renamed_list(link["follow"], rename);
      if (link.contains("types") && link["types"].is_object())
        for (auto& [type_value, target] : link["types"].items())
          if (target.is_string()) target = renamed_name(target.get<std::string>(), rename);
    }
    recorded["polymorphic"] = links;
  }
}

}  // namespace

SnapshotOptions import_snapshot_options(SnapshotOptions settings, const json& recorded,
                                        const json& caller_opts) {
  // Options that decide whose rows are whose.
  static const std::vector<std::string> kIdentity = {"tenancy", "tenant_column", "schemas", "polymorphic",
                                                     "owning_fks"};
  auto caller_names = [&](const std::string& key) { return caller_opts.is_object() && caller_opts.contains(key); };
  json from_snapshot = recorded_options_as_opts(recorded);
  // The snapshot names its tables as they were when it was taken.
  if (caller_names("rename")) rename_recorded_tables(from_snapshot, parse_rename(caller_opts["rename"]));

  // The scope the snapshot was taken with narrows the import.
  json scope = json::object();
  for (const auto& [key, value] : from_snapshot.items())
    if (std::find(kIdentity.begin(), kIdentity.end(), key) == kIdentity.end()) scope[key] = value;
  std::vector<QualifiedName> excluded = settings.exclude_tables;
  SnapshotOptions options = apply_options(scope, std::move(settings));
  for (const auto& name : excluded)  // excluded here stays excluded
    if (std::find(options.exclude_tables.begin(), options.exclude_tables.end(), name) ==
        options.exclude_tables.end())
      options.exclude_tables.push_back(name);
  if (caller_opts.is_object() && !caller_opts.empty())
    options = apply_options(caller_opts, std::move(options), kImportOptionKeys);
  // A table the caller excludes leaves the snapshot's own table list too,
  // rather than being "named in tables but not part of the snapshot".
  if (options.tables && !caller_names("tables")) {
    auto& listed = *options.tables;
    std::erase_if(listed, [&](const QualifiedName& t) {
      return std::any_of(options.exclude_tables.begin(), options.exclude_tables.end(), [&](const QualifiedName& e) {
        return e.name == t.name && (e.schema == t.schema || e.schema.empty() || t.schema.empty());
      });
    });
  }

  const json effective = json::parse(options_to_json(options));
  for (const auto& key : kIdentity) {
    if (!from_snapshot.contains(key) || caller_names(key)) continue;
    if (key != "tenancy" && options.tenancy != TenancyMode::Column) continue;
    const SnapshotOptions as_recorded =
        apply_options(json{{key, from_snapshot[key]}}, options);
    const json recorded_value = json::parse(options_to_json(as_recorded))[key];
    if (recorded_value == effective[key]) continue;
    throw Error(sqlstate::kInvalidParameterValue,
                "the snapshot was taken with " + key + " " + recorded_value.dump() +
                    ", but this database plans imports with " + key + " " + effective[key].dump(),
                "A snapshot's own options never decide whose rows an import changes: the "
                "server's settings and the options of the call do.",
                "If the snapshot is to be applied that way, pass the option in opts: {\"" + key +
                    "\": " + from_snapshot[key].dump() + "}.");
  }
  return options;
}

json import_options_json(ImportMode mode, const ImportOptions& o) {
  json keys = json::object();
  for (const auto& [table, columns] : o.key_columns) keys[table.to_string()] = columns;
  return {{"mode", std::string(to_string(mode))},
          {"dry_run", o.dry_run},
          {"fire_triggers", o.fire_triggers},
          {"ignore_unknown_columns", o.ignore_unknown_columns},
          {"key_columns", keys}};
}

// --- COPY text format ------------------------------------------------------

void append_copy_escaped(std::string& line, std::string_view text) {
  size_t run_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '\\' && c != '\t' && c != '\n' && c != '\r') continue;
    line.append(text.data() + run_start, i - run_start);
    run_start = i + 1;
    switch (c) {
      case '\\': line += "\\\\"; break;
      case '\t': line += "\\t"; break;
      case '\n': line += "\\n"; break;
      default: line += "\\r"; break;
    }
  }
  line.append(text.data() + run_start, text.size() - run_start);
}

namespace {

// Whether a value of this kind is what the encoding writes (docs/format.md,
// "Value encoding"): a string in an integer column, or a number in a text
// column, is a document that was not written by an export.
bool kind_fits(const CopyCell& cell, ValueEncoding encoding) {
  const std::string_view text = cell.text();
  const bool boolean = cell.kind == CellKind::Literal && (text == "true" || text == "false");
  const bool number = cell.kind == CellKind::Literal && !boolean;
  switch (encoding) {
    case ValueEncoding::Integer: return number;
    case ValueEncoding::Float:
      return number || (cell.kind == CellKind::String &&
                        (text == "NaN" || text == "Infinity" || text == "-Infinity" || text == "-0"));
    case ValueEncoding::Boolean: return boolean;
    case ValueEncoding::Jsonb: return true;
    case ValueEncoding::Numeric:
    case ValueEncoding::Json:
    case ValueEncoding::Text: return cell.kind == CellKind::String;
    case ValueEncoding::Bytea: return true;  // refused below with its own message
  }
  return false;
}

const char* kind_name(const CopyCell& cell) {
  switch (cell.kind) {
    case CellKind::Null: return "null";
    case CellKind::String: return "a string";
    case CellKind::Literal: return cell.text() == "true" || cell.text() == "false" ? "a boolean" : "a number";
    case CellKind::Json: return "an object or array";
  }
  return "a value";
}

}  // namespace

void append_copy_field(std::string& line, const CopyCell& cell, ValueEncoding encoding) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (cell.kind != CellKind::Null && !kind_fits(cell, encoding))
    throw Error(sqlstate::kInvalidParameterValue,
                "a value of " + std::string(to_string(encoding)) + " encoding cannot be " + kind_name(cell), {},
                "docs/format.md (Value encoding) lists what each encoding writes.");
  switch (cell.kind) {
    case CellKind::Null: line += "\\N"; return;
    case CellKind::String:
      if (encoding == ValueEncoding::Bytea) {
        const std::string bytes = base64_decode(cell.text());
        line.reserve(line.size() + 3 + 2 * bytes.size());
        line += "\\\\x";  // \x, its backslash escaped for COPY
        for (unsigned char b : bytes) {
          line += kHex[b >> 4];
          line += kHex[b & 0xF];
        }
      } else if (encoding == ValueEncoding::Jsonb) {
        std::string quoted;
        append_json_string(quoted, cell.text());
        append_copy_escaped(line, quoted);
      } else {
        append_copy_escaped(line, cell.text());
      }
      return;
    case CellKind::Literal:
    case CellKind::Json:
      if (encoding == ValueEncoding::Bytea)
        throw Error(sqlstate::kInvalidTextRepresentation,
                    "a bytea value must be a base64 string, not " +
                        std::string(cell.text().substr(0, 40)));
      append_copy_escaped(line, cell.text());
      return;
  }
}

// --- SQL -------------------------------------------------------------------

std::string quote_literal(std::string_view text) {
  std::string out = "E'";
  for (char c : text) {
    if (c == '\'' || c == '\\') out += c;
    out += c;
  }
  return out + "'";
}

std::vector<std::string> StagedTable::update_columns() const {
  std::vector<std::string> out;
  for (const auto& c : columns)
    if (std::find(key.begin(), key.end(), c) == key.end() &&
        std::find(fixed_columns.begin(), fixed_columns.end(), c) == fixed_columns.end())
      out.push_back(c);
  return out;
}

std::vector<size_t> StagedTable::key_places() const {
  std::vector<size_t> places;
  for (const auto& k : key)
    places.push_back(static_cast<size_t>(std::find(columns.begin(), columns.end(), k) - columns.begin()));
  return places;
}

std::string StagedTable::only_target() const { return from_table(target, partitioned); }

// OFFSET 0 keeps the subquery a subquery: Citus would otherwise see the
// table itself in the correlated subquery and refuse the join.
std::string StagedTable::target_rows() const {
  if (!citus) return only_target();
  return "(SELECT * FROM " + only_target() + " ptb_c" + (citus_scope ? " WHERE " + citus_scope("ptb_c") : "") +
         " OFFSET 0)";
}

std::string StagedTable::stage_rows() const { return citus ? "(SELECT * FROM " + stage + " OFFSET 0)" : stage; }

std::string StagedTable::and_scope(std::string_view alias) const {
  return citus && citus_scope ? " AND (" + citus_scope(alias) + ")" : "";
}

std::string key_match_sql(const StagedTable& t, std::string_view left, std::string_view right) {
  std::vector<std::string> terms;
  for (size_t i = 0; i < t.key.size(); ++i)
    terms.push_back(std::string(left) + "." + quote_ident(t.key[i]) + " " + t.key_operators[i] +
                    " " + std::string(right) + "." + quote_ident(t.key[i]));
  return terms.empty() ? "false" : join(terms, " AND ");
}

std::string describe_row_sql(const std::vector<std::string>& columns, std::string_view alias) {
  return describe(columns, qualified(columns, alias));
}

std::string update_existing_sql(const StagedTable& t) {
  const auto set_columns = t.update_columns();
  if (!t.has_key() || set_columns.empty()) return {};
  std::vector<std::string> sets;
  for (const auto& c : set_columns) sets.push_back(quote_ident(c) + " = ptb_s." + quote_ident(c));
  return "UPDATE " + t.only_target() + " AS ptb_t SET " + join(sets, ", ") + " FROM " + t.stage_rows() +
         " ptb_s WHERE " + key_match_sql(t, "ptb_t", "ptb_s") + t.and_scope("ptb_t") + " AND " +
         rows_differ(set_columns, "ptb_t", "ptb_s");
}

std::string count_differing_sql(const StagedTable& t) {
  const auto set_columns = t.update_columns();
  if (!t.has_key() || set_columns.empty()) return {};
  return "SELECT pg_catalog.count(*) FROM " + t.only_target() + " ptb_t JOIN " + t.stage + " ptb_s ON " +
         key_match_sql(t, "ptb_t", "ptb_s") + " WHERE " + rows_differ(set_columns, "ptb_t", "ptb_s");
}

namespace {
std::string missing_condition(const StagedTable& t) {
  if (!t.has_key()) return {};
  return " WHERE NOT EXISTS (SELECT 1 FROM " + t.target_rows() + " ptb_e WHERE " +
         key_match_sql(t, "ptb_e", "ptb_s") + ")";
}
}  // namespace

std::string insert_missing_sql(const StagedTable& t) {
  std::string columns = column_list(t.columns);
  std::string values = column_list(t.columns, "ptb_s");
  for (const auto& [column, expression] : t.inserted_values) {
    columns += ", " + quote_ident(column);
    values += ", " + expression;
  }
  return "INSERT INTO " + t.target + " AS ptb_t (" + columns + ") OVERRIDING SYSTEM VALUE SELECT " + values +
         " FROM " + t.stage + " ptb_s" + missing_condition(t);
}

std::string count_missing_sql(const StagedTable& t) {
  return "SELECT pg_catalog.count(*) FROM " + t.stage + " ptb_s" + missing_condition(t);
}

namespace {

// Whether `sql` is one EXISTS (...) and nothing else.
bool single_exists(const std::string& sql) {
  if (sql.rfind("EXISTS (", 0) != 0) return false;
  int depth = 0;
  bool quoted = false;
  for (size_t i = 7; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '\'') quoted = !quoted;  // '' inside a literal toggles twice
    if (quoted) continue;
    if (c == '(') ++depth;
    if (c == ')' && --depth == 0) return i + 1 == sql.size();
  }
  return false;
}

// Membership tests are written so the planner can turn an EXISTS along the
// owning chain into a (semi or anti) join, which spills to disk past
// work_mem. Wrapped in COALESCE it can only run as a subplan, and a hashed
// subplan over the tenant's parent rows grows with the tenant.
// In a WHERE clause NULL already counts as false: a positive test needs no
// wrapper.
std::string owned_condition(const std::string& membership) { return "(" + membership + ")"; }

// Not the tenant's, NULL counted as not: NOT EXISTS for an owning chain.
std::string not_owned_condition(const std::string& membership) {
  if (single_exists(membership)) return "NOT " + membership;
  return "NOT COALESCE((" + membership + "), false)";
}

}  // namespace

std::string doomed_sql(const StagedTable& t, std::string_view alias, const std::string& membership,
                       const std::vector<const StagedTable*>& spared) {
  std::string sql = owned_condition(membership);
  auto not_in = [&](const StagedTable& keys) {
    sql += " AND NOT EXISTS (SELECT 1 FROM " + keys.stage_rows() + " ptb_k WHERE " + key_match_sql(keys, alias, "ptb_k") +
           ")";
  };
  if (t.has_key()) not_in(t);
  for (const StagedTable* s : spared)
    if (s->has_key()) not_in(*s);
  return sql;
}

std::string delete_doomed_sql(const std::vector<const StagedTable*>& tables,
                              const std::vector<std::string>& doomed) {
  std::vector<std::string> ctes;
  std::vector<std::string> counts;
  for (size_t i = tables.size(); i-- > 0;) {
    const std::string name = "ptb_d" + std::to_string(i);
    ctes.push_back(name + " AS (DELETE FROM " + tables[i]->only_target() + " AS ptb_t WHERE " +
                   doomed[i] + " RETURNING 1)");
  }
  for (size_t i = 0; i < tables.size(); ++i)
    counts.push_back("(SELECT pg_catalog.count(*) FROM ptb_d" + std::to_string(i) + ")");
  return "WITH " + join(ctes, ", ") + " SELECT " + join(counts, ", ");
}

// The first row of a check that normally finds none. "LIMIT 1" alone makes
// the planner cost for an early first row, and it then picks nested loops
// that rescan a staging table per outer row: quadratic when nothing is
// found. A materialized CTE is planned for all its rows (hash joins), and
// still stops at the first one found.
std::string first_row_of(const std::string& query) {
  return "WITH ptb_found AS MATERIALIZED (" + query + ") SELECT * FROM ptb_found LIMIT 1";
}

std::string stage_key_index_sql(const StagedTable& t, bool unique) {
  if (!t.has_key()) return {};
  std::vector<std::string> columns;
  for (size_t i = 0; i < t.key.size(); ++i) {
    std::string column = quote_ident(t.key[i]);
    if (i < t.key_collations.size() && !t.key_collations[i].empty()) column += " COLLATE " + t.key_collations[i];
    if (i < t.key_opclasses.size() && !t.key_opclasses[i].empty()) column += " " + t.key_opclasses[i];
    columns.push_back(column);
  }
  return std::string(unique ? "CREATE UNIQUE INDEX ON " : "CREATE INDEX ON ") + t.stage + " (" +
         join(columns, ", ") + ")" + (unique ? " NULLS NOT DISTINCT" : "");
}

std::string count_staged_nulls_sql(const StagedTable& t, const std::string& column) {
  return "SELECT pg_catalog.count(*) FROM " + t.stage + " WHERE " + quote_ident(column) + " IS NULL";
}

std::string count_doomed_sql(const StagedTable& t, const std::string& membership) {
  return "SELECT pg_catalog.count(*) FROM " + t.only_target() + " ptb_t WHERE " + doomed_sql(t, "ptb_t", membership);
}

std::string staged_tenant_row_sql(const StagedTable& t, const std::string& key_column, const std::string& type) {
  if (std::find(t.columns.begin(), t.columns.end(), key_column) == t.columns.end()) return "";
  // The key's own operator when the tenant's key is the key rows are
  // matched on (a type without a default btree class has no plain =).
  const std::string op =
      t.key == std::vector<std::string>{key_column} ? t.key_operators[0] : std::string("OPERATOR(pg_catalog.=)");
  return "SELECT 1 FROM " + t.stage + " ptb_s WHERE ptb_s." + quote_ident(key_column) + " " + op + " CAST($1 AS " +
         type + ") LIMIT 1";
}

std::string duplicate_keys_sql(const StagedTable& t) {
  return first_row_of("SELECT " + describe_row_sql(t.key, "ptb_s") + " FROM " + t.stage + " ptb_s GROUP BY " +
                      column_list(t.key, "ptb_s") + " HAVING pg_catalog.count(*) > 1");
}

std::string missing_rows_sql(const StagedTable& t) {
  return "SELECT pg_catalog.count(*), pg_catalog.min(ptb_m.d) FROM (SELECT " +
         describe_row_sql(t.key, "ptb_s") + " AS d FROM " + t.stage +
         " ptb_s WHERE NOT EXISTS (SELECT 1 FROM " + t.target_rows() + " ptb_t WHERE " +
         key_match_sql(t, "ptb_t", "ptb_s") + ")) ptb_m";
}

namespace {
// The stage (ptb_s) joined with the table's rows of the same key (t0).
std::string stage_joined_by_key(const StagedTable& t, const char* join) {
  return " FROM " + t.stage + " ptb_s " + join + " " + t.only_target() + " t0 ON " + key_match_sql(t, "t0", "ptb_s");
}
}  // namespace

std::string foreign_owner_sql(const StagedTable& t, const std::string& owned) {
  return first_row_of("SELECT " + describe_row_sql(t.key, "ptb_s") + stage_joined_by_key(t, "JOIN") + " WHERE " +
                      not_owned_condition(owned));
}

std::string key_owners_sql(const StagedTable& t, const std::string& owned) {
  if (!t.has_key()) return {};
  // A staged row the table has no row for: the key's first column of the
  // outer-joined row is NULL (a matched row's key is not).
  const std::string found = "t0." + quote_ident(t.key[0]) + " IS NOT NULL";
  return "SELECT pg_catalog.min(" + describe_row_sql(t.key, "ptb_s") + ") FILTER (WHERE " + found + " AND " +
         not_owned_condition(owned) + "), pg_catalog.count(*) FILTER (WHERE NOT (" + found + "))" +
         stage_joined_by_key(t, "LEFT JOIN");
}

std::string stray_staged_sql(const StagedTable& t, const std::string& owned) {
  std::vector<std::string> shown = t.key;
  if (!t.has_key()) shown.assign(t.columns.begin(), t.columns.begin() + std::min<size_t>(t.columns.size(), 4));
  return first_row_of("SELECT " + describe_row_sql(shown, "t0") + " FROM " + t.stage +
                      " t0 WHERE " + not_owned_condition(owned));
}

std::string not_owned_sql(const StagedTable& t, const std::string& owned) {
  if (!t.has_key()) return stray_staged_sql(t, owned);
  return first_row_of("SELECT " + describe_row_sql(t.key, "ptb_s") + " FROM " + t.stage +
                      " ptb_s WHERE NOT EXISTS (SELECT 1 FROM " + t.target_rows() + " t0 WHERE " +
                      key_match_sql(t, "t0", "ptb_s") + " AND " + owned_condition(owned) + ")");
}

std::string written_rows_sql(const StagedTable& t, int xids_param) {
  return "(SELECT * FROM " + t.only_target() + " ptb_w WHERE ptb_w.xmin OPERATOR(pg_catalog.=) ANY ($" +
         std::to_string(xids_param) + "::pg_catalog.xid[]))";
}

std::string written_not_owned_sql(const StagedTable& t, const std::string& owned, int xids_param) {
  return first_row_of("SELECT " + describe_row_sql(t.key, "t0") + " FROM " + written_rows_sql(t, xids_param) +
                      " t0 WHERE " + not_owned_condition(owned));
}

std::string blocked_delete_sql(const ForeignKeyCheck& fk, const std::string& to_doomed,
                               const std::vector<std::string>& to_key,
                               const std::string& from_doomed) {
  std::vector<std::string> on;
  for (size_t i = 0; i < fk.to_columns.size(); ++i)
    on.push_back("ptb_d." + quote_ident(fk.to_columns[i]) + " " + fk.operators[i] + " ptb_x." +
                 quote_ident(fk.from_columns[i]));
  return first_row_of("SELECT " + describe_row_sql(fk.from_key, "ptb_x") + ", " +
                      describe_row_sql(to_key, "ptb_d") + " FROM " +
                      from_table(fk.from_table, fk.from_partitioned) + " ptb_x JOIN " +
                      from_table(fk.to_table, fk.to_partitioned) + " ptb_d ON " + join(on, " AND ") +
                      " WHERE (" + to_doomed + ") AND NOT (" + from_doomed + ")");
}

std::string dangling_reference_sql(const ForeignKeyCheck& fk, const std::string& stage,
                                   const std::vector<std::string>& stage_columns,
                                   const std::vector<std::string>& key) {
  for (const auto& c : fk.from_columns)
    if (std::find(stage_columns.begin(), stage_columns.end(), c) == stage_columns.end()) return {};
  std::vector<std::string> not_null;
  std::vector<std::string> on;
  for (size_t i = 0; i < fk.from_columns.size(); ++i) {
    not_null.push_back("ptb_s." + quote_ident(fk.from_columns[i]) + " IS NOT NULL");
    on.push_back("ptb_r." + quote_ident(fk.to_columns[i]) + " " + fk.operators[i] + " ptb_s." +
                 quote_ident(fk.from_columns[i]));
  }
  return first_row_of("SELECT " + describe_row_sql(key, "ptb_s") + ", " +
                      describe(fk.to_columns, qualified(fk.from_columns, "ptb_s")) + " FROM " + stage +
                      " ptb_s WHERE " + join(not_null, " AND ") + " AND NOT EXISTS (SELECT 1 FROM " +
                      (fk.to_rows.empty() ? from_table(fk.to_table, fk.to_partitioned) : fk.to_rows) +
                      " ptb_r WHERE " + join(on, " AND ") + ")");
}

ImportSteps import_steps(ImportMode mode, bool fire_triggers, bool dry_run) {
  ImportSteps steps;
  steps.updates = mode != ImportMode::InsertOnly;
  steps.deletes = mode == ImportMode::Replace;
  steps.inserts_only_counted_new_keys =
      mode == ImportMode::InsertOnly || (mode == ImportMode::Merge && !fire_triggers);
  steps.checks_then_drops_skipped = mode == ImportMode::InsertOnly;
  steps.checks_foreign_keys = !fire_triggers;
  steps.checks_only_written_rows = mode == ImportMode::Merge && !fire_triggers;
  steps.advances_sequences = !dry_run;
  return steps;
}

bool loads_directly(const DirectLoadFacts& f) {
  return f.has_key && f.plain_table && !f.tenant_has_rows && !f.restoring_to_moment && !f.migrates &&
         !f.brings_back_tenant && f.may_insert;
}

std::string loaded_rows_sql(const StagedTable& t, const std::string& membership, int xid_param) {
  return "(SELECT * FROM " + t.only_target() + " ptb_l WHERE ptb_l.xmin OPERATOR(pg_catalog.=) $" +
         std::to_string(xid_param) + "::pg_catalog.xid" +
         (membership.empty() ? std::string() : " AND " + owned_condition(membership)) + ")";
}

std::string count_loaded_rows_sql(const StagedTable& t, const std::string& membership, int xid_param) {
  return "SELECT pg_catalog.count(*) FROM " + loaded_rows_sql(t, membership, xid_param) + " ptb_loaded";
}

std::string drop_skipped_sql(const StagedTable& t) {
  return "DELETE FROM " + t.stage + " ptb_s USING " + t.only_target() + " ptb_t WHERE " +
         key_match_sql(t, "ptb_t", "ptb_s") + " AND " + rows_differ(t.columns, "ptb_t", "ptb_s");
}

// --- Report ----------------------------------------------------------------

int64_t TableOutcome::unchanged() const { return std::max<int64_t>(0, rows - inserted - updated); }

json report_json(const ImportReport& r) {
  json tables = json::array();
  int64_t inserted = 0, updated = 0, unchanged = 0, deleted = 0;
  for (const auto& t : r.tables) {
    tables.push_back({{"table", t.table},
                      {"inserted", t.inserted},
                      {"updated", t.updated},
                      {"unchanged", t.unchanged()},
                      {"deleted", t.deleted},
                      {"load", t.loaded_directly           ? "direct"
                               : t.left_out_unchanged > 0 ? "staged_changes"
                                                          : "staged"},
                      {"staged", t.loaded_directly ? 0 : t.rows - t.left_out_unchanged},
                      {"matched_on", t.key.empty() ? json(nullptr)
                                                   : json{{"columns", t.key}, {"source", t.key_source}}}});
    inserted += t.inserted;
    updated += t.updated;
    unchanged += t.unchanged();
    deleted += t.deleted;
  }
  json report = {{"mode", std::string(to_string(r.mode))},
                 {"dry_run", r.dry_run},
                 {"tenant", r.tenant ? json(*r.tenant) : json(nullptr)},
                 {"tables", tables},
                 {"totals",
                  {{"inserted", inserted}, {"updated", updated}, {"unchanged", unchanged}, {"deleted", deleted}}},
                 {"triggers", {{"fired", r.triggers.fired}, {"reason", r.triggers.reason}}},
                 {"schema_changes", schema_changes_json(r.schema_differences)},
                 {"duration_ms", std::round(r.duration_ms * 1000.0) / 1000.0}};
  if (r.mode == ImportMode::Replace) {
    json kept_tables = json::array();
    int64_t soft_deleted = 0, unrecorded = 0;
    for (const auto& t : r.tables) {
      soft_deleted += t.kept_soft_deleted;
      unrecorded += t.kept_unrecorded;
      if (t.kept_soft_deleted != 0 || t.kept_unrecorded != 0)
        kept_tables.push_back(
            {{"table", t.table}, {"soft_deleted", t.kept_soft_deleted}, {"unrecorded", t.kept_unrecorded}});
    }
    report["kept"] = {{"soft_deleted", soft_deleted}, {"unrecorded", unrecorded}, {"tables", kept_tables}};
  }
  return report;
}

std::string report_summary(const ImportReport& r) {
  const json j = report_json(r);
  const json& t = j["totals"];
  return std::string(to_string(r.mode)) + (r.dry_run ? " (dry run)" : "") + ": " +
         std::to_string(t["inserted"].get<int64_t>()) + " inserted, " +
         std::to_string(t["updated"].get<int64_t>()) + " updated, " +
         std::to_string(t["unchanged"].get<int64_t>()) + " unchanged, " +
         std::to_string(t["deleted"].get<int64_t>()) + " deleted" +
         [&]() -> std::string {
           if (!j.contains("kept")) return "";
           std::string kept;
           for (const char* why : {"soft_deleted", "unrecorded"})
             if (const int64_t n = j["kept"][why].get<int64_t>(); n != 0)
               kept += ", " + std::to_string(n) + (why[0] == 's' ? " kept soft-deleted" : " kept unrecorded");
           return kept;
         }();
}

}  // namespace ptb::core
