#include "core/change_record.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.hpp"

using namespace ptb::core;

namespace {

ChangeRecord commit(const std::string& xid, const std::string& lsn, const std::string& at = "2026-01-02T03:04:05.000006Z") {
  ChangeRecord r;
  r.op = ChangeOp::Commit;
  r.xid = xid;
  r.lsn = lsn;
  r.commit_at = at;
  return r;
}

ChangeRecord begin(const std::string& xid) {
  ChangeRecord r;
  r.op = ChangeOp::Begin;
  r.xid = xid;
  return r;
}

ChangeRecord insert(const std::string& table, const std::string& id) {
  ChangeRecord r;
  r.op = ChangeOp::Insert;
  r.schema = "public";
  r.table = table;
  r.row = {{"id", id}, {"note", std::nullopt}};
  return r;
}

}  // namespace

TEST(ChangeRecord, EncodesEachOperationAsOneCompactLine) {
  EXPECT_EQ(encode_change(begin("742")), R"({"op":"begin","xid":"742"})");
  EXPECT_EQ(encode_change(insert("orders", "1")),
            R"({"op":"insert","schema":"public","table":"orders","new":{"id":"1","note":null}})");
  ChangeRecord u = insert("orders", "1");
  u.op = ChangeOp::Update;
  u.key = std::vector<ChangeColumn>{{"id", "1"}};
  EXPECT_EQ(encode_change(u),
            R"({"op":"update","schema":"public","table":"orders","key":{"id":"1"},"new":{"id":"1","note":null}})");
  ChangeRecord d;
  d.op = ChangeOp::Delete;
  d.schema = "s";
  d.table = "t";
  EXPECT_EQ(encode_change(d), R"({"op":"delete","schema":"s","table":"t","key":null})");
  EXPECT_EQ(encode_change(commit("742", "0/16B3F28")),
            R"({"op":"commit","xid":"742","commit_at":"2026-01-02T03:04:05.000006Z","lsn":"0/16B3F28"})");
}

TEST(ChangeRecord, RoundTripsNamesAndValuesThatNeedEscaping) {
  ChangeRecord r;
  r.op = ChangeOp::Update;
  r.schema = "Tenant \"A\"";
  r.table = "line\nbreak";
  r.key = std::vector<ChangeColumn>{{"b", "2"}, {"a", "1"}};
  r.row = {{"z", "ünïcode \\ \t"}, {"a", std::nullopt}, {"m", ""}};
  const std::string line = encode_change(r);
  EXPECT_EQ(line.find('\n'), std::string::npos) << "one record is one line";
  EXPECT_EQ(decode_change(line), r) << "column order is kept, not sorted";
  for (const auto& rec : {begin("1"), insert("t", "9"), commit("1", "A/FF")})
    EXPECT_EQ(decode_change(encode_change(rec)), rec);
}

TEST(ChangeRecord, RefusesLinesThatAreNotRecords) {
  for (const char* bad : {"", "[]", "{\"op\":\"merge\"}", "{\"op\":\"insert\",\"schema\":\"s\",\"table\":\"t\"}",
                          "{\"op\":\"commit\",\"xid\":\"1\",\"commit_at\":\"x\",\"lsn\":\"zz\"}",
                          "{\"op\":\"insert\",\"schema\":\"s\",\"table\":\"t\",\"new\":{\"a\":1}}",
                          "{\"op\":\"delete\",\"schema\":\"s\",\"table\":\"t\"}"}) {
    try {
      decode_change(bad);
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22P02") << bad;
    }
  }
}

TEST(ChangeRecord, LsnTextRoundTrips) {
  EXPECT_EQ(parse_lsn("16/B374D848"), 0x16B374D848ull);
  EXPECT_EQ(parse_lsn("0/0"), 0u);
  EXPECT_EQ(format_lsn(0x16B374D848ull), "16/B374D848");
  EXPECT_EQ(format_lsn(parse_lsn("FFFFFFFF/FFFFFFFF")), "FFFFFFFF/FFFFFFFF");
  EXPECT_THROW(parse_lsn("16B374D848"), Error);
  EXPECT_THROW(parse_lsn("1/123456789"), Error);
  EXPECT_THROW(parse_lsn("/1"), Error);
}

