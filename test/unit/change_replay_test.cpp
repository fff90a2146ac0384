#include "core/change_replay.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

using namespace ptb::core;

namespace {

SnapshotTransactions seen(uint64_t xmin, uint64_t xmax, std::vector<uint64_t> xip) {
  nlohmann::json j{{"xmin", std::to_string(xmin)}, {"xmax", std::to_string(xmax)}, {"xip", nlohmann::json::array()}};
  for (auto x : xip) j["xip"].push_back(std::to_string(x));
  return SnapshotTransactions::from_json(j);
}

std::string begin(uint64_t xid) { return R"({"op":"begin","xid":")" + std::to_string(xid) + R"("})"; }
std::string commit(uint64_t xid, const std::string& at, const std::string& lsn) {
  return R"({"op":"commit","xid":")" + std::to_string(xid) + R"(","commit_at":")" + at + R"(","lsn":")" + lsn +
         R"("})";
}
std::string insert(const std::string& id) {
  return R"({"op":"insert","schema":"public","table":"t","new":{"id":")" + id + R"(","v":"x"}})";
}

std::string sql_error_state(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.sqlstate();
  }
  return "none";
}

ReplayStage orders_stage() {
  ReplayStage s;
  s.display = "public.orders";
  s.stage = "pg_temp.\"ptb_stage_1\"";
  s.columns = {"id", "note", "total"};
  s.types = {"integer", "text", "numeric(10,2)"};
  s.key = {"id"};
  s.key_operators = {"OPERATOR(pg_catalog.=)"};
  return s;
}

ChangeRecord row_change(ChangeOp op, std::optional<std::string> key, std::vector<ChangeColumn> row) {
  ChangeRecord r;
  r.op = op;
  r.schema = "public";
  r.table = "orders";
  if (key) r.key = std::vector<ChangeColumn>{{"id", *key}};
  r.row = std::move(row);
  return r;
}

}  // namespace

TEST(SnapshotTransactions, VisibilityFollowsTheServersRule) {
  const auto s = seen(100, 110, {103, 107});
  EXPECT_TRUE(s.saw(5));
  EXPECT_TRUE(s.saw(99));
  EXPECT_TRUE(s.saw(100));   // below xmax, not in progress: committed before
  EXPECT_FALSE(s.saw(103));  // in progress then
  EXPECT_TRUE(s.saw(104));
  EXPECT_FALSE(s.saw(107));
  EXPECT_FALSE(s.saw(110));  // started after
  EXPECT_FALSE(s.saw(5000000000ULL));
}

TEST(SnapshotTransactions, RefusesWhatWriteMetadataNeverWrites) {
  EXPECT_EQ(sql_error_state([] { SnapshotTransactions::from_json(nlohmann::json::array()); }), "22P02");
  EXPECT_EQ(sql_error_state([] { SnapshotTransactions::from_json({{"xmin", "1"}, {"xmax", "2"}}); }), "22P02");
  EXPECT_EQ(sql_error_state([] {
              SnapshotTransactions::from_json({{"xmin", "9"}, {"xmax", "2"}, {"xip", nlohmann::json::array()}});
            }),
            "22P02");
  EXPECT_EQ(sql_error_state([] {
              SnapshotTransactions::from_json({{"xmin", "1"}, {"xmax", "5"}, {"xip", {"7"}}});
            }),
            "22P02");
  EXPECT_EQ(sql_error_state([] {
              SnapshotTransactions::from_json({{"xmin", "-1"}, {"xmax", "5"}, {"xip", nlohmann::json::array()}});
            }),
            "22P02");
}

