#include "core/change_replay.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/names.hpp"

namespace ptb::core {

namespace {

Error bad_transactions(const std::string& why) {
  return Error(sqlstate::kInvalidTextRepresentation, "the snapshot's metadata.transactions is invalid: " + why,
               {}, "Restore to a moment from a snapshot the extension wrote.");
}

uint64_t xid_of(const nlohmann::json& value, const char* what) {
  if (!value.is_string()) throw bad_transactions(std::string(what) + " is not a string");
  const std::string& text = value.get_ref<const std::string&>();
  if (text.empty() || text.size() > 20 || text.find_first_not_of("0123456789") != std::string::npos)
    throw bad_transactions(std::string(what) + " is not a transaction id");
  try {
    return std::stoull(text);
  } catch (const std::exception&) {
    throw bad_transactions(std::string(what) + " is out of range");
  }
}

std::string join(const std::vector<std::string>& parts, const char* separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? separator : "") + parts[i];
  return out;
}

}  // namespace

bool SnapshotTransactions::saw(uint64_t xid) const {
  if (xid < xmin) return true;
  if (xid >= xmax) return false;
  return !std::binary_search(xip.begin(), xip.end(), xid);
}

SnapshotTransactions SnapshotTransactions::from_json(const nlohmann::json& transactions) {
  if (!transactions.is_object()) throw bad_transactions("not an object");
  SnapshotTransactions t;
  if (!transactions.contains("xmin") || !transactions.contains("xmax") || !transactions.contains("xip"))
    throw bad_transactions("xmin, xmax or xip is missing");
  t.xmin = xid_of(transactions["xmin"], "xmin");
  t.xmax = xid_of(transactions["xmax"], "xmax");
  if (t.xmin > t.xmax) throw bad_transactions("xmin is above xmax");
  const auto& xip = transactions["xip"];
  if (!xip.is_array()) throw bad_transactions("xip is not an array");
  for (const auto& x : xip) {
    const uint64_t id = xid_of(x, "an xip entry");
    if (id < t.xmin || id >= t.xmax) throw bad_transactions("an xip entry is outside [xmin, xmax)");
    t.xip.push_back(id);
  }
  std::sort(t.xip.begin(), t.xip.end());
  return t;
}

void check_change_segment_header(std::string_view line, uint32_t database_oid) {
  auto bad = [](const std::string& why) {
    return Error(sqlstate::kInvalidTextRepresentation, "a change segment's header is invalid: " + why, {},
                 "The segment was not written by this database's change capture.");
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception&) {
    throw bad("not JSON");
  }
  if (!j.is_object() || j.value("format", std::string()) != kChangeFormatName) throw bad("not a change segment");
  if (!j.contains("format_version") || !j["format_version"].is_number_integer() ||
      j["format_version"].get<int64_t>() != kChangeFormatVersion)
    throw bad("format version " + (j.contains("format_version") ? j["format_version"].dump() : std::string("missing")) +
              " (this release reads " + std::to_string(kChangeFormatVersion) + ")");
  if (!j.contains("database_oid") || !j["database_oid"].is_number_unsigned() ||
      j["database_oid"].get<uint64_t>() != database_oid)
    throw bad("it is of another database");
}

ReplaySelection::ReplaySelection(SnapshotTransactions seen, std::string target_utc)
    : seen_(std::move(seen)), target_(std::move(target_utc)) {}

namespace {

// encode_change writes "op" first: begin and commit lines are found
// without parsing the row changes around them.
bool starts(std::string_view line, std::string_view prefix) { return line.substr(0, prefix.size()) == prefix; }
constexpr std::string_view kBegin = R"({"op":"begin")";
constexpr std::string_view kCommit = R"({"op":"commit")";

Error broken(const char* why) {
  return Error(sqlstate::kInvalidTextRepresentation, std::string("a change segment has ") + why);
}

}  // namespace

void ReplaySelection::scan(std::string_view line) {
  if (starts(line, kBegin)) {
    if (open_) throw broken("a transaction without its commit");
    (void)decode_change(line);
    open_ = true;
    return;
  }
  if (!starts(line, kCommit)) {
    if (!open_) throw broken("a row change outside a transaction");
    return;
  }
  if (!open_) throw broken("a commit without its begin");
  open_ = false;
  ChangeRecord commit = decode_change(line);
  if (done_) return;
  // Fixed-width UTC text: compared as text, compared as times.
  if (commit.commit_at > target_) {
    done_ = true;
    return;
  }
  uint64_t xid = 0;
  try {
    xid = std::stoull(commit.xid);
  } catch (const std::exception&) {
    throw broken("a bad transaction id");
  }
  if (seen_.saw(xid)) {
    ++seen_count_;
    return;
  }
  ++replayed_;
  last_commit_at_ = commit.commit_at;
  last_lsn_ = commit.lsn;
  const std::string id = commit.xid;
  chosen_.emplace(id, std::move(commit));
}

