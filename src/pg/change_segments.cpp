#include "pg/change_segments.hpp"

#include <nlohmann/json.hpp>

#include "core/change_record.hpp"
#include "core/encryption.hpp"
#include "core/error.hpp"
#include "pg/autonomous.hpp"
#include "pg/backup_log.hpp"
#include "pg/scheduler.hpp"
#include "pg/server_log.hpp"
#include "pg/settings.hpp"
#include "pg/spi.hpp"
#include "pg/file_io.hpp"
#include "pg/storage_directory.hpp"

namespace ptb::pg {

namespace {

[[noreturn]] void refuse_old_extension() {
  throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState, "change capture needs version 0.2.0 of the extension",
                    {}, "Run ALTER EXTENSION pg_tenant_backup UPDATE.");
}

// The table's qualified name, or 55000 when this database's extension has none.
std::string segments_table() {
  const std::string t = extension_table("backup_change_segments");
  if (t.empty()) refuse_old_extension();
  return t;
}

// The latest committed rows, read as the extension tables' owner.
std::vector<TextRow> owner_query(const std::string& sql, const std::vector<TextValue>& params) {
  return query_latest_as_owner(find_log_table(), sql, params);
}

}  // namespace

bool change_segments_installed() { return !extension_table("backup_change_segments").empty(); }

void require_change_segments() {
  if (!change_segments_installed()) refuse_old_extension();
}

uint64_t segments_recorded_through() {
  auto rows = Spi::query_latest("SELECT pg_catalog.max(last_lsn)::pg_catalog.text FROM " + segments_table());
  return rows.empty() || !rows[0][0] ? 0 : core::parse_lsn(*rows[0][0]);
}

std::set<std::string> recorded_segment_files() {
  std::set<std::string> recorded;
  for (auto& row : Spi::query_latest("SELECT file_name FROM " + segments_table()))
    if (row[0]) recorded.insert(*row[0]);
  return recorded;
}

LastCaptured last_captured_change() {
  auto last = Spi::query_latest("SELECT last_lsn::pg_catalog.text, pg_catalog.to_char(last_commit_at AT TIME ZONE 'UTC', "
                                "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM " + segments_table() +
                                " ORDER BY last_lsn DESC LIMIT 1");
  if (last.empty()) return {};
  return {last[0][0], last[0][1]};
}

void record_segment(const SegmentRecord& s) {
  Spi::execute("INSERT INTO " + segments_table() +
                   " (first_lsn, last_lsn, first_commit_at, last_commit_at, file_name, size_bytes, checksum,"
                   "  change_count, transaction_count, min_xid, max_xid, encryption, encryption_key_id)"
                   " VALUES ($1::pg_catalog.pg_lsn, $2::pg_catalog.pg_lsn, $3::pg_catalog.timestamptz,"
                   " $4::pg_catalog.timestamptz, $5, $6::pg_catalog.int8, $7, $8::pg_catalog.int8,"
                   " $9::pg_catalog.int8, $10::pg_catalog.xid8, $11::pg_catalog.xid8, $12, $13)",
               {s.first_lsn, s.last_lsn, s.first_commit_at, s.last_commit_at, s.file_name,
                std::to_string(s.size_bytes), s.checksum, std::to_string(s.change_count),
                std::to_string(s.transaction_count), std::to_string(s.min_xid), std::to_string(s.max_xid),
                s.encryption_key_id ? TextValue(std::string(core::kEncryptionAlgorithm)) : TextValue(),
                s.encryption_key_id});
}

TextValue last_commit_recorded(const std::string& after_lsn, const std::string& created_by) {
  const auto last = owner_query(
      "SELECT pg_catalog.to_char(pg_catalog.max(last_commit_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
      "  FROM " + segments_table() + " WHERE last_lsn OPERATOR(pg_catalog.>) $1::pg_catalog.pg_lsn"
      "   AND created_at OPERATOR(pg_catalog.<=) $2::pg_catalog.timestamptz",
      {after_lsn, created_by});
  return last.empty() ? TextValue() : last[0][0];
}