TEST(ChangeSegmentHeader, ChecksFormatVersionAndDatabase) {
  EXPECT_NO_THROW(check_change_segment_header(change_segment_header(16384), 16384));
  EXPECT_EQ(sql_error_state([] { check_change_segment_header(change_segment_header(16384), 5); }), "22P02");
  EXPECT_EQ(sql_error_state([] {
              check_change_segment_header(R"({"format":"pg_tenant_backup_changes","format_version":2,"database_oid":5})", 5);
            }),
            "22P02");
  EXPECT_EQ(sql_error_state([] { check_change_segment_header("{\"format\":\"pg_tenant_backup\"}", 5); }), "22P02");
  EXPECT_EQ(sql_error_state([] { check_change_segment_header("nope", 5); }), "22P02");
}

// Both passes over one segment, as ChangeReplayer runs them.
std::vector<std::string> run_segment(ReplaySelection& selection, const std::vector<std::string>& lines) {
  std::vector<std::string> applied;
  for (const auto& l : lines) selection.scan(l);
  for (const auto& l : lines)
    selection.replay(l, [&](const ChangeRecord& change, const ChangeRecord& commit) {
      applied.push_back(commit.xid + ":" + change.row.at(0).value.value_or("NULL"));
    });
  selection.end_segment();
  return applied;
}

TEST(ReplaySelection, ReplaysUnseenTransactionsUpToTheTargetInCommitOrder) {
  ReplaySelection selection(seen(100, 105, {102}), "2026-03-01T12:00:00.000000Z");
  const std::vector<std::string> first = {
      begin(101), insert("1"), commit(101, "2026-03-01T11:00:00.000000Z", "0/10"),  // seen
      begin(102), insert("2"), insert("3"), commit(102, "2026-03-01T11:00:01.000000Z", "0/20"),  // in progress then
  };
  const std::vector<std::string> second = {
      begin(106), insert("4"), commit(106, "2026-03-01T12:00:00.000000Z", "0/30"),  // at the target: in
      begin(107), insert("5"), commit(107, "2026-03-01T12:00:00.000001Z", "0/40"),  // after: the end
      begin(108), insert("6"), commit(108, "2026-03-01T11:59:00.000000Z", "0/50"),  // after the end: never
  };
  EXPECT_EQ(run_segment(selection, first), (std::vector<std::string>{"102:2", "102:3"}));
  EXPECT_FALSE(selection.done());
  EXPECT_EQ(run_segment(selection, second), (std::vector<std::string>{"106:4"}));
  EXPECT_TRUE(selection.done());
  EXPECT_EQ(selection.transactions_replayed(), 2u);
  EXPECT_EQ(selection.transactions_seen(), 1u);
  EXPECT_EQ(selection.changes_replayed(), 3u);
  EXPECT_EQ(selection.last_commit_at(), "2026-03-01T12:00:00.000000Z");
  EXPECT_EQ(selection.last_lsn(), "0/30");
}

TEST(ReplaySelection, RefusesBrokenTransactions) {
  auto state = [](const std::vector<std::string>& lines) {
    return sql_error_state([&] {
      ReplaySelection s(seen(1, 1, {}), "2030-01-01T00:00:00.000000Z");
      for (const auto& l : lines) s.scan(l);
      s.end_segment();
    });
  };
  EXPECT_EQ(state({insert("1")}), "22P02");
  EXPECT_EQ(state({begin(3), begin(4)}), "22P02");
  EXPECT_EQ(state({commit(3, "2026-01-01T00:00:00.000000Z", "0/1")}), "22P02");
  EXPECT_EQ(state({begin(3), insert("1")}), "22P02");  // cut short
  EXPECT_EQ(state({begin(3), "{not json", commit(3, "2026-01-01T00:00:00.000000Z", "0/1")}), "none");  // pass 1 skips rows
  EXPECT_EQ(state({R"({"op":"begin","xid":"x"})", commit(3, "2026-01-01T00:00:00.000000Z", "0/1")}), "none");
  EXPECT_EQ(state({begin(3), R"({"op":"commit","xid":"3"})"}), "22P02");  // commit without its time
}

TEST(TextArrayLiteral, QuotesEveryValueAndSpellsNull) {
  EXPECT_EQ(text_array_literal({}), "{}");
  EXPECT_EQ(text_array_literal({"a", std::nullopt, "NULL", "x\"y\\z", "", "{,}"}),
            R"({"a",NULL,"NULL","x\"y\\z","","{,}"})");
}

