// Change segments (docs/pitr.md): every statement on backup_change_segments,
// where a recorded segment's file is, and their retention. The capture
// worker (capture.cpp) writes them, as itself; backup_restore_to and
// backup_recovery_window (change_replay.cpp) read them as the tables' owner
// (their caller may not read the table). Each needs SPI; those that name no
// fallback raise 55000 when this database's extension has no such table
// (before 0.2.0).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "pg/spi.hpp"

namespace ptb::pg {

// Whether this database's extension has the table (installed, 0.2.0 or later).
bool change_segments_installed();
// 55000 "change capture needs version 0.2.0 of the extension" unless it is.
void require_change_segments();

// --- the capture worker's ---------------------------------------------------

// The highest commit LSN recorded in a segment (0: none).
uint64_t segments_recorded_through();

// Every recorded segment's file_name.
std::set<std::string> recorded_segment_files();

// The last change captured (the newest segment's last commit): where a
// stretch of capture ends. Empty values when nothing was captured.
struct LastCaptured {
  TextValue lsn, commit_at;  // commit_at as UTC ISO 8601
};
LastCaptured last_captured_change();

// A segment whose file is installed, recorded in the worker's transaction.
struct SegmentRecord {
  std::string first_lsn, last_lsn;             // pg_lsn text
  std::string first_commit_at, last_commit_at;  // timestamptz text
  std::string file_name;                       // relative to storage_path
  uint64_t size_bytes = 0;
  std::string checksum;  // SHA-256 of the file, hex
  uint64_t change_count = 0, transaction_count = 0;
  uint64_t min_xid = 0, max_xid = 0;
  TextValue encryption_key_id;  // set: the file is encrypted with that key
};
void record_segment(const SegmentRecord& segment);

// --- backup_restore_to's and backup_recovery_window's -------------------------

// The newest commit recorded after `after_lsn` by segments created at or
// before `created_by` (UTC ISO 8601; empty when none).
TextValue last_commit_recorded(const std::string& after_lsn, const std::string& created_by);

// Whether a segment records a commit after `after_lsn` that committed after
// `after_time` (timestamptz text).
bool commit_recorded_after(const std::string& after_lsn, const std::string& after_time);

// The segments after `after_lsn` that may hold transactions at or above
// `xmin`, in LSN order: what a replay from a snapshot reads.
struct SegmentFile {
  std::string file_name;
  std::string checksum;
  bool encrypted = false;
};
std::vector<SegmentFile> segments_to_replay(const std::string& after_lsn, uint64_t xmin);

// The path of the file backup_change_segments.file_name names, checked
// first: the name must be one the capture worker writes
// ("<folder>/changes/<16 hex>-<16 hex>.jsonl.zst", XX001 otherwise) and
// the folder this database's (its marker; 58P01 when the folder is gone).
std::string segment_path(const std::string& file_name);

// Removes the segments no kept snapshot can need: those whose transactions
// are all older than the snapshot xmin of every completed or restored
// backup (a restore to a moment reads only segments at or above its
// snapshot's xmin). Nothing while no backup records its xmin. Rows first,
// committed autonomously, then the files: a crash between leaves files
// without rows, which the capture worker removes when it starts. Returns
// how many. Needs SPI and fix_output_settings.
int64_t prune_change_segments();

}  // namespace ptb::pg
