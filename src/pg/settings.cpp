#include "pg/settings.hpp"

#include <climits>
#include <cstring>

#include "core/error.hpp"
#include "pg/boundary.hpp"

namespace ptb::pg {

namespace {

char* tenancy_setting = nullptr;
char* tenant_column_setting = nullptr;
char* schemas_setting = nullptr;
char* exclude_tables_setting = nullptr;
char* audit_tables_setting = nullptr;
char* soft_delete_column_setting = nullptr;
char* storage_path_setting = nullptr;
int compression_setting = 1;
bool verify_after_backup_setting = true;
int max_backups_setting = 50;
int retention_days_setting = 30;
char* archive_command_setting = nullptr;

const struct config_enum_entry kCompressionOptions[] = {
    {"none", 0, false}, {"zstd", 1, false}, {nullptr, 0, false}};

// storage_path must be absolute: a relative path would depend on the
// server's working directory.
bool check_storage_path(char** newval, void**, GucSource) {
  return entry([&] {
    if (*newval == nullptr || (*newval)[0] == '\0' || is_absolute_path(*newval)) return true;
    GUC_check_errdetail("pg_tenant_backup.storage_path must be an absolute path.");
    return false;
  });
}

// GUC check hooks are called by the server, so they go through entry();
// a bad value is reported through GUC_check_errdetail, not an ERROR.
template <const char* Name>
bool check_setting(char** newval, void**, GucSource) {
  return entry([&] {
    static char why[1024];
    try {
      core::validate_setting(Name, *newval ? *newval : "");
      return true;
    } catch (const core::Error& e) {
      strlcpy(why, e.what(), sizeof why);
    }
    GUC_check_errdetail("%s", why);
    return false;
  });
}

constexpr char kTenancy[] = "tenancy";
constexpr char kTenantColumn[] = "tenant_column";
constexpr char kSchemas[] = "schemas";
constexpr char kExcludeTables[] = "exclude_tables";
constexpr char kAuditTables[] = "audit_tables";
constexpr char kSoftDeleteColumn[] = "soft_delete_column";

void define_string(const char* name, const char* description, char** variable,
                   const char* default_value, GucStringCheckHook check) {
  char full_name[128];
  snprintf(full_name, sizeof full_name, "pg_tenant_backup.%s", name);
  DefineCustomStringVariable(pstrdup(full_name), description, nullptr, variable, default_value,
                             PGC_USERSET, 0, check, nullptr, nullptr);
}

}  // namespace

void define_settings() {
  define_string(kTenancy, "How tenants are separated: column or schema.", &tenancy_setting,
                "column", check_setting<kTenancy>);
  define_string(kTenantColumn, "Name of the column that holds the tenant id.",
                &tenant_column_setting, "tenant_id", check_setting<kTenantColumn>);
  define_string(kSchemas, "Schemas scanned for tenant tables (comma-separated).",
                &schemas_setting, "public", check_setting<kSchemas>);
  define_string(kExcludeTables, "Tables never included in a snapshot (comma-separated).",
                &exclude_tables_setting, "audit_logs,backup_logs", check_setting<kExcludeTables>);
  define_string(kAuditTables, "Audit tables, included only with include_audit_logs.",
                &audit_tables_setting, "audit_logs", check_setting<kAuditTables>);
  define_string(kSoftDeleteColumn,
                "Column marking soft-deleted rows (left out unless include_deleted); "
                "empty to disable.",
                &soft_delete_column_setting, "deleted_at", check_setting<kSoftDeleteColumn>);
  DefineCustomStringVariable(
      "pg_tenant_backup.storage_path",
      "Directory where stored snapshots are written (superuser only).",
      "Empty means pg_tenant_backup under the data directory. Created with mode 0700.",
      &storage_path_setting, "", PGC_SUSET, 0, check_storage_path, nullptr, nullptr);
  DefineCustomEnumVariable("pg_tenant_backup.compression",
                           "Compression of stored snapshots: none or zstd.", nullptr,
                           &compression_setting, 1, kCompressionOptions, PGC_USERSET, 0, nullptr,
                           nullptr, nullptr);
  DefineCustomBoolVariable("pg_tenant_backup.verify_after_backup",
                           "Read each stored snapshot back and check it before it counts as "
                           "completed.",
                           nullptr, &verify_after_backup_setting, true, PGC_USERSET, 0, nullptr,
                           nullptr, nullptr);
  DefineCustomIntVariable("pg_tenant_backup.max_backups",
                          "Completed snapshots kept per tenant by backup_prune.", nullptr,
                          &max_backups_setting, 50, 1, INT_MAX, PGC_SUSET, 0, nullptr, nullptr,
                          nullptr);
  DefineCustomIntVariable("pg_tenant_backup.retention_days",
                          "Snapshots older than this many days are pruned (the newest of a "
                          "tenant is always kept).",
                          nullptr, &retention_days_setting, 30, 0, 36500, PGC_SUSET, 0, nullptr,
                          nullptr, nullptr);
  DefineCustomStringVariable(
      "pg_tenant_backup.archive_command",
      "Shell command run after each completed snapshot, with %p (path) and %f (file name).",
      "Superuser only. Its failure is reported as a WARNING and recorded in backup_logs.",
      &archive_command_setting, "", PGC_SUSET, 0, nullptr, nullptr, nullptr);
#if PG_VERSION_NUM >= 150000
  MarkGUCPrefixReserved("pg_tenant_backup");
#else
  EmitWarningsOnPlaceholders("pg_tenant_backup");
#endif
}

std::string jsonb_text(Jsonb* value) {
  char* text = nullptr;
  guarded([&] { text = JsonbToCString(nullptr, &value->root, VARSIZE(value)); });
  return text;
}

StorageSettings storage_settings() {
  StorageSettings s;
  s.storage_path = storage_path_setting && storage_path_setting[0]
                       ? storage_path_setting
                       : std::string(DataDir) + "/pg_tenant_backup";
  s.compression = compression_setting == 0 ? "none" : "zstd";
  s.verify_after_backup = verify_after_backup_setting;
  s.max_backups = max_backups_setting;
  s.retention_days = retention_days_setting;
  s.archive_command = archive_command_setting ? archive_command_setting : "";
  return s;
}

core::SnapshotOptions snapshot_options(Jsonb* opts, const std::vector<std::string>& extra_keys) {
  auto text = [](const char* s) { return std::string(s ? s : ""); };
  core::SnapshotOptions options = core::options_from_settings(
      {text(tenancy_setting), text(tenant_column_setting), text(schemas_setting),
       text(exclude_tables_setting), text(audit_tables_setting),
       text(soft_delete_column_setting)});
  if (opts != nullptr)
    options = core::apply_options_json(jsonb_text(opts), std::move(options), extra_keys);
  return options;
}

}  // namespace ptb::pg
