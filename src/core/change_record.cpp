#include "core/change_record.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/json_writer.hpp"

namespace ptb::core {

namespace {

constexpr std::string_view kOpNames[] = {"begin", "insert", "update", "delete", "truncate", "commit"};

void write_columns(JsonWriter& w, const std::vector<ChangeColumn>& columns) {
  w.begin_object();
  for (const auto& c : columns) {
    w.key(c.name);
    c.value ? w.string(*c.value) : w.null();
  }
  w.end_object();
}

Error bad_record(const std::string& why) {
  return Error(sqlstate::kInvalidTextRepresentation, "change record is not valid: " + why,
               "A change segment line must be a JSON object as docs/pitr.md describes.");
}


std::string string_field(const nlohmann::ordered_json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) throw bad_record(std::string("\"") + name + "\" is missing or not a string");
  return it->get<std::string>();
}

// Days since 1970-01-01 to a civil date (proleptic Gregorian).
void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
}

}  // namespace

std::string_view to_string(ChangeOp op) { return kOpNames[static_cast<int>(op)]; }

std::optional<ChangeOp> change_op_from_string(std::string_view name) {
  for (int i = 0; i < 6; ++i)
    if (kOpNames[i] == name) return static_cast<ChangeOp>(i);
  return std::nullopt;
}

std::string encode_change(const ChangeRecord& r) {
  StringSink sink;
  JsonWriter w(sink);
  w.begin_object();
  w.key("op");
  w.string(to_string(r.op));
  switch (r.op) {
    case ChangeOp::Begin:
      w.key("xid");
      w.string(r.xid);
      break;
    case ChangeOp::Commit:
      w.key("xid");
      w.string(r.xid);
      w.key("commit_at");
      w.string(r.commit_at);
      w.key("lsn");
      w.string(r.lsn);
      break;
    case ChangeOp::Insert:
    case ChangeOp::Update:
    case ChangeOp::Delete:
    case ChangeOp::Truncate:
      w.key("schema");
      w.string(r.schema);
      w.key("table");
      w.string(r.table);
      if (r.op == ChangeOp::Update || r.op == ChangeOp::Delete) {
        w.key("key");
        if (r.key)
          write_columns(w, *r.key);
        else
          w.null();
      }
      if (r.op == ChangeOp::Insert || r.op == ChangeOp::Update) {
        w.key("new");
        write_columns(w, r.row);
      }
      break;
  }
  w.end_object();
  w.flush();
  return std::move(sink.data());
}

ChangeRecord decode_change(std::string_view line) {
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(line);
  } catch (const nlohmann::json::exception&) {
    throw bad_record("not JSON");
  }
  if (!j.is_object()) throw bad_record("not a JSON object");
  ChangeRecord r;
  const auto op = change_op_from_string(string_field(j, "op"));
  if (!op) throw bad_record("unknown \"op\"");
  r.op = *op;
  auto columns = [&](const char* name) {
    auto it = j.find(name);
    if (it == j.end()) throw bad_record(std::string("\"") + name + "\" is missing");
    std::vector<ChangeColumn> out;
    if (!it->is_object()) {
      if (it->is_null()) throw bad_record(std::string("\"") + name + "\" is null");
      throw bad_record(std::string("\"") + name + "\" is not an object");
    }
    for (auto c = it->begin(); c != it->end(); ++c) {
      if (c.value().is_null())
        out.push_back({c.key(), std::nullopt});
      else if (c.value().is_string())
        out.push_back({c.key(), c.value().get<std::string>()});
      else
        throw bad_record(std::string("a value in \"") + name + "\" is neither a string nor null");
    }
    return out;
  };
  switch (r.op) {
    case ChangeOp::Begin:
      r.xid = string_field(j, "xid");
      break;
    case ChangeOp::Commit:
      r.xid = string_field(j, "xid");
      r.commit_at = string_field(j, "commit_at");
      r.lsn = string_field(j, "lsn");
      (void)parse_lsn(r.lsn);
      break;
    default:
      r.schema = string_field(j, "schema");
      r.table = string_field(j, "table");
      if (r.op == ChangeOp::Update || r.op == ChangeOp::Delete) {
        auto it = j.find("key");
        if (it == j.end()) throw bad_record("\"key\" is missing");
        if (!it->is_null()) r.key = columns("key");
      }
      if (r.op == ChangeOp::Insert || r.op == ChangeOp::Update) r.row = columns("new");
      break;
  }
  return r;
}

