#include "core/schema_drift.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace ptb::core {
namespace {

using json = nlohmann::json;

TEST(ClassifyTypeChange, SameTypeIsNoChange) {
  EXPECT_EQ(classify_type_change("numeric(12,2)", "numeric(12,2)"), TypeChange::Same);
  EXPECT_EQ(classify_type_change("public.mood", "public.mood"), TypeChange::Same);
}

TEST(ClassifyTypeChange, WideningKeepsEveryValue) {
  for (const auto& [from, to] : std::vector<std::pair<const char*, const char*>>{
           {"smallint", "integer"},
           {"integer", "bigint"},
           {"integer", "numeric"},
           {"integer", "numeric(12,2)"},
           {"bigint", "numeric(19,0)"},
           {"integer", "double precision"},
           {"smallint", "real"},
           {"real", "double precision"},
           {"numeric(12,2)", "numeric(14,2)"},
           {"numeric(12,2)", "numeric(13,3)"},
           {"numeric(12,2)", "numeric"},
           {"character varying(20)", "character varying(40)"},
           {"character varying(20)", "text"},
           {"character(3)", "character varying(3)"},
           {"boolean", "text"},
           {"public.mood", "text"},
           {"integer[]", "bigint[]"},
           {"integer[]", "text"},
           {"timestamp(3) without time zone", "timestamp without time zone"},
           {"timestamp(0) with time zone", "timestamp(3) with time zone"},
           {"date", "timestamp without time zone"},
           {"interval day to second(3)", "interval"},
           {"jsonb", "json"},
       })
    EXPECT_EQ(classify_type_change(from, to), TypeChange::Lossless) << from << " -> " << to;
}

TEST(ClassifyTypeChange, NarrowingOrReinterpretingIsLossy) {
  for (const auto& [from, to] : std::vector<std::pair<const char*, const char*>>{
           {"bigint", "integer"},
           {"integer", "smallint"},
           {"bigint", "double precision"},  // 64 bits do not fit a 53-bit mantissa
           {"integer", "real"},
           {"integer", "numeric(9,0)"},
           {"numeric(12,2)", "numeric(12,0)"},  // rounds the cents away
           {"numeric(12,2)", "numeric(11,2)"},
           {"numeric", "numeric(12,2)"},
           {"numeric", "integer"},
           {"double precision", "real"},
           {"text", "character varying(5)"},
           {"character varying(20)", "character varying(10)"},
           {"text", "character(3)"},
           {"timestamp with time zone", "timestamp(0) with time zone"},
           {"timestamp without time zone", "timestamp with time zone"},  // read in some time zone
           {"timestamp with time zone", "date"},
           {"json", "jsonb"},  // drops duplicate keys and spacing
           {"text", "integer"},
           {"integer[]", "integer"},
           {"integer", "integer[]"},
           {"public.mood", "public.\"mood(2)\""},
       })
    EXPECT_EQ(classify_type_change(from, to), TypeChange::Lossy) << from << " -> " << to;
}

TEST(ParseRename, TablesAndColumnsByTheSnapshotsNames) {
  const RenameMap map = parse_rename(json::parse(
      R"({"tables": {"orders": "sales.purchases"}, "columns": {"\"Customers\"": {"Mail": "email"}}})"));
  ASSERT_EQ(map.tables.size(), 1u);
  EXPECT_EQ(map.tables.begin()->first, (QualifiedName{"", "orders"}));
  EXPECT_EQ(map.tables.begin()->second, (QualifiedName{"sales", "purchases"}));
  ASSERT_EQ(map.columns.size(), 1u);
  EXPECT_EQ(map.columns.begin()->first, (QualifiedName{"", "Customers"}));
  EXPECT_EQ(map.columns.begin()->second.at("mail"), "email");  // folded as SQL folds it
}

TEST(ParseRename, MalformedValuesAreRefusedWith22023) {
  for (const char* text : {R"([])", R"({"views": {}})", R"({"tables": {"a": 1}})", R"({"tables": []})",
                           R"({"columns": {"a": "b"}})", R"({"columns": {"a": {"b": null}}})",
                           R"({"tables": {"a.b.c": "d"}})"}) {
    try {
      (void)parse_rename(json::parse(text));
      ADD_FAILURE() << text << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22023") << text;
      EXPECT_NE(std::string(e.what()).find("\"rename\""), std::string::npos) << e.what();
    }
  }
}

TEST(ParseColumnDefaults, ValuesAsTheColumnReadsThem) {
  const ColumnDefaults d = parse_column_defaults(
      json::parse(R"({"orders": {"priority": 0, "region": "eu", "flags": {"a": 1}, "note": null, "ok": true}})"));
  const auto& orders = d.at(QualifiedName{"", "orders"});
  EXPECT_EQ(orders.at("priority"), "0");
  EXPECT_EQ(orders.at("region"), "eu");
  EXPECT_EQ(orders.at("flags"), R"({"a":1})");
  EXPECT_EQ(orders.at("note"), std::nullopt);
  EXPECT_EQ(orders.at("ok"), "true");
  EXPECT_THROW((void)parse_column_defaults(json::parse(R"({"orders": 1})")), Error);
  EXPECT_THROW((void)parse_column_defaults(json::parse(R"("x")")), Error);
}

TEST(SchemaDifferences, TheReportListsThoseGotThroughOnly) {
  const std::vector<SchemaDifference> differences = {
      {"public.orders", "priority", "column_added", "rows inserted get its default", ""},
      {"public.visits", "", "table_missing", "no such table", "42P01"},
  };
  const json changes = schema_changes_json(differences);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0], json::parse(R"({"table": "public.orders", "column": "priority",
                                        "change": "column_added", "detail": "rows inserted get its default"})"));
}

TEST(SchemaDifferences, EveryRefusedOneIsInOneError) {
  const std::vector<SchemaDifference> differences = {
      {"public.orders", "priority", "column_added", "rows inserted get its default", ""},
      {"public.visits", "", "table_missing", "no table of that name here", "42P01"},
      {"public.orders", "total", "type_changed", "numeric(12,2) to numeric(12,0)", "42804"},
  };
  try {
    refuse_schema_differences(differences);
    FAIL() << "not refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "42P01");  // the first one's
    EXPECT_NE(std::string(e.what()).find("2 differences"), std::string::npos) << e.what();
    EXPECT_EQ(e.detail(), "public.visits: no table of that name here\npublic.orders.total: numeric(12,2) to numeric(12,0)");
    EXPECT_NE(e.hint().find("Nothing was changed"), std::string::npos);
  }
  EXPECT_NO_THROW(refuse_schema_differences({differences[0]}));
}

}  // namespace
}  // namespace ptb::core
