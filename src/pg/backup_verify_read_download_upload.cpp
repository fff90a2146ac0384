// SQL entry points that read stored snapshots: backup_verify, backup_read,
// backup_download, backup_upload.
#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/compression.hpp"
#include "core/encryption.hpp"
#include "core/error.hpp"
#include "core/import_plan.hpp"
#include "core/snapshot_reader.hpp"
#include "core/storage_names.hpp"
#include "pg/backup_log.hpp"
#include "pg/stored_snapshot_writer.hpp"
#include "pg/guarded.hpp"
#include "pg/entry_point.hpp"
#include "pg/encryption.hpp"
#include "pg/settings.hpp"
#include "pg/snapshot_export.hpp"
#include "pg/spi.hpp"
#include "pg/srf.hpp"
#include "pg/file_io.hpp"
#include "pg/storage_directory.hpp"
#include "pg/stored_snapshot_reader.hpp"
#include "pg/tenancy.hpp"

extern "C" {
#include "storage/fd.h"
}

namespace {

using namespace ptb;
using nlohmann::json;
using pg::StoredBackup;
using pg::check_file_checksum;
using pg::find_stored_backup;
using pg::read_document;

constexpr size_t kChunk = 1 << 20;

std::string display_name_of(const std::string& schema, const std::string& name) {
  core::Table t;
  t.schema = schema;
  t.name = name;
  return pg::display_name(t);
}

json verify_backup(int64_t id) {
  const std::string started = pg::log_clock();
  StoredBackup b = find_stored_backup(id);
  json report = {{"id", id}, {"file_name", b.file_name}, {"ok", false}};
  json checks = json::object();
  json errors = json::array();
  auto fail = [&](const std::string& what) { errors.push_back(what); };

  checks["file_exists"] = pg::file_exists(b.path);
  if (!checks["file_exists"]) {
    fail("the file " + b.file_name + " is missing from the storage directory");
  } else {
    try {
      check_file_checksum(b);
      checks["checksum_matches"] = true;
    } catch (const core::Error& e) {
      checks["checksum_matches"] = false;
      fail(std::string(e.what()) + ": " + e.detail());
    }
    auto plain = pg::open_stored_snapshot(b);
    try {
      core::SnapshotSummary summary = core::read_snapshot_summary(*plain);
      plain->close();
      if (b.encrypted) checks["decrypts_and_authenticates"] = true;
      checks["decompresses_and_parses"] = true;
      checks["format_version"] = summary.format_version;
      json tables = json::array();
      bool counts_match = true;
      for (const auto& t : summary.tables) {
        if (t.section != "data") continue;
        // backup_logs keys its counts by display name (public."Order Lines").
        const std::string key = display_name_of(t.schema, t.name);
        const int64_t logged = b.table_counts.value(key, int64_t{-1});
        tables.push_back({{"table", key}, {"rows", t.rows}, {"logged", logged}});
        if (logged != t.rows) counts_match = false;
      }
      checks["counts_match"] = counts_match;
      if (!counts_match) fail("row counts differ from those recorded in backup_logs");
      report["tables"] = tables;
      report["total_rows"] = summary.total_rows;
      report["tenant"] = summary.tenant_id ? json(*summary.tenant_id) : json(nullptr);
    } catch (const pg::KeyUnavailable&) {
      // Not a fault of the file: without its key it cannot be checked.
      plain->close();
      throw;
    } catch (const core::Error& e) {
      plain->close();
      if (b.encrypted) checks["decrypts_and_authenticates"] = !plain->decryption_failed();
      checks["decompresses_and_parses"] = false;
      fail(std::string(e.what()) + (e.detail().empty() ? "" : ": " + e.detail()));
    }
  }
  report["encryption"] = b.encrypted ? json{{"algorithm", core::kEncryptionAlgorithm},
                                            {"key_id", b.encryption_key_id.value_or("")}}
                                     : json(nullptr);
  report["checks"] = checks;
  report["errors"] = errors;
  report["ok"] = errors.empty();

  pg::LogEntry log;
  log.operation = "verify";
  log.started_at = started;
  log.tenant = b.tenant;
  log.status = errors.empty() ? "completed" : "failed";
  log.finished = true;
  log.source_id = id;
  log.file_name = b.file_name;
  if (!errors.empty()) log.error = json{{"message", errors[0]}, {"sqlstate", core::sqlstate::kDataCorrupted}}.dump();
  pg::insert_log(log);
  return report;
}

// State of backup_download between calls.
struct DownloadState {
  int fd;
  char* path;
};

int64_t upload_backup(std::string_view data, const std::optional<std::string>& name,
                      const std::optional<std::string>& notes) {
  // An encrypted file is checked through its decryption (which needs its
  // key) and stored as it came; a plain one is encrypted when encryption is
  // on.
  const bool encrypted = core::looks_encrypted(data.substr(0, 6));
  std::optional<std::string> key_id;
  core::Compression compression = core::detect_compression(data.substr(0, 4));
  if (encrypted) {
    core::StringSource sealed(data);
    core::DecryptingSource first(sealed, pg::key_lookup());
    char magic[4];
    size_t n = 0;
    for (size_t r; n < sizeof magic && (r = first.read(magic + n, sizeof magic - n)) > 0;) n += r;
    compression = core::detect_compression(std::string_view(magic, n));
    key_id = first.key_id();
  }
  core::StringSource source(data);
  std::optional<core::DecryptingSource> decrypted;
  if (encrypted) decrypted.emplace(source, pg::key_lookup());
  core::DecompressingSource plain(decrypted ? static_cast<core::Source&>(*decrypted) : source,
                                  compression);
  core::SnapshotSummary summary = core::read_snapshot_summary(plain);

  pg::Spi::connect();
  pg::mark_interrupted_rows();
  const pg::StorageFolder folder = pg::prepare_storage_directory();
  // The snapshot's tenant must be a tenant of this database, found with the
  // tenancy options it was taken with. Tables that cannot be placed are for
  // the calls that read or change the tenant's rows to refuse, not upload.
  json options = summary.metadata.value("options", json::object());
  const int level = pg::fix_output_settings();
  // Recorded options hold names as stored ("Tenant A"), not as SQL writes them.
  core::SnapshotOptions snapshot_options = core::apply_options_json(
      core::recorded_options_as_opts(options).dump(), pg::settings_snapshot_options());
  try {
    (void)pg::plan_tenant_snapshot(summary.tenant_id, snapshot_options, true, false);
  } catch (const core::Error& e) {
    throw core::Error(e.sqlstate(), "cannot accept the uploaded snapshot: " + std::string(e.what()),
                      e.detail(), "A snapshot can only be uploaded to a database that has its tenant.");
  }
  pg::restore_output_settings(level);

  json counts = json::object();
  int64_t table_count = 0;
  for (const auto& t : summary.tables)
    if (t.section == "data") {
      counts[display_name_of(t.schema, t.name)] = t.rows;
      ++table_count;
    }
  pg::LogEntry start;
  start.operation = "backup";
  start.tenant = summary.tenant_id;
  start.name = name;
  start.notes = notes;
  start.status = "running";
  start.compression = std::string(core::to_string(compression));
  start.options = options.dump();
  pg::StoredFileWriter writer;
  if (encrypted) {
    start.encryption = std::string(core::kEncryptionAlgorithm);
    start.encryption_key_id = key_id;
  } else if (pg::encryption_settings().enabled) {
    start.encryption = std::string(core::kEncryptionAlgorithm);
    writer.encrypt = true;
  }
  pg::LogEntry done;
  writer.write = [&](core::Sink& file) {
    for (size_t pos = 0; pos < data.size(); pos += kChunk) file.write(data.substr(pos, kChunk));
  };
  const int64_t id = pg::store_snapshot_file(start, folder, compression, writer, done);
  done.status = "completed";
  done.table_count = table_count;
  done.row_count = summary.total_rows;
  done.table_counts = counts.dump();
  pg::finish_log_autonomously(id, done);
  pg::Spi::finish();
  return id;
}

}  // namespace

