// Change capture records (docs/pitr.md): the encoding of one captured row
// change, transaction begin or commit as a line of JSON, and the assembly
// of the lines a logical decoding batch returned into a change segment.
//
// A segment file is a zstd frame of JSON lines: a header line, then per
// committed transaction a begin line, its row changes in order and a commit
// line. Pure C++: the output plugin (src/pg/capture_plugin.cpp) fills
// ChangeRecords from the server's tuples, the capture worker
// (src/pg/capture.cpp) assembles segments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ptb::core {

inline constexpr const char* kChangeFormatName = "pg_tenant_backup_changes";
inline constexpr int kChangeFormatVersion = 1;

enum class ChangeOp { Begin, Insert, Update, Delete, Truncate, Commit };

std::string_view to_string(ChangeOp op);  // "begin", "insert", ...
std::optional<ChangeOp> change_op_from_string(std::string_view name);

// A column with its value as text (the type's output function); nullopt is
// SQL NULL.
struct ChangeColumn {
  std::string name;
  std::optional<std::string> value;
  bool operator==(const ChangeColumn&) const = default;
};

struct ChangeRecord {
  ChangeOp op = ChangeOp::Begin;
  std::string xid;                          // begin, commit: decimal
  std::string schema, table;                // insert, update, delete, truncate
  // update, delete: the replica identity columns of the old row; nullopt
  // when the table has none (REPLICA IDENTITY NOTHING, or DEFAULT without a
  // primary key).
  std::optional<std::vector<ChangeColumn>> key;
  std::vector<ChangeColumn> row;            // insert, update: the new row
  std::string commit_at;                    // commit: UTC ISO 8601, microseconds
  std::string lsn;                          // commit: end of the commit record, "X/X"
  bool operator==(const ChangeRecord&) const = default;
};

// One line of JSON, without the newline. Names and values must be valid
// UTF-8 (the JSON writer's rule).
std::string encode_change(const ChangeRecord& record);
// Reads a line encode_change wrote; anything else throws Error(22P02).
ChangeRecord decode_change(std::string_view line);

// The first line of a segment file.
std::string change_segment_header(uint32_t database_oid);

// "16/B374D848" <-> 0x16B374D848. parse_lsn throws Error(22P02) on bad text.
uint64_t parse_lsn(std::string_view text);
std::string format_lsn(uint64_t lsn);

// Microseconds since 1970-01-01 UTC as "2025-03-01T12:34:56.789012Z".
std::string utc_timestamp(int64_t unix_micros);

// Assembles one segment from the lines of one decoding batch, in decoding
// (commit) order. Transactions whose commit LSN is at or below
// `skip_through` are already in a recorded segment (a crash came between
// the segment's commit and the slot's advance) and are left out, so no
// change is recorded twice. Lines after the last commit (none are expected:
// decoding returns whole transactions) are dropped and counted.
class SegmentAssembler {
 public:
  SegmentAssembler(uint32_t database_oid, uint64_t skip_through);

  void add(std::string_view line);

  bool empty() const { return transactions_ == 0; }
  // The segment file's text: header, then the kept lines, each ending "\n".
  const std::string& text() const { return text_; }
  uint64_t transactions() const { return transactions_; }
  uint64_t changes() const { return changes_; }       // row changes kept
  uint64_t skipped_transactions() const { return skipped_; }
  uint64_t first_lsn() const { return first_lsn_; }   // commit LSNs of the
  uint64_t last_lsn() const { return last_lsn_; }     // first and last kept
  const std::string& first_commit_at() const { return first_commit_at_; }
  const std::string& last_commit_at() const { return last_commit_at_; }
  // The lowest and highest transaction ids kept (0: none): a restore to a
  // moment skips a segment whose ids are all below a snapshot's xmin.
  uint64_t min_xid() const { return min_xid_; }
  uint64_t max_xid() const { return max_xid_; }
  // The highest commit LSN seen, kept or skipped (0: none).
  uint64_t last_seen_lsn() const { return last_seen_lsn_; }
  uint64_t dangling_lines() const { return pending_lines_; }

 private:
  uint64_t skip_through_;
  std::string text_;
  std::string pending_;  // lines of the transaction not yet committed
  uint64_t pending_lines_ = 0;
  uint64_t pending_changes_ = 0;
  uint64_t transactions_ = 0, changes_ = 0, skipped_ = 0;
  uint64_t first_lsn_ = 0, last_lsn_ = 0, last_seen_lsn_ = 0;
  uint64_t min_xid_ = 0, max_xid_ = 0;
  std::string first_commit_at_, last_commit_at_;
};

}  // namespace ptb::core