std::string change_segment_header(uint32_t database_oid) {
  StringSink sink;
  JsonWriter w(sink);
  w.begin_object();
  w.key("format");
  w.string(kChangeFormatName);
  w.key("format_version");
  w.integer(kChangeFormatVersion);
  w.key("database_oid");
  w.integer(database_oid);
  w.end_object();
  w.flush();
  return std::move(sink.data());
}

uint64_t parse_lsn(std::string_view text) {
  const auto slash = text.find('/');
  auto hex = [&](std::string_view part) -> uint64_t {
    if (part.empty() || part.size() > 8) throw bad_record("LSN \"" + std::string(text) + "\" is not X/X");
    uint64_t v = 0;
    for (char c : part) {
      int d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else throw bad_record("LSN \"" + std::string(text) + "\" is not X/X");
      v = v * 16 + static_cast<uint64_t>(d);
    }
    return v;
  };
  if (slash == std::string_view::npos) throw bad_record("LSN \"" + std::string(text) + "\" is not X/X");
  return hex(text.substr(0, slash)) << 32 | hex(text.substr(slash + 1));
}

std::string format_lsn(uint64_t lsn) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn >> 32), static_cast<unsigned>(lsn & 0xFFFFFFFFu));
  return buf;
}

std::string utc_timestamp(int64_t unix_micros) {
  int64_t seconds = unix_micros / 1000000;
  int64_t micros = unix_micros % 1000000;
  if (micros < 0) {
    micros += 1000000;
    --seconds;
  }
  int64_t days = seconds / 86400;
  int64_t rest = seconds % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%06lldZ", static_cast<long long>(y), m, d,
                static_cast<int>(rest / 3600), static_cast<int>(rest / 60 % 60), static_cast<int>(rest % 60),
                static_cast<long long>(micros));
  return buf;
}

SegmentAssembler::SegmentAssembler(uint32_t database_oid, uint64_t skip_through)
    : skip_through_(skip_through), text_(change_segment_header(database_oid) + "\n") {}

void SegmentAssembler::add(std::string_view line) {
  // Only commit lines are read whole; the others are kept as they are.
  constexpr std::string_view kCommit = "{\"op\":\"commit\"";
  pending_.append(line);
  pending_.push_back('\n');
  ++pending_lines_;
  if (line.substr(0, kCommit.size()) != kCommit) {
    constexpr std::string_view kBegin = "{\"op\":\"begin\"";
    if (line.substr(0, kBegin.size()) != kBegin) ++pending_changes_;
    return;
  }
  const ChangeRecord commit = decode_change(line);
  const uint64_t lsn = parse_lsn(commit.lsn);
  if (lsn > last_seen_lsn_) last_seen_lsn_ = lsn;
  if (lsn <= skip_through_) {
    ++skipped_;
  } else {
    text_.append(pending_);
    if (transactions_ == 0) {
      first_lsn_ = lsn;
      first_commit_at_ = commit.commit_at;
    }
    last_lsn_ = lsn;
    last_commit_at_ = commit.commit_at;
    uint64_t xid = 0;
    try {
      xid = std::stoull(commit.xid);
    } catch (const std::exception&) {
      throw Error(sqlstate::kInvalidTextRepresentation, "a commit line has a bad transaction id");
    }
    if (transactions_ == 0 || xid < min_xid_) min_xid_ = xid;
    if (xid > max_xid_) max_xid_ = xid;
    ++transactions_;
    changes_ += pending_changes_;
  }
  pending_.clear();
  pending_lines_ = 0;
  pending_changes_ = 0;
}

}  // namespace ptb::core