TEST(ReplayBatcher, BatchesInsertsWithTheirTypes) {
  const ReplayStage stage = orders_stage();
  ReplayBatcher b(stage, 10);
  b.add(row_change(ChangeOp::Insert, std::nullopt, {{"id", "1"}, {"note", "a"}, {"total", "1.50"}}), "t");
  auto second = row_change(ChangeOp::Insert, std::nullopt, {{"id", "2"}, {"note", std::nullopt}, {"total", "2"}});
  ASSERT_TRUE(b.accepts(second));
  b.add(second, "t");
  const ReplayStatement s = b.statement();
  EXPECT_EQ(s.sql,
            "INSERT INTO pg_temp.\"ptb_stage_1\" (\"id\", \"note\", \"total\") SELECT CAST(ptb_v.c1 AS integer), "
            "CAST(ptb_v.c2 AS text), CAST(ptb_v.c3 AS numeric(10,2)) FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), "
            "pg_catalog.unnest($2::pg_catalog.text[]), pg_catalog.unnest($3::pg_catalog.text[])) AS ptb_v(c1, c2, c3)");
  EXPECT_EQ(s.params, (std::vector<std::optional<std::string>>{R"({"1","2"})", R"({"a",NULL})", R"({"1.50","2"})"}));
}

TEST(ReplayBatcher, NeverPutsTwoChangesOfOneKeyInOneBatch) {
  const ReplayStage stage = orders_stage();
  ReplayBatcher b(stage, 10);
  b.add(row_change(ChangeOp::Update, "1", {{"id", "1"}, {"note", "b"}}), "t");
  EXPECT_FALSE(b.accepts(row_change(ChangeOp::Update, "1", {{"id", "1"}, {"note", "c"}})));
  // A key change: the new key is taken too.
  b.add(row_change(ChangeOp::Update, "2", {{"id", "3"}, {"note", "c"}}), "t");
  EXPECT_FALSE(b.accepts(row_change(ChangeOp::Update, "3", {{"id", "3"}, {"note", "d"}})));
  EXPECT_TRUE(b.accepts(row_change(ChangeOp::Update, "4", {{"id", "4"}, {"note", "d"}})));
  // Another kind, or other columns: another batch.
  EXPECT_FALSE(b.accepts(row_change(ChangeOp::Delete, "9", {})));
  EXPECT_FALSE(b.accepts(row_change(ChangeOp::Update, "5", {{"id", "5"}, {"total", "1"}})));
  const ReplayStatement s = b.statement();
  EXPECT_NE(s.sql.find("UPDATE pg_temp.\"ptb_stage_1\" ptb_s SET \"id\" = CAST(ptb_v.c1 AS integer), \"note\" = CAST(ptb_v.c2 AS text)"),
            std::string::npos);
  EXPECT_NE(s.sql.find("WITH ORDINALITY AS ptb_v(k1, c1, c2, n) WHERE ptb_s.\"id\" OPERATOR(pg_catalog.=) CAST(ptb_v.k1 AS integer)"),
            std::string::npos);
  EXPECT_NE(s.sql.find("RETURNING ptb_v.n"), std::string::npos);
  EXPECT_EQ(s.params.at(0), R"({"1","2"})");
  b.clear();
  EXPECT_TRUE(b.empty());
  ReplayBatcher full(stage, 1);
  full.add(row_change(ChangeOp::Delete, "1", {}), "t");
  EXPECT_FALSE(full.accepts(row_change(ChangeOp::Delete, "2", {})));
}

