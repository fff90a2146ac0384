#include "pg/settings.hpp"

#include <climits>
#include <cstring>

#include "core/error.hpp"
#include "core/schedule.hpp"
#include "pg/guarded.hpp"

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
bool prune_manual_setting = false;
char* archive_command_setting = nullptr;

char* database_setting = nullptr;
int max_workers_setting = 2;
char* timezone_setting = nullptr;
int catch_up_setting = 0;
const struct config_enum_entry kCatchUpOptions[] = {
    {"once", 0, false}, {"skip", 1, false}, {nullptr, 0, false}};

// A schedule time zone must be one the schedule engine can read.
bool check_timezone(char** newval, void**, GucSource) {
  return entry([&] {
    static char why[512];
    try {
      core::TimeZone::load(*newval ? *newval : "");
      return true;
    } catch (const core::Error& e) {
      strlcpy(why, e.what(), sizeof why);
    }
    GUC_check_errdetail("%s", why);
    return false;
  });
}

bool change_capture_setting = false;
int capture_max_retained_wal_setting = 1024;

bool allow_restore_setting = false;
char* restore_window_setting = nullptr;

// restore_window must read as an interval ('7 days', 'P7D', '0').
bool check_restore_window(char** newval, void**, GucSource) {
  return entry([&] {
    static char why[512];
    if (*newval == nullptr || (*newval)[0] == '\0') return true;
    try {
      guarded([&] { (void)DirectFunctionCall3(interval_in, CStringGetDatum(*newval),
                                              ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)); });
      return true;
    } catch (const ServerError& e) {
      strlcpy(why, e.what(), sizeof why);
    }
    GUC_check_errdetail("pg_tenant_backup.restore_window must be an interval: %s", why);
    return false;
  });
}

