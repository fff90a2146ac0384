// Replaying captured changes for a restore to a moment (docs/pitr.md): which
// transactions of the segments a snapshot did not see and that committed up
// to the target, and the batched statements that apply their row changes to
// the staging tables of the snapshot's rows. Pure C++; the SQL runs in
// src/pg/change_replay.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/change_record.hpp"

namespace ptb::core {

// The transactions a snapshot saw (its metadata.transactions): 64-bit ids
// as pg_current_snapshot gives them.
struct SnapshotTransactions {
  uint64_t xmin = 0;
  uint64_t xmax = 0;
  std::vector<uint64_t> xip;  // sorted

  // As the server decides visibility: committed ids below xmin, and those
  // below xmax not in progress then.
  bool saw(uint64_t xid) const;
  // From metadata.transactions; Error 22P02 when it is not what
  // write_metadata records.
  static SnapshotTransactions from_json(const nlohmann::json& transactions);
};

// Checks a segment's first line: the change format, version 1, and this
// database's oid (Error 22P02 otherwise).
void check_change_segment_header(std::string_view line, uint32_t database_oid);

// Chooses, segment by segment in commit order, the transactions a restore
// replays: those the snapshot did not see that committed at or before the
// target; the first commit after the target ends the replay, as
// PostgreSQL's recovery_target_time does (commit order, not time order).
// Two passes over each segment keep memory flat whatever a transaction's
// size: scan() reads its begin and commit lines and chooses, replay()
// then hands over the row changes of the chosen transactions in order.
class ReplaySelection {
 public:
  using Apply = std::function<void(const ChangeRecord& change, const ChangeRecord& commit)>;

  // target_utc: "YYYY-MM-DDTHH:MM:SS.ffffffZ", as commit lines write it.
  ReplaySelection(SnapshotTransactions seen, std::string target_utc);

  // Pass 1: every line of one segment after its header, in order.
  void scan(std::string_view line);
  // Pass 2: the same lines again.
  void replay(std::string_view line, const Apply& apply);
  // After pass 2 of a segment. True once the target is passed: no later
  // segment matters.
  bool end_segment();
  bool done() const { return done_; }

  uint64_t transactions_replayed() const { return replayed_; }
  uint64_t transactions_seen() const { return seen_count_; }  // in the snapshot already
  uint64_t changes_replayed() const { return changes_; }
  const std::string& last_commit_at() const { return last_commit_at_; }  // replayed
  const std::string& last_lsn() const { return last_lsn_; }

 private:
  SnapshotTransactions seen_;
  std::string target_;
  std::map<std::string, ChangeRecord> chosen_;  // xid -> commit line, this segment
  bool open_ = false;                            // pass 1: inside a transaction
  const ChangeRecord* current_ = nullptr;        // pass 2: the chosen transaction being read
  bool done_ = false;
  uint64_t replayed_ = 0, seen_count_ = 0, changes_ = 0;
  std::string last_commit_at_, last_lsn_;
};

// A staging table changes are replayed into: the snapshot's rows of one
// table, with the columns the snapshot has.
struct ReplayStage {
  std::string schema, name;               // as the catalog names the table
  std::string display;                    // public.orders
  std::string stage;                      // pg_temp."ptb_stage_3"
  std::vector<std::string> columns;       // in the stage's order
  std::vector<std::string> types;         // per column, as format_type writes it (qualified)
  std::vector<std::string> key;           // the columns captured deletes and updates name
  std::vector<std::string> key_operators; // per key column: OPERATOR(schema.=)
};

// A text[] literal: {"a","b\"c",NULL}.
std::string text_array_literal(const std::vector<std::optional<std::string>>& values);

// One statement applying consecutive changes of one kind to one stage.
struct ReplayStatement {
  std::string sql;
  std::vector<std::optional<std::string>> params;  // text[] literals
};

// Groups consecutive row changes of one table into set-based statements:
// inserts with the same columns, deletes, updates setting the same
// columns. A batch never holds two changes of one key (their order
// matters), so it is flushed first. Changes that name columns the stage
// does not have, or lack ones it has, come from a schema change inside the
// window: Error 0A000 naming the table and the commit time.
class ReplayBatcher {
 public:
  enum class Kind { None, Insert, Update, Delete };

  ReplayBatcher(const ReplayStage& stage, size_t max_rows);

  // Whether `change` can join the batch; when not, the caller runs
  // statement() and clear() first.
  bool accepts(const ChangeRecord& change) const;
  // Adds a change (insert, update or delete). commit_at names the schema
  // change in errors.
  void add(const ChangeRecord& change, const std::string& commit_at);
  bool empty() const { return rows_ == 0; }
  Kind kind() const { return kind_; }
  size_t rows() const { return rows_; }

  // One text[] parameter per column, read back side by side with ROWS
  // FROM (unnest(...), ...). Insert: INSERT ... SELECT. Delete: DELETE ...
  // USING. Update: UPDATE ... FROM ... WITH ORDINALITY,
  // RETURNING the 1-based positions of the rows it found.
  ReplayStatement statement() const;
  // For an update batch: the rows not found in the stage (rows that were
  // not the snapshot's, another tenant's, or rows moving into the tenant),
  // as an insert. An update lacks the TOASTed values it did not change:
  // those columns are NULL in the inserted row, and its key goes to
  // `incomplete` (the row must not end up in the tenant's rows).
  std::optional<ReplayStatement> insert_missing(const std::set<size_t>& found,
                                                std::vector<std::vector<std::optional<std::string>>>* incomplete) const;
  // SELECT returning a row when the stage has any of these keys (values in
  // the order of ReplayStage::key).
  ReplayStatement find_keys(const std::vector<std::vector<std::optional<std::string>>>& keys) const;
  // The key of a change's columns as one string (set and map keys).
  std::string key_text(const std::vector<ChangeColumn>& columns) const;
  void clear();

 private:
  std::vector<size_t> positions_of(const std::vector<ChangeColumn>& columns, const std::string& commit_at,
                                   bool whole_row) const;
  std::string insert_sql(const std::vector<size_t>& positions, ReplayStatement& s) const;
  std::string key_match(ReplayStatement& s, const std::vector<std::vector<std::optional<std::string>>>& keys,
                        std::string& from) const;

  const ReplayStage& stage_;
  size_t max_rows_;
  Kind kind_ = Kind::None;
  size_t rows_ = 0;
  std::vector<size_t> set_columns_;  // stage column positions the batch sets
  std::set<std::string> keys_;       // keys the batch touches (old and new)
  // Values per column position of set_columns_ (inserts, updates) and of
  // the key (updates, deletes), one entry per row.
  std::vector<std::vector<std::optional<std::string>>> values_;
  std::vector<std::vector<std::optional<std::string>>> key_values_;
};

}  // namespace ptb::core