TEST(ReplayBatcher, UpdatesNotFoundBecomeInserts) {
  const ReplayStage stage = orders_stage();
  ReplayBatcher whole(stage, 10);
  whole.add(row_change(ChangeOp::Update, "1", {{"id", "1"}, {"note", "a"}, {"total", "1"}}), "t");
  whole.add(row_change(ChangeOp::Update, "2", {{"id", "2"}, {"note", "b"}, {"total", "2"}}), "t");
  std::vector<std::vector<std::optional<std::string>>> incomplete;
  auto insert = whole.insert_missing({1}, &incomplete);
  ASSERT_TRUE(insert.has_value());
  EXPECT_EQ(insert->sql.rfind("INSERT INTO pg_temp.\"ptb_stage_1\" (\"id\", \"note\", \"total\") SELECT", 0), 0u);
  EXPECT_EQ(insert->params, (std::vector<std::optional<std::string>>{R"({"2"})", R"({"b"})", R"({"2"})"}));
  EXPECT_TRUE(incomplete.empty());
  EXPECT_FALSE(whole.insert_missing({1, 2}, &incomplete).has_value());

  // "total" unchanged and TOASTed: not in the change. The row goes in
  // without it, and its key (the new one) is reported.
  ReplayBatcher partial(stage, 10);
  partial.add(row_change(ChangeOp::Update, "7", {{"id", "8"}, {"note", "a"}}), "t");
  insert = partial.insert_missing({}, &incomplete);
  ASSERT_TRUE(insert.has_value());
  EXPECT_NE(insert->sql.find("(\"id\", \"note\") SELECT"), std::string::npos);
  ASSERT_EQ(incomplete.size(), 1u);
  EXPECT_EQ(incomplete[0], (std::vector<std::optional<std::string>>{"8"}));

  const ReplayStatement find = partial.find_keys(incomplete);
  EXPECT_EQ(find.sql,
            "SELECT 1 FROM pg_temp.\"ptb_stage_1\" ptb_s JOIN ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[])) AS ptb_v(k1) "
            "ON ptb_s.\"id\" OPERATOR(pg_catalog.=) CAST(ptb_v.k1 AS integer) LIMIT 1");
  EXPECT_EQ(find.params, (std::vector<std::optional<std::string>>{R"({"8"})"}));
}

TEST(ReplayBatcher, DeletesMatchOnTheKey) {
  const ReplayStage stage = orders_stage();
  ReplayBatcher b(stage, 10);
  b.add(row_change(ChangeOp::Delete, "4", {}), "t");
  b.add(row_change(ChangeOp::Delete, "5", {}), "t");
  const ReplayStatement s = b.statement();
  EXPECT_EQ(s.sql,
            "DELETE FROM pg_temp.\"ptb_stage_1\" ptb_s USING ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[])) AS ptb_v(k1) "
            "WHERE ptb_s.\"id\" OPERATOR(pg_catalog.=) CAST(ptb_v.k1 AS integer)");
  EXPECT_EQ(s.params, (std::vector<std::optional<std::string>>{R"({"4","5"})"}));
}

TEST(ReplayBatcher, SchemaChangesAndUnidentifiedRowsAreRefusedByName) {
  const ReplayStage stage = orders_stage();
  auto refused = [&](const ChangeRecord& change) {
    try {
      ReplayBatcher b(stage, 10);
      b.add(change, "2026-03-01T12:00:00.000000Z");
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("public.orders"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("2026-03-01T12:00:00.000000Z"), std::string::npos) << e.what();
      return e.sqlstate();
    }
    return std::string("none");
  };
  EXPECT_EQ(refused(row_change(ChangeOp::Insert, std::nullopt, {{"id", "1"}, {"note", "a"}, {"total", "1"}, {"added", "x"}})),
            "0A000");
  EXPECT_EQ(refused(row_change(ChangeOp::Insert, std::nullopt, {{"id", "1"}, {"note", "a"}})), "0A000");
  EXPECT_EQ(refused(row_change(ChangeOp::Delete, std::nullopt, {})), "0A000");
  ChangeRecord other_identity = row_change(ChangeOp::Delete, std::nullopt, {});
  other_identity.key = std::vector<ChangeColumn>{{"note", "a"}};
  EXPECT_EQ(refused(other_identity), "0A000");
}