void ReplaySelection::replay(std::string_view line, const Apply& apply) {
  if (starts(line, kBegin)) {
    const ChangeRecord begin = decode_change(line);
    auto it = chosen_.find(begin.xid);
    current_ = it == chosen_.end() ? nullptr : &it->second;
    return;
  }
  if (starts(line, kCommit)) {
    current_ = nullptr;
    return;
  }
  if (current_ == nullptr) return;
  apply(decode_change(line), *current_);
  ++changes_;
}

bool ReplaySelection::end_segment() {
  if (open_) throw broken("a transaction without its commit");
  chosen_.clear();
  current_ = nullptr;
  return done_;
}

std::string text_array_literal(const std::vector<std::optional<std::string>>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    if (!values[i]) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (char c : *values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

ReplayBatcher::ReplayBatcher(const ReplayStage& stage, size_t max_rows) : stage_(stage), max_rows_(max_rows) {}

std::vector<size_t> ReplayBatcher::positions_of(const std::vector<ChangeColumn>& columns,
                                                const std::string& commit_at, bool whole_row) const {
  std::vector<size_t> positions;
  for (const auto& c : columns) {
    auto it = std::find(stage_.columns.begin(), stage_.columns.end(), c.name);
    if (it == stage_.columns.end())
      throw Error(sqlstate::kFeatureNotSupported,
                  "cannot replay the changes of " + stage_.display + " committed at " + commit_at +
                      ": they have a column \"" + c.name + "\" the snapshot does not have",
                  "The table's columns changed between the snapshot and the target (a schema change inside "
                  "the window), or the snapshot left the column out.",
                  "Restore to a moment before the change, or to a moment after a snapshot taken since it.");
    positions.push_back(static_cast<size_t>(it - stage_.columns.begin()));
  }
  if (whole_row && positions.size() != stage_.columns.size()) {
    for (const auto& name : stage_.columns)
      if (std::none_of(columns.begin(), columns.end(), [&](const ChangeColumn& c) { return c.name == name; }))
        throw Error(sqlstate::kFeatureNotSupported,
                    "cannot replay the changes of " + stage_.display + " committed at " + commit_at +
                        ": a row inserted then has no column \"" + name + "\"",
                    "The table's columns changed between the snapshot and the target (a schema change "
                    "inside the window).",
                    "Restore to a moment before the change, or to a moment after a snapshot taken since it.");
  }
  return positions;
}

std::string ReplayBatcher::key_text(const std::vector<ChangeColumn>& columns) const {
  std::string text;
  for (const auto& k : stage_.key)
    for (const auto& c : columns)
      if (c.name == k) {
        text += c.value ? "v" + *c.value : std::string("n");
        text += '\x1f';
      }
  return text;
}

bool ReplayBatcher::accepts(const ChangeRecord& change) const {
  if (rows_ == 0) return true;
  if (rows_ >= max_rows_) return false;
  Kind kind = change.op == ChangeOp::Insert ? Kind::Insert : change.op == ChangeOp::Update ? Kind::Update : Kind::Delete;
  if (kind != kind_) return false;
  if (kind != Kind::Delete) {
    // The same columns set, in the same order.
    if (change.row.size() != set_columns_.size()) return false;
    for (size_t i = 0; i < change.row.size(); ++i)
      if (stage_.columns.size() <= set_columns_[i] || stage_.columns[set_columns_[i]] != change.row[i].name) return false;
  }
  if (change.key && keys_.count(key_text(*change.key))) return false;
  if (kind != Kind::Delete && keys_.count(key_text(change.row))) return false;
  return true;
}

void ReplayBatcher::add(const ChangeRecord& change, const std::string& commit_at) {
  const Kind kind =
      change.op == ChangeOp::Insert ? Kind::Insert : change.op == ChangeOp::Update ? Kind::Update : Kind::Delete;
  if (kind != Kind::Insert) {
    if (!change.key)
      throw Error(sqlstate::kFeatureNotSupported,
                  "cannot replay the changes of " + stage_.display + " committed at " + commit_at +
                      ": an update or delete does not say which row it changed",
                  "The table has no replica identity (no primary key, or REPLICA IDENTITY NOTHING).",
                  "Give the table a primary key (or REPLICA IDENTITY USING INDEX); changes captured from then "
                  "on can be replayed.");
    std::vector<std::string> named;
    for (const auto& c : *change.key) named.push_back(c.name);
    std::vector<std::string> wanted = stage_.key;
    std::vector<std::string> sorted_named = named;
    std::sort(sorted_named.begin(), sorted_named.end());
    std::sort(wanted.begin(), wanted.end());
    if (stage_.key.empty() || sorted_named != wanted)
      throw Error(sqlstate::kFeatureNotSupported,
                  "cannot replay the changes of " + stage_.display + " committed at " + commit_at +
                      ": they identify rows by (" + join(named, ", ") + "), not by the key the restore matches on" +
                      (stage_.key.empty() ? std::string() : " (" + join(stage_.key, ", ") + ")"),
                  "The table's replica identity is not its primary key.",
                  "Use the primary key as the replica identity (REPLICA IDENTITY DEFAULT).");
  }
  if (rows_ == 0) {
    kind_ = kind;
    set_columns_ = kind == Kind::Delete ? std::vector<size_t>{} : positions_of(change.row, commit_at, kind == Kind::Insert);
    values_.assign(set_columns_.size(), {});
    key_values_.assign(kind == Kind::Insert ? 0 : stage_.key.size(), {});
  } else if (kind != Kind::Delete) {
    (void)positions_of(change.row, commit_at, kind == Kind::Insert);
  }
  for (size_t i = 0; i < set_columns_.size(); ++i) values_[i].push_back(change.row[i].value);
  if (kind != Kind::Insert) {
    for (size_t k = 0; k < stage_.key.size(); ++k)
      for (const auto& c : *change.key)
        if (c.name == stage_.key[k]) key_values_[k].push_back(c.value);
    keys_.insert(key_text(*change.key));
  }
  if (kind != Kind::Delete) keys_.insert(key_text(change.row));
  ++rows_;
}

namespace {

void add_array(ReplayStatement& s, const std::vector<std::optional<std::string>>& values, std::vector<std::string>& arrays) {
  s.params.push_back(text_array_literal(values));
  arrays.push_back("pg_catalog.unnest($" + std::to_string(s.params.size()) + "::pg_catalog.text[])");
}

}  // namespace

// "FROM ROWS FROM (unnest(<key array>), ...) AS ptb_v(k1, ...[, more])" is
// the caller's; this adds the key arrays and returns the match condition.
std::string ReplayBatcher::key_match(ReplayStatement& s, const std::vector<std::vector<std::optional<std::string>>>& keys,
                                     std::string& from) const {
  std::vector<std::string> arrays, on;
  for (size_t k = 0; k < stage_.key.size(); ++k) {
    std::vector<std::optional<std::string>> column;
    for (const auto& key : keys) column.push_back(key.at(k));
    add_array(s, column, arrays);
    const size_t at = static_cast<size_t>(
        std::find(stage_.columns.begin(), stage_.columns.end(), stage_.key[k]) - stage_.columns.begin());
    on.push_back("ptb_s." + quote_ident(stage_.key[k]) + " " + stage_.key_operators.at(k) + " CAST(ptb_v.k" +
                 std::to_string(k + 1) + " AS " + stage_.types.at(at) + ")");
  }
  from = join(arrays, ", ");
  return join(on, " AND ");
}

std::string ReplayBatcher::insert_sql(const std::vector<size_t>& positions, ReplayStatement& s) const {
  std::vector<std::string> arrays, aliases, names, casts;
  for (size_t i = 0; i < positions.size(); ++i) {
    aliases.push_back("c" + std::to_string(i + 1));
    names.push_back(quote_ident(stage_.columns[positions[i]]));
    casts.push_back("CAST(ptb_v.c" + std::to_string(i + 1) + " AS " + stage_.types[positions[i]] + ")");
  }
  for (size_t i = 0; i < positions.size(); ++i)
    arrays.push_back("pg_catalog.unnest($" + std::to_string(s.params.size() - positions.size() + i + 1) +
                     "::pg_catalog.text[])");
  return "INSERT INTO " + stage_.stage + " (" + join(names, ", ") + ") SELECT " + join(casts, ", ") +
         " FROM ROWS FROM (" + join(arrays, ", ") + ") AS ptb_v(" + join(aliases, ", ") + ")";
}

ReplayStatement ReplayBatcher::statement() const {
  ReplayStatement s;
  std::vector<std::vector<std::optional<std::string>>> keys(rows_);
  for (size_t r = 0; r < rows_ && kind_ != Kind::Insert; ++r)
    for (size_t k = 0; k < stage_.key.size(); ++k) keys[r].push_back(key_values_[k][r]);
  if (kind_ == Kind::Insert) {
    for (size_t i = 0; i < set_columns_.size(); ++i) s.params.push_back(text_array_literal(values_[i]));
    s.sql = insert_sql(set_columns_, s);
  } else if (kind_ == Kind::Delete) {
    std::string from;
    const std::string on = key_match(s, keys, from);
    std::vector<std::string> aliases;
    for (size_t k = 0; k < stage_.key.size(); ++k) aliases.push_back("k" + std::to_string(k + 1));
    s.sql = "DELETE FROM " + stage_.stage + " ptb_s USING ROWS FROM (" + from + ") AS ptb_v(" +
            join(aliases, ", ") + ") WHERE " + on;
  } else {
    std::string from;
    const std::string on = key_match(s, keys, from);
    std::vector<std::string> arrays, aliases, sets;
    for (size_t k = 0; k < stage_.key.size(); ++k) aliases.push_back("k" + std::to_string(k + 1));
    for (size_t i = 0; i < set_columns_.size(); ++i) {
      add_array(s, values_[i], arrays);
      aliases.push_back("c" + std::to_string(i + 1));
      sets.push_back(quote_ident(stage_.columns[set_columns_[i]]) + " = CAST(ptb_v.c" + std::to_string(i + 1) +
                     " AS " + stage_.types[set_columns_[i]] + ")");
    }
    aliases.push_back("n");
    s.sql = "UPDATE " + stage_.stage + " ptb_s SET " + join(sets, ", ") + " FROM ROWS FROM (" + from +
            (arrays.empty() ? "" : ", " + join(arrays, ", ")) + ") WITH ORDINALITY AS ptb_v(" + join(aliases, ", ") +
            ") WHERE " + on + " RETURNING ptb_v.n";
  }
  return s;
}

std::optional<ReplayStatement> ReplayBatcher::insert_missing(
    const std::set<size_t>& found, std::vector<std::vector<std::optional<std::string>>>* incomplete) const {
  if (kind_ != Kind::Update) return std::nullopt;
  const bool whole = set_columns_.size() == stage_.columns.size();
  std::vector<std::vector<std::optional<std::string>>> values(set_columns_.size());
  size_t missing = 0;
  for (size_t r = 0; r < rows_; ++r) {
    if (found.count(r + 1)) continue;
    ++missing;
    for (size_t i = 0; i < set_columns_.size(); ++i) values[i].push_back(values_[i][r]);
    if (!whole) {
      // Its key after the update: the new values of the key columns.
      std::vector<std::optional<std::string>> key;
      for (const auto& k : stage_.key) {
        std::optional<std::string> v;
        bool set = false;
        for (size_t i = 0; i < set_columns_.size(); ++i)
          if (stage_.columns[set_columns_[i]] == k) {
            v = values_[i][r];
            set = true;
          }
        if (!set)
          for (size_t kk = 0; kk < stage_.key.size(); ++kk)
            if (stage_.key[kk] == k) v = key_values_[kk][r];
        key.push_back(v);
      }
      incomplete->push_back(std::move(key));
    }
  }
  if (missing == 0) return std::nullopt;
  ReplayStatement s;
  for (const auto& v : values) s.params.push_back(text_array_literal(v));
  s.sql = insert_sql(set_columns_, s);
  return s;
}

ReplayStatement ReplayBatcher::find_keys(const std::vector<std::vector<std::optional<std::string>>>& keys) const {
  ReplayStatement s;
  std::string from;
  const std::string on = key_match(s, keys, from);
  std::vector<std::string> aliases;
  for (size_t k = 0; k < stage_.key.size(); ++k) aliases.push_back("k" + std::to_string(k + 1));
  s.sql = "SELECT 1 FROM " + stage_.stage + " ptb_s JOIN ROWS FROM (" + from + ") AS ptb_v(" +
          join(aliases, ", ") + ") ON " + on + " LIMIT 1";
  return s;
}

void ReplayBatcher::clear() {
  kind_ = Kind::None;
  rows_ = 0;
  set_columns_.clear();
  keys_.clear();
  values_.clear();
  key_values_.clear();
}

}  // namespace ptb::core
