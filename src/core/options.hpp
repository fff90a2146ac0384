// The settings that shape a tenant snapshot. Defaults come from the
// pg_tenant_backup.* GUCs (read by src/pg), and every one can be overridden
// per call in the jsonb opts argument.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/names.hpp"

namespace ptb::core {

enum class TenancyMode { Column, Schema };

std::string_view to_string(TenancyMode mode);

// A table whose rows belong to the tenant through a polymorphic reference
// (Rails' record_type/record_id, PaperTrail's item_type/item_id, Laravel's
// morphs): the type column names a table, the id column a row of it, with
// no foreign key (docs/tenancy.md#polymorphic-references).
struct PolymorphicLink {
  std::string type_column;
  std::string id_column;
  // Type values mapped to tables, on top of the default rule (which maps a
  // value to a table by name: type_value_matches).
  std::map<std::string, QualifiedName> types;
  // Tables the link's table references by foreign key whose rows follow
  // its rows (ActiveStorage blobs); unset: every such table that has no
  // other place.
  std::optional<std::vector<QualifiedName>> follow;

  bool operator==(const PolymorphicLink&) const = default;
};

// The default rule: does a type value name the table `name` (in schema
// `schema`)? True for the table's name, its schema-qualified name, its
// singulars ("invoice") and the class names of those (Rails, with or
// without "::" between words: "Invoice", "BillingInvoice",
// "Billing::Invoice"). The singulars: ies -> y; ses, xes, zes, ches,
// shes -> without es; s (not ss) -> without s; a name with none of these
// endings is its own singular.
bool type_value_matches(std::string_view value, std::string_view schema, std::string_view name);
// The values type_value_matches accepts for a table, sorted (the SQL
// compares the type column with this list).
std::vector<std::string> type_values_for_table(std::string_view schema, std::string_view name);

struct SnapshotOptions {
  TenancyMode tenancy = TenancyMode::Column;
  std::string tenant_column = "tenant_id";
  std::vector<std::string> schemas = {"public"};
  std::vector<QualifiedName> exclude_tables = {{"", "audit_logs"}, {"", "backup_logs"}};
  std::vector<QualifiedName> audit_tables = {{"", "audit_logs"}};
  std::string soft_delete_column = "deleted_at";  // empty: no soft delete
  bool include_deleted = false;
  bool include_audit_logs = false;
  std::optional<std::vector<QualifiedName>> tables;  // only these, when set
  // Owning foreign key per child table, overriding the default rule.
  std::map<QualifiedName, std::string> owning_fks;
  // Polymorphic links per table (column tenancy).
  std::map<QualifiedName, PolymorphicLink> polymorphic;
};

// The settings as the server stores them: GUC strings.
struct SettingStrings {
  std::string tenancy;
  std::string tenant_column;
  std::string schemas;
  std::string exclude_tables;
  std::string audit_tables;
  std::string soft_delete_column;
};

// Builds the defaults from GUC strings; throws Error(22023) naming the
// setting when one is malformed.
SnapshotOptions options_from_settings(const SettingStrings& settings);

// Checks one setting's text (name without the prefix) as the server is
// about to store it; throws Error(22023) saying what is wrong.
void validate_setting(std::string_view name, std::string_view value);

// Error(22023) "invalid value for option "<option>": <why>", the one way an
// option of any function is refused for its value.
[[noreturn]] void invalid_option_value(std::string_view option, const std::string& why);

// Applies a jsonb opts document (as JSON text) on top of base. Unknown keys
// and wrongly typed values throw Error(22023) listing the valid options.
// `extra_keys` are options of the calling function (backup_create's
// compression, ...): they are accepted here and read by the caller.
SnapshotOptions apply_options_json(std::string_view json_text, SnapshotOptions base,
                                   const std::vector<std::string>& extra_keys = {});

// The one parse of an opts document: Error(22023) when it is not JSON or
// not an object. Apply the result with apply_options.
nlohmann::json parse_opts(std::string_view json_text);

// apply_options_json on a document parse_opts returned.
SnapshotOptions apply_options(const nlohmann::json& opts, SnapshotOptions base,
                              const std::vector<std::string>& extra_keys = {});

// The options as a JSON object (recorded in a snapshot's metadata).
std::string options_to_json(const SnapshotOptions& options);

// Options of stored snapshots (backup_create), on top of the snapshot's.
struct StoredSnapshotOptions {
  std::string compression = "zstd";  // none | zstd
  bool verify_after_backup = true;
};
// Their names (for apply_options_json's extra_keys).
const std::vector<std::string>& stored_snapshot_option_keys();
// Reads those keys from opts (other keys are left to apply_options_json).
StoredSnapshotOptions apply_stored_snapshot_options(const nlohmann::json& opts, StoredSnapshotOptions base);

// Names of every option apply_options_json accepts, sorted.
const std::vector<std::string>& valid_option_names();

}  // namespace ptb::core