int encryption_setting = 0;
char* encryption_key_file_setting = nullptr;
char* encryption_old_key_files_setting = nullptr;
const struct config_enum_entry kEncryptionOptions[] = {
    {"off", 0, false}, {"aes-256-gcm", 1, false}, {nullptr, 0, false}};

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
                           "Decode and parse each stored snapshot's bytes as they are written, "
                           "and compare its row counts, before it counts as completed.",
                           nullptr, &verify_after_backup_setting, true, PGC_USERSET, 0, nullptr,
                           nullptr, nullptr);
  DefineCustomIntVariable("pg_tenant_backup.max_backups",
                          "Completed snapshots kept per tenant by a schedule without its own "
                          "max_backups, and by backup_prune.",
                          nullptr, &max_backups_setting, 50, 1, INT_MAX, PGC_SUSET, 0, nullptr,
                          nullptr, nullptr);
  DefineCustomIntVariable("pg_tenant_backup.retention_days",
                          "Snapshots older than this many days are expired by a schedule "
                          "without its own retention_days, and by backup_prune (the newest of "
                          "a tenant is always kept).",
                          nullptr, &retention_days_setting, 30, 0, 36500, PGC_SUSET, 0, nullptr,
                          nullptr, nullptr);
  DefineCustomBoolVariable("pg_tenant_backup.prune_manual",
                           "backup_create also expires the tenant's manual and pre_restore "
                           "snapshots by max_backups and retention_days (superuser only).",
                           "Kept snapshots, and pre_restore snapshots whose restore can still be "
                           "undone, are never expired.",
                           &prune_manual_setting, false, PGC_SUSET, 0, nullptr, nullptr, nullptr);
  DefineCustomStringVariable(
      "pg_tenant_backup.archive_command",
      "Shell command run after each completed snapshot, with %p (path) and %f (file name).",
      "Superuser only. Its failure is reported as a WARNING and recorded in backup_logs.",
      &archive_command_setting, "", PGC_SUSET, 0, nullptr, nullptr, nullptr);
  // A postmaster setting can only be defined while the library is
  // preloaded; without preload there is no scheduler to configure.
  if (process_shared_preload_libraries_in_progress)
    DefineCustomStringVariable("pg_tenant_backup.database",
                               "Database the scheduler connects to (needs shared_preload_libraries).",
                               nullptr, &database_setting, "postgres", PGC_POSTMASTER, 0, nullptr,
                               nullptr, nullptr);
  DefineCustomIntVariable("pg_tenant_backup.max_workers",
                          "Scheduled backups that may run at once.", nullptr,
                          &max_workers_setting, 2, 1, 64, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomStringVariable("pg_tenant_backup.timezone",
                             "Default time zone of new schedules (an IANA name).", nullptr,
                             &timezone_setting, "UTC", PGC_USERSET, 0, check_timezone, nullptr,
                             nullptr);
  DefineCustomEnumVariable("pg_tenant_backup.catch_up",
                           "Schedules missed while the server was down: run once at start, or "
                           "skip to the next fire time.",
                           nullptr, &catch_up_setting, 0, kCatchUpOptions, PGC_SIGHUP, 0, nullptr,
                           nullptr, nullptr);
  DefineCustomBoolVariable("pg_tenant_backup.change_capture",
                           "Capture every committed row change of the scanned schemas into change "
                           "segments (needs shared_preload_libraries and wal_level = logical).",
                           "Set in postgresql.conf or with ALTER SYSTEM, then reload. See docs/pitr.md.",
                           &change_capture_setting, false, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("pg_tenant_backup.capture_max_retained_wal",
                          "WAL the change capture slot may hold back; above it the slot is dropped "
                          "and capture stops until the configuration is reloaded.",
                          nullptr, &capture_max_retained_wal_setting, 1024, 1, INT_MAX, PGC_SIGHUP,
                          GUC_UNIT_MB, nullptr, nullptr, nullptr);
  DefineCustomBoolVariable("pg_tenant_backup.allow_restore",
                           "Allow backup_restore to replace a tenant's data (superuser only).",
                           nullptr, &allow_restore_setting, false, PGC_SUSET, 0, nullptr, nullptr,
                           nullptr);
  DefineCustomStringVariable("pg_tenant_backup.restore_window",
                             "backup_restore refuses snapshots older than this interval "
                             "(superuser only; 0 = no limit).",
                             nullptr, &restore_window_setting, "0", PGC_SUSET, 0,
                             check_restore_window, nullptr, nullptr);
  // Encryption at rest. Only a superuser may change these, and only a
  // superuser (or pg_read_all_settings) may see where the keys are.
  DefineCustomEnumVariable("pg_tenant_backup.encryption",
                           "Encryption of new stored snapshots: off or aes-256-gcm (superuser "
                           "only).",
                           nullptr, &encryption_setting, 0, kEncryptionOptions, PGC_SUSET, 0,
                           nullptr, nullptr, nullptr);
  DefineCustomStringVariable("pg_tenant_backup.encryption_key_file",
                             "File holding the key of new encrypted snapshots: 64 hexadecimal "
                             "digits (superuser only).",
                             "Relative paths are under the data directory. The file must not be "
                             "readable by group or others.",
                             &encryption_key_file_setting, "", PGC_SUSET, GUC_SUPERUSER_ONLY,
                             nullptr, nullptr, nullptr);
  DefineCustomStringVariable("pg_tenant_backup.encryption_old_key_files",
                             "Comma-separated key files still accepted for reading snapshots "
                             "encrypted before a key rotation (superuser only).",
                             nullptr, &encryption_old_key_files_setting, "", PGC_SUSET,
                             GUC_SUPERUSER_ONLY, nullptr, nullptr, nullptr);
#if PG_VERSION_NUM >= 150000
  MarkGUCPrefixReserved("pg_tenant_backup");
#else
  EmitWarningsOnPlaceholders("pg_tenant_backup");
#endif
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
  s.prune_manual = prune_manual_setting;
  s.archive_command = archive_command_setting ? archive_command_setting : "";
  return s;
}

ScheduleSettings schedule_settings() {
  return {database_setting ? database_setting : "postgres", max_workers_setting,
          timezone_setting ? timezone_setting : "UTC", catch_up_setting == 0};
}

EncryptionSettings encryption_settings() {
  EncryptionSettings s;
  s.enabled = encryption_setting == 1;
  s.key_file = encryption_key_file_setting ? encryption_key_file_setting : "";
  std::string list = encryption_old_key_files_setting ? encryption_old_key_files_setting : "";
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    std::string item = list.substr(start, comma - start);
    size_t first = item.find_first_not_of(" \t"), last = item.find_last_not_of(" \t");
    if (first != std::string::npos) s.old_key_files.push_back(item.substr(first, last - first + 1));
    start = comma + 1;
  }
  return s;
}

CaptureSettings capture_settings() {
  return {change_capture_setting, capture_max_retained_wal_setting};
}

RestoreSettings restore_settings() {
  return {allow_restore_setting,
          restore_window_setting && restore_window_setting[0] ? restore_window_setting : "0"};
}

core::SnapshotOptions settings_snapshot_options() { return snapshot_options(nlohmann::json::object()); }

core::SnapshotOptions snapshot_options(const nlohmann::json& opts, const std::vector<std::string>& extra_keys) {
  auto text = [](const char* s) { return std::string(s ? s : ""); };
  core::SnapshotOptions options = core::options_from_settings(
      {text(tenancy_setting), text(tenant_column_setting), text(schemas_setting),
       text(exclude_tables_setting), text(audit_tables_setting),
       text(soft_delete_column_setting)});
  if (!opts.empty()) options = core::apply_options(opts, std::move(options), extra_keys);
  return options;
}

core::SnapshotOptions stored_snapshot_options(const nlohmann::json& opts) {
  core::SnapshotOptions options = settings_snapshot_options();
  options.include_deleted = true;
  if (!opts.empty()) options = core::apply_options(opts, std::move(options), core::stored_snapshot_option_keys());
  return options;
}

}  // namespace ptb::pg