bool commit_recorded_after(const std::string& after_lsn, const std::string& after_time) {
  const auto found = owner_query(
      "SELECT EXISTS (SELECT 1 FROM " + segments_table() + " WHERE last_lsn OPERATOR(pg_catalog.>) $1::pg_catalog.pg_lsn"
      "                  AND last_commit_at OPERATOR(pg_catalog.>) $2::pg_catalog.timestamptz)::pg_catalog.text",
      {after_lsn, after_time});
  return found.at(0)[0] == "true";
}

std::vector<SegmentFile> segments_to_replay(const std::string& after_lsn, uint64_t xmin) {
  std::vector<SegmentFile> files;
  for (const auto& row : owner_query("SELECT file_name, checksum, (encryption IS NOT NULL)::pg_catalog.text FROM " +
                                         segments_table() +
                                         " WHERE last_lsn OPERATOR(pg_catalog.>) $1::pg_catalog.pg_lsn"
                                         "   AND (max_xid IS NULL OR max_xid OPERATOR(pg_catalog.>=) $2::pg_catalog.xid8)"
                                         " ORDER BY last_lsn",
                                     {after_lsn, std::to_string(xmin)}))
    files.push_back({row.at(0).value_or(""), row.at(1).value_or(""), row.at(2) == "true"});
  return files;
}

std::string segment_path(const std::string& file_name) {
  const size_t slash = file_name.find('/');
  const std::string folder = slash == std::string::npos ? std::string() : file_name.substr(0, slash);
  const std::string rest = slash == std::string::npos ? std::string() : file_name.substr(slash + 1);
  const bool named = !folder.empty() && folder != "." && folder != ".." && rest.size() == 8 + 16 + 1 + 16 + 10 &&
                     rest.compare(0, 8, "changes/") == 0 &&
                     rest.find_first_not_of("0123456789ABCDEF", 8) == 8 + 16 && rest[24] == '-' &&
                     rest.find_first_not_of("0123456789ABCDEF", 25) == 41 && rest.compare(41, 10, ".jsonl.zst") == 0;
  if (!named)
    throw core::Error(core::sqlstate::kDataCorrupted, "change segment \"" + file_name + "\" has a name change capture never writes",
                      "backup_change_segments.file_name was changed.", {});
  if (!check_own_folder(folder))
    throw core::Error(core::sqlstate::kUndefinedFile, "change segment \"" + file_name + "\" is missing: its folder does not exist",
                      {}, "Restore the storage directory (pg_tenant_backup.storage_path) from a copy.");
  return storage_settings().storage_path + "/" + file_name;
}

int64_t prune_change_segments() {
  const std::optional<std::string> floor = oldest_kept_snapshot_xmin();
  if (!change_segments_installed() || !floor) return 0;
  const TextValue gone = run_autonomously(
      "WITH gone AS (DELETE FROM " + segments_table() + " s"
          "           WHERE s.max_xid OPERATOR(pg_catalog.<) $1::pg_catalog.xid8 RETURNING s.file_name)"
          " SELECT COALESCE(pg_catalog.jsonb_agg(file_name), '[]'::pg_catalog.jsonb)::pg_catalog.text FROM gone",
      {*floor}, find_log_table().owner);
  int64_t removed = 0;
  for (const auto& name : nlohmann::json::parse(gone.value_or("[]"))) {
    ++removed;
    try {
      (void)remove_file_quietly(segment_path(name.get<std::string>()));
    } catch (const core::Error&) {
      // A name or folder that is not this database's: its row is gone,
      // the file (not ours to judge) stays.
    }
  }
  if (removed > 0)
    report({LogLevel::Log, "pg_tenant_backup: removed " + std::to_string(removed) +
                               " change segments older than every kept snapshot"});
  return removed;
}

}  // namespace ptb::pg
