#include "pg/settings.hpp"

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

core::SnapshotOptions snapshot_options(Jsonb* opts) {
  auto text = [](const char* s) { return std::string(s ? s : ""); };
  core::SnapshotOptions options = core::options_from_settings(
      {text(tenancy_setting), text(tenant_column_setting), text(schemas_setting),
       text(exclude_tables_setting), text(audit_tables_setting),
       text(soft_delete_column_setting)});
  if (opts != nullptr) options = core::apply_options_json(jsonb_text(opts), std::move(options));
  return options;
}

}  // namespace ptb::pg