TEST(ChangeRecord, UtcTimestamps) {
  EXPECT_EQ(utc_timestamp(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(utc_timestamp(951782400000001), "2000-02-29T00:00:00.000001Z");
  EXPECT_EQ(utc_timestamp(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(utc_timestamp(1798772645123456), "2027-01-01T03:04:05.123456Z");
}

TEST(SegmentAssembler, KeepsWholeTransactionsAndCountsRowChanges) {
  SegmentAssembler a(16384, 0);
  for (const auto& r : {begin("10"), insert("t", "1"), insert("t", "2"), commit("10", "0/100", "A"),
                        begin("11"), insert("u", "3"), commit("11", "0/200", "B")})
    a.add(encode_change(r));
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a.transactions(), 2u);
  EXPECT_EQ(a.changes(), 3u);
  EXPECT_EQ(a.first_lsn(), 0x100u);
  EXPECT_EQ(a.last_lsn(), 0x200u);
  EXPECT_EQ(a.first_commit_at(), "A");
  EXPECT_EQ(a.last_commit_at(), "B");
  EXPECT_EQ(a.min_xid(), 10u);
  EXPECT_EQ(a.max_xid(), 11u);
  const std::string& text = a.text();
  EXPECT_EQ(text.substr(0, text.find('\n')), change_segment_header(16384));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 8);
  EXPECT_EQ(text.back(), '\n');
}

TEST(SegmentAssembler, LeavesOutTransactionsAlreadyRecorded) {
  // A crash between a segment's commit and the slot's advance: decoding
  // returns transactions up to 0/200 again; they are not recorded twice.
  SegmentAssembler a(1, 0x200);
  for (const auto& r : {begin("10"), insert("t", "1"), commit("10", "0/100"), begin("11"), insert("t", "2"),
                        commit("11", "0/200"), begin("12"), insert("t", "3"), insert("t", "4"), commit("12", "0/300")})
    a.add(encode_change(r));
  EXPECT_EQ(a.skipped_transactions(), 2u);
  EXPECT_EQ(a.transactions(), 1u);
  EXPECT_EQ(a.changes(), 2u);
  EXPECT_EQ(a.first_lsn(), 0x300u);
  EXPECT_EQ(a.last_seen_lsn(), 0x300u);
  EXPECT_EQ(a.min_xid(), 12u);  // of the transactions kept
  EXPECT_EQ(a.max_xid(), 12u);
  EXPECT_EQ(a.text().find("\"xid\":\"10\""), std::string::npos);
  EXPECT_NE(a.text().find("\"xid\":\"12\""), std::string::npos);

  SegmentAssembler all_old(1, 0x300);
  for (const auto& r : {begin("12"), insert("t", "3"), commit("12", "0/300")}) all_old.add(encode_change(r));
  EXPECT_TRUE(all_old.empty());
  EXPECT_EQ(all_old.last_seen_lsn(), 0x300u);
}

TEST(SegmentAssembler, DropsLinesOfAnUnfinishedTransaction) {
  SegmentAssembler a(1, 0);
  for (const auto& r : {begin("10"), insert("t", "1"), commit("10", "0/100"), begin("11"), insert("t", "2")})
    a.add(encode_change(r));
  EXPECT_EQ(a.transactions(), 1u);
  EXPECT_EQ(a.dangling_lines(), 2u);
  EXPECT_EQ(a.text().find("\"xid\":\"11\""), std::string::npos);
}

TEST(SegmentAssembler, RefusesABadCommitLine) {
  SegmentAssembler a(1, 0);
  EXPECT_THROW(a.add(R"({"op":"commit","xid":"1"})"), Error);
}