PTB_SQL_FUNCTION(backup_verify) {
  const int64_t id = args.int8_required(0, "the backup id");
  pg::Spi::connect();
  const nlohmann::json report = verify_backup(id);
  pg::Spi::finish();
  return pg::jsonb_result(report);
}

PTB_SQL_FUNCTION(backup_read) {
  const int64_t id = args.int8_required(0, "the backup id");
  pg::Spi::connect();
  StoredBackup b = find_stored_backup(id);
  pg::Spi::finish();
  std::string document = read_document(b);
  return pg::jsonb_result(document);
}

PTB_SQL_FUNCTION(backup_download) {
  FunctionCallInfo fcinfo = args.call();  // the SRF_* macros keep their state in it
  FuncCallContext* call = nullptr;
  if (SRF_IS_FIRSTCALL()) {
    const int64_t id = args.int8_required(0, "the backup id");
    pg::Spi::connect();
    StoredBackup b = find_stored_backup(id);
    pg::Spi::finish();
    pg::guarded([&] {
      call = SRF_FIRSTCALL_INIT();
      MemoryContext old = MemoryContextSwitchTo(call->multi_call_memory_ctx);
      auto* state = static_cast<DownloadState*>(palloc0(sizeof(DownloadState)));
      state->path = pstrdup(b.path.c_str());
      state->fd = OpenTransientFile(state->path, O_RDONLY | PG_BINARY);
      if (state->fd < 0)
        ereport(ERROR, (errcode_for_file_access(),
                        errmsg("could not open snapshot file \"%s\": %m", state->path)));
      call->user_fctx = state;
      MemoryContextSwitchTo(old);
    });
  }
  Datum chunk = 0;
  bool done = false;
  pg::guarded([&] {
    call = SRF_PERCALL_SETUP();
    auto* state = static_cast<DownloadState*>(call->user_fctx);
    bytea* out = static_cast<bytea*>(palloc(VARHDRSZ + kChunk));
    ssize_t n = read(state->fd, VARDATA(out), kChunk);
    if (n < 0)
      ereport(ERROR, (errcode_for_file_access(),
                      errmsg("could not read snapshot file \"%s\": %m", state->path)));
    if (n == 0) {
      CloseTransientFile(state->fd);
      done = true;
      return;
    }
    SET_VARSIZE(out, VARHDRSZ + n);
    chunk = PointerGetDatum(out);
  });
  if (done) SRF_RETURN_DONE(call);
  SRF_RETURN_NEXT(call, chunk);
}

PTB_SQL_FUNCTION(backup_upload) {
  const auto bytes = args.bytes(0);
  if (!bytes) throw core::Error(core::sqlstate::kNullValueNotAllowed, "the snapshot file must not be NULL");
  return Int64GetDatum(upload_backup(*bytes, args.string(1), args.string(2)));
}
