#include <gtest/gtest.h>

#include <cstring>

#include "core/error.hpp"
#include "core/import_plan.hpp"
#include "core/options.hpp"

using namespace ptb::core;

namespace {

CopyCell cell(CellKind kind, const char* text) { return {kind, text, text ? strlen(text) : 0}; }

std::string field(CellKind kind, const char* text, ValueEncoding encoding) {
  std::string line;
  append_copy_field(line, cell(kind, text), encoding);
  return line;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The import keys of an opts document, read as a call reads them.
ImportOptions import_keys(std::string_view json_text) {
  return read_import_call_options(json_text, SnapshotOptions{}).import;
}

StagedTable orders() {
  StagedTable t;
  t.display = "public.orders";
  t.target = "\"public\".\"orders\"";
  t.stage = "pg_temp.\"ptb_stage_1\"";
  t.columns = {"id", "customer_id", "total"};
  t.key = {"id"};
  t.key_operators = {"OPERATOR(pg_catalog.=)"};
  return t;
}

}  // namespace

TEST(ImportMode, ParsesTheThreeModes) {
  EXPECT_EQ(import_mode_from_string("merge"), ImportMode::Merge);
  EXPECT_EQ(import_mode_from_string("replace"), ImportMode::Replace);
  EXPECT_EQ(import_mode_from_string("insert_only"), ImportMode::InsertOnly);
  EXPECT_EQ(to_string(ImportMode::InsertOnly), "insert_only");
}

TEST(ImportMode, UnknownModeListsTheValidOnes) {
  try {
    import_mode_from_string("upsert");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "22023");
    EXPECT_TRUE(contains(e.what(), "\"upsert\""));
    EXPECT_EQ(e.detail(), "Valid modes are: insert_only, merge, replace.");
  }
}

TEST(ImportOptions, ReadsItsKeysAndIgnoresSnapshotKeys) {
  auto o = import_keys(
      R"({"dry_run": true, "fire_triggers": true, "ignore_unknown_columns": true,
          "key_columns": {"customers": ["email"], "Sales.\"Order Lines\"": "order_id, \"Line No\""},
          "tenancy": "column", "schemas": ["public"]})");
  EXPECT_TRUE(o.dry_run);
  EXPECT_TRUE(o.fire_triggers);
  EXPECT_TRUE(o.ignore_unknown_columns);
  ASSERT_EQ(o.key_columns.size(), 2u);
  EXPECT_EQ(o.key_columns.at(QualifiedName{"", "customers"}), std::vector<std::string>{"email"});
  EXPECT_EQ(o.key_columns.at((QualifiedName{"sales", "Order Lines"})),
            (std::vector<std::string>{"order_id", "Line No"}));
  auto defaults = import_keys("{}");
  EXPECT_FALSE(defaults.dry_run);
  EXPECT_FALSE(defaults.fire_triggers);
}

TEST(ImportOptions, RefusesWrongTypes) {
  for (const char* bad : {R"({"dry_run": "yes"})", R"({"key_columns": ["a"]})",
                          R"({"key_columns": {"t": []}})", R"({"key_columns": {"t": [1]}})",
                          R"({"key_columns": {"a.b.c": ["x"]}})", "[]", "not json"}) {
    try {
      import_keys(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22023") << bad;
    }
  }
}

TEST(ImportOptions, TargetTenantIsNotSupportedYet) {
  try {
    import_keys(R"({"target_tenant": "2"})");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "0A000");
    EXPECT_TRUE(contains(e.what(), "not supported yet"));
  }
  EXPECT_NO_THROW(import_keys(R"({"target_tenant": null})"));
}

TEST(ImportOptions, ExpectedTenant) {
  EXPECT_FALSE(import_keys("{}").expected_tenant.has_value());
  EXPECT_EQ(import_keys(R"({"tenant": "1"})").expected_tenant, std::optional<std::string>("1"));
  EXPECT_EQ(import_keys(R"({"tenant": 7})").expected_tenant, std::optional<std::string>("7"));
  auto whole = import_keys(R"({"tenant": null})").expected_tenant;
  ASSERT_TRUE(whole.has_value());
  EXPECT_FALSE(whole->has_value());
  for (const char* bad : {R"({"tenant": true})", R"({"tenant": 1.5})", R"({"tenant": ["1"]})"}) {
    try {
      import_keys(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22023") << bad;
    }
  }
  EXPECT_NO_THROW(check_expected_tenant(std::nullopt, std::string("2"), "backup 3"));
  EXPECT_NO_THROW(check_expected_tenant(std::optional<std::string>("2"), std::string("2"), "backup 3"));
  EXPECT_NO_THROW(check_expected_tenant(std::optional<std::string>(), std::nullopt, "backup 3"));
  try {
    check_expected_tenant(std::optional<std::string>("1"), std::string("2"), "backup 3");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "22023");
    EXPECT_EQ(std::string(e.what()), "backup 3 is of tenant \"2\", not of tenant \"1\" as opts.tenant expects");
    EXPECT_FALSE(e.hint().empty());
  }
  try {
    check_expected_tenant(std::optional<std::string>("1"), std::nullopt, "backup 3");
    FAIL();
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "is of the whole database, not of tenant \"1\""));
  }
}

TEST(ImportOptions, RecordedSnapshotOptionsReadBackUnchanged) {
  auto recorded = nlohmann::json::parse(
      R"({"tenancy": "schema", "tenant_column": "TenantId", "schemas": ["Tenant A", "public"],
          "soft_delete_column": "", "exclude_tables": ["\"Order Lines\"", "audit_logs"],
          "tables": null, "owning_fks": {}, "a_later_key": 1})");
  auto opts = recorded_options_as_opts(recorded);
  EXPECT_FALSE(opts.contains("a_later_key"));
  EXPECT_EQ(opts["tenant_column"], "\"TenantId\"");
  EXPECT_EQ(opts["schemas"][0], "\"Tenant A\"");
  EXPECT_EQ(opts["soft_delete_column"], "");
  auto o = apply_options_json(opts.dump(), SnapshotOptions{});
  EXPECT_EQ(o.tenancy, TenancyMode::Schema);
  EXPECT_EQ(o.tenant_column, "TenantId");
  EXPECT_EQ(o.schemas, (std::vector<std::string>{"Tenant A", "public"}));
  EXPECT_EQ(o.soft_delete_column, "");
  EXPECT_EQ(o.exclude_tables[0], (QualifiedName{"", "Order Lines"}));
  EXPECT_FALSE(o.tables.has_value());
}

// What an export in this database with the default settings records.
nlohmann::json recorded_defaults() {
  return nlohmann::json::parse(options_to_json(SnapshotOptions{}));
}

TEST(ImportSnapshotOptions, RecordedOptionsThatAgreeArePlannedWith) {
  auto recorded = recorded_defaults();
  recorded["tables"] = {"orders"};
  recorded["include_deleted"] = true;
  recorded["exclude_tables"] = {"events"};
  SnapshotOptions o = import_snapshot_options(SnapshotOptions{}, recorded, nlohmann::json::object());
  ASSERT_TRUE(o.tables.has_value());
  EXPECT_EQ((*o.tables)[0], (QualifiedName{"", "orders"}));
  EXPECT_TRUE(o.include_deleted);
  // The snapshot's exclusions are added to this database's, never replace them.
  EXPECT_EQ(o.exclude_tables, (std::vector<QualifiedName>{{"", "events"}, {"", "audit_logs"}, {"", "backup_logs"}}));
}

TEST(ImportSnapshotOptions, RecordedTableListsFollowTheCallersRenames) {
  auto recorded = recorded_defaults();
  recorded["tables"] = {"orders", "public.members", "visits"};
  recorded["exclude_tables"] = {"events"};
  SnapshotOptions o = import_snapshot_options(
      SnapshotOptions{}, recorded,
      nlohmann::json::parse(R"({"rename": {"tables": {"orders": "purchases", "public.members": "\"Mitglieder\"",
                                                      "events": "archive.happenings"}}})"));
  ASSERT_TRUE(o.tables.has_value());
  EXPECT_EQ(*o.tables,
            (std::vector<QualifiedName>{{"", "purchases"}, {"public", "Mitglieder"}, {"", "visits"}}));
  EXPECT_EQ(o.exclude_tables[0], (QualifiedName{"archive", "happenings"}));
  // A rename of another schema's table leaves the listed one as it is.
  o = import_snapshot_options(SnapshotOptions{}, recorded,
                              nlohmann::json::parse(R"({"rename": {"tables": {"other.members": "people"}}})"));
  EXPECT_EQ((*o.tables)[1], (QualifiedName{"public", "members"}));
}

TEST(ImportSnapshotOptions, ARenameOfOneSchemasTableKeepsTheNameWithoutASchemaForTheOthers) {
  auto recorded = recorded_defaults();
  recorded["tables"] = {"orders", "visits"};
  SnapshotOptions o = import_snapshot_options(
      SnapshotOptions{}, recorded,
      nlohmann::json::parse(R"({"rename": {"tables": {"sales.orders": "sales.purchases", "eu.orders": "bestellungen"}}})"));
  ASSERT_TRUE(o.tables.has_value());
  EXPECT_EQ(*o.tables, (std::vector<QualifiedName>{
                           {"", "orders"}, {"eu", "bestellungen"}, {"sales", "purchases"}, {"", "visits"}}));
}

TEST(ImportSnapshotOptions, OwningKeysAndPolymorphicLinksFollowTheRenamesToo) {
  auto recorded = recorded_defaults();
  recorded["owning_fks"] = {{"public.orders", "orders_customer_fk"}};
  recorded["polymorphic"] = {{"comments", {{"type", "kind"}, {"id", "ref"}, {"types", {{"order", "orders"}}},
                                           {"follow", nlohmann::json::array({"orders"})}}}};
  // This database's settings name the table by its new name.
  SnapshotOptions settings = apply_options(
      nlohmann::json::parse(R"({"owning_fks": {"public.purchases": "orders_customer_fk"},
                                 "polymorphic": {"comments": {"type": "kind", "id": "ref",
                                                              "types": {"order": "purchases"}, "follow": ["purchases"]}}})"),
      SnapshotOptions{});
  const auto rename = nlohmann::json::parse(R"({"rename": {"tables": {"orders": "purchases"}}})");
  SnapshotOptions o = import_snapshot_options(settings, recorded, rename);
  EXPECT_EQ(o.owning_fks.at(QualifiedName{"public", "purchases"}), "orders_customer_fk");
  // Without the rename the snapshot's owning_fks is another table's: refused.
  EXPECT_THROW(import_snapshot_options(settings, recorded, nlohmann::json::object()), Error);
}

TEST(ImportSnapshotOptions, AnEarlierUnquotedNameWithTwoDotsIsRefusedNotGuessed) {
  auto earlier = recorded_defaults();
  earlier["exclude_tables"] = {"my.app.orders"};
  try {
    import_snapshot_options(SnapshotOptions{}, earlier, nlohmann::json::object());
    FAIL() << "a name whose schema is not known was read";
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "22023");
  }
}

TEST(ImportSnapshotOptions, ATableTheCallerExcludesLeavesTheRecordedTableList) {
  auto recorded = recorded_defaults();
  recorded["tables"] = {"tenants", "public.members", "visits"};
  SnapshotOptions o = import_snapshot_options(SnapshotOptions{}, recorded, nlohmann::json::parse(R"({"exclude_tables": ["members"]})"));
  ASSERT_TRUE(o.tables.has_value());
  EXPECT_EQ(*o.tables, (std::vector<QualifiedName>{{"", "tenants"}, {"", "visits"}}));
  // A list the caller gives is the caller's: kept as given.
  o = import_snapshot_options(SnapshotOptions{}, recorded,
                              nlohmann::json::parse(R"({"tables": ["tenants", "members"], "exclude_tables": ["members"]})"));
  EXPECT_EQ(o.tables->size(), 2u);
  o = import_snapshot_options(SnapshotOptions{}, recorded, nlohmann::json::parse(R"({"exclude_tables": ["other.members"]})"));
  EXPECT_EQ(o.tables->size(), 3u) << "a table of another schema is another table";
}

TEST(ImportSnapshotOptions, ARecordedTenancyThatDiffersIsRefusedNamingBoth) {
  auto recorded = recorded_defaults();
  recorded["tenancy"] = "schema";
  try {
    import_snapshot_options(SnapshotOptions{}, recorded, nlohmann::json::object());
    FAIL() << "a snapshot chose its own tenancy";
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "22023");
    EXPECT_TRUE(contains(e.what(), "tenancy \"schema\"")) << e.what();
    EXPECT_TRUE(contains(e.what(), "tenancy \"column\"")) << e.what();
    EXPECT_TRUE(contains(e.hint(), R"({"tenancy": "schema"})")) << e.hint();
  }
}

TEST(ImportSnapshotOptions, EachOptionThatDecidesOwnershipIsChecked) {
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, nlohmann::json>>{
           {"tenant_column", "account_id"},
           {"schemas", nlohmann::json::array({"public", "other"})},
           {"owning_fks", {{"orders", "orders_customer_fkey"}}},
           {"polymorphic", {{"versions", {{"type", "item_type"}, {"id", "item_id"}}}}}}) {
    auto recorded = recorded_defaults();
    recorded[key] = value;
    EXPECT_THROW(import_snapshot_options(SnapshotOptions{}, recorded, nlohmann::json::object()), Error) << key;
    // Named by the caller, it is the caller's choice.
    nlohmann::json opts = {{key, value}};
    SnapshotOptions o = import_snapshot_options(SnapshotOptions{}, recorded, opts);
    EXPECT_EQ(nlohmann::json::parse(options_to_json(o))[key], nlohmann::json::parse(options_to_json(
        apply_options_json(opts.dump(), SnapshotOptions{})))[key]) << key;
  }
}

TEST(ImportSnapshotOptions, TheCallerCanAlsoPassTheSettingsValue) {
  auto recorded = recorded_defaults();
  recorded["tenancy"] = "schema";
  SnapshotOptions o = import_snapshot_options(SnapshotOptions{}, recorded, nlohmann::json::parse(R"({"tenancy": "column"})"));
  EXPECT_EQ(o.tenancy, TenancyMode::Column);
}

TEST(ImportSnapshotOptions, SettingsDecideWhenNothingIsRecorded) {
  SnapshotOptions settings;
  settings.tenant_column = "account_id";
  SnapshotOptions o = import_snapshot_options(settings, nlohmann::json::object(), nlohmann::json::parse(R"({"dry_run": true})"));
  EXPECT_EQ(o.tenant_column, "account_id");
  EXPECT_EQ(o.tenancy, TenancyMode::Column);
}

TEST(ImportSnapshotOptions, ColumnOptionsDoNotMatterInSchemaTenancy) {
  auto recorded = recorded_defaults();
  recorded["tenancy"] = "schema";
  recorded["tenant_column"] = "whatever";
  SnapshotOptions o = import_snapshot_options(SnapshotOptions{}, recorded, nlohmann::json::parse(R"({"tenancy": "schema"})"));
  EXPECT_EQ(o.tenancy, TenancyMode::Schema);
}

TEST(ImportOptions, RecordedWithTheMode) {
  ImportOptions o;
  o.key_columns[{"", "customers"}] = {"email"};
  auto j = import_options_json(ImportMode::Replace, o);
  EXPECT_EQ(j["mode"], "replace");
  EXPECT_EQ(j["key_columns"]["customers"][0], "email");
  EXPECT_EQ(j["fire_triggers"], false);
}

TEST(CopyText, EscapesBackslashTabNewlineAndCarriageReturn) {
  std::string line;
  append_copy_escaped(line, "a\\b\tc\nd\re\x07 é \\.");
  EXPECT_EQ(line, "a\\\\b\\tc\\nd\\re\x07 é \\\\.");
  line.clear();
  append_copy_escaped(line, "\\.");
  EXPECT_EQ(line, "\\\\.") << "the end-of-data marker cannot appear";
}

TEST(CopyText, NullIsBackslashN) {
  EXPECT_EQ(field(CellKind::Null, nullptr, ValueEncoding::Text), "\\N");
  EXPECT_EQ(field(CellKind::Null, nullptr, ValueEncoding::Jsonb), "\\N");
  EXPECT_EQ(field(CellKind::String, "\\N", ValueEncoding::Text), "\\\\N")
      << "the text \\N is not NULL";
}

TEST(CopyText, NumbersBooleansAndSpecialFloatsAsTheyAre) {
  EXPECT_EQ(field(CellKind::Literal, "-9223372036854775808", ValueEncoding::Integer),
            "-9223372036854775808");
  EXPECT_EQ(field(CellKind::Literal, "1.0000000000000002", ValueEncoding::Float), "1.0000000000000002");
  EXPECT_EQ(field(CellKind::String, "NaN", ValueEncoding::Float), "NaN");
  EXPECT_EQ(field(CellKind::String, "-0", ValueEncoding::Float), "-0");
  EXPECT_EQ(field(CellKind::String, "-Infinity", ValueEncoding::Float), "-Infinity");
  EXPECT_EQ(field(CellKind::String, "9.990", ValueEncoding::Numeric), "9.990");
  EXPECT_EQ(field(CellKind::Literal, "true", ValueEncoding::Boolean), "true");
}

TEST(CopyText, ByteaFromBase64ToHex) {
  EXPECT_EQ(field(CellKind::String, "AP8Q", ValueEncoding::Bytea), "\\\\x00ff10");
  EXPECT_EQ(field(CellKind::String, "", ValueEncoding::Bytea), "\\\\x");
  try {
    field(CellKind::String, "not base64!", ValueEncoding::Bytea);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "22P02");
  }
  EXPECT_THROW(field(CellKind::Literal, "12", ValueEncoding::Bytea), Error);
}

TEST(CopyText, JsonbStringsAreJsonStrings) {
  EXPECT_EQ(field(CellKind::String, "string", ValueEncoding::Jsonb), "\"string\"");
  EXPECT_EQ(field(CellKind::String, "tab\there \"q\" \\", ValueEncoding::Jsonb),
            "\"tab\\\\there \\\\\"q\\\\\" \\\\\\\\\"");
  EXPECT_EQ(field(CellKind::Json, "{\"a\": [1, null]}", ValueEncoding::Jsonb), "{\"a\": [1, null]}");
  EXPECT_EQ(field(CellKind::Json, "null", ValueEncoding::Jsonb), "null");
  EXPECT_EQ(field(CellKind::Literal, "1.50", ValueEncoding::Jsonb), "1.50");
}

TEST(CopyText, JsonAndTextKeepTheirCharacters) {
  EXPECT_EQ(field(CellKind::String, "{ \"b\" : 1,\n \"a\": 2 }", ValueEncoding::Json),
            "{ \"b\" : 1,\\n \"a\": 2 }");
  EXPECT_EQ(field(CellKind::String, "{\"a b\",\"c,d\",NULL}", ValueEncoding::Text),
            "{\"a b\",\"c,d\",NULL}");
}

TEST(ImportSql, QuoteLiteralDoublesQuotesAndBackslashes) {
  EXPECT_EQ(quote_literal("it's a \\ test"), "E'it''s a \\\\ test'");
}

TEST(ImportSql, UpdateColumnsLeaveOutKeyAndFixedColumns) {
  StagedTable t = orders();
  t.fixed_columns = {"customer_id"};
  EXPECT_EQ(t.update_columns(), std::vector<std::string>{"total"});
  EXPECT_EQ(t.only_target(), "ONLY \"public\".\"orders\"");
  t.partitioned = true;
  EXPECT_EQ(t.only_target(), "\"public\".\"orders\"");
}

TEST(ImportSql, TheStageIsIndexedOnTheKeyAsTheTableIs) {
  StagedTable t = orders();
  EXPECT_EQ(stage_key_index_sql(t, false), "CREATE INDEX ON pg_temp.\"ptb_stage_1\" (\"id\")");
  EXPECT_EQ(stage_key_index_sql(t, true),
            "CREATE UNIQUE INDEX ON pg_temp.\"ptb_stage_1\" (\"id\") NULLS NOT DISTINCT");
  t.key = {"code", "id"};
  t.key_operators = {"OPERATOR(pg_catalog.=)", "OPERATOR(pg_catalog.=)"};
  t.key_opclasses = {"\"pg_catalog\".\"text_pattern_ops\"", "\"pg_catalog\".\"int8_ops\""};
  t.key_collations = {"\"pg_catalog\".\"C\"", ""};
  EXPECT_EQ(stage_key_index_sql(t, false),
            "CREATE INDEX ON pg_temp.\"ptb_stage_1\" (\"code\" COLLATE \"pg_catalog\".\"C\" "
            "\"pg_catalog\".\"text_pattern_ops\", \"id\" \"pg_catalog\".\"int8_ops\")");
  t.key.clear();
  EXPECT_EQ(stage_key_index_sql(t, true), "");
}

TEST(ImportSql, OneJoinFindsAnotherTenantsKeysAndCountsTheNewRows) {
  EXPECT_EQ(key_owners_sql(orders(), "t0.tenant_id = $1"),
            "SELECT pg_catalog.min(pg_catalog.concat(E'(id)=(', COALESCE(CAST(ptb_s.\"id\" AS pg_catalog.text), "
            "'null'), ')')) FILTER (WHERE t0.\"id\" IS NOT NULL AND NOT COALESCE((t0.tenant_id = $1), false)), "
            "pg_catalog.count(*) FILTER (WHERE NOT (t0.\"id\" IS NOT NULL)) FROM pg_temp.\"ptb_stage_1\" ptb_s "
            "LEFT JOIN ONLY \"public\".\"orders\" t0 ON t0.\"id\" OPERATOR(pg_catalog.=) ptb_s.\"id\"");
  // A table without a key keeps the anti join of foreign_owner_sql.
  StagedTable keyless = orders();
  keyless.key.clear();
  EXPECT_EQ(key_owners_sql(keyless, "t0.tenant_id = $1"), "");
}

TEST(ImportSql, InsertsOnlyRowsWhoseKeyIsMissing) {
  EXPECT_EQ(insert_missing_sql(orders()),
            "INSERT INTO \"public\".\"orders\" AS ptb_t (\"id\", \"customer_id\", \"total\") "
            "OVERRIDING SYSTEM VALUE SELECT ptb_s.\"id\", ptb_s.\"customer_id\", ptb_s.\"total\" "
            "FROM pg_temp.\"ptb_stage_1\" ptb_s WHERE NOT EXISTS (SELECT 1 FROM ONLY "
            "\"public\".\"orders\" ptb_e WHERE ptb_e.\"id\" OPERATOR(pg_catalog.=) ptb_s.\"id\")");
}

TEST(ImportSql, ReplaceUpdatesInsertsAndDeletes) {
  StagedTable t = orders();
  EXPECT_EQ(update_existing_sql(t),
            "UPDATE ONLY \"public\".\"orders\" AS ptb_t SET \"customer_id\" = ptb_s.\"customer_id\", "
            "\"total\" = ptb_s.\"total\" FROM pg_temp.\"ptb_stage_1\" ptb_s WHERE ptb_t.\"id\" "
            "OPERATOR(pg_catalog.=) ptb_s.\"id\" AND NOT pg_catalog.record_image_eq(ROW(ptb_t.\"customer_id\", "
            "ptb_t.\"total\"), ROW(ptb_s.\"customer_id\", ptb_s.\"total\"))");
  EXPECT_EQ(doomed_sql(t, "ptb_t", "ptb_t.tenant_id = $1"),
            "(ptb_t.tenant_id = $1) AND NOT EXISTS (SELECT 1 FROM "
            "pg_temp.\"ptb_stage_1\" ptb_k WHERE ptb_t.\"id\" OPERATOR(pg_catalog.=) ptb_k.\"id\")");
  StagedTable lines = orders();
  lines.target = "\"public\".\"lines\"";
  std::string del = delete_doomed_sql({&t, &lines}, {"a", "b"});
  EXPECT_EQ(del,
            "WITH ptb_d1 AS (DELETE FROM ONLY \"public\".\"lines\" AS ptb_t WHERE b RETURNING 1), "
            "ptb_d0 AS (DELETE FROM ONLY \"public\".\"orders\" AS ptb_t WHERE a RETURNING 1) "
            "SELECT (SELECT pg_catalog.count(*) FROM ptb_d0), (SELECT pg_catalog.count(*) FROM ptb_d1)");
}

// On Citus every statement reaches the other side of a stage/table pair
// through an uncorrelated subquery, and keeps to the tenant's rows.
TEST(ImportSql, CitusTablesAreReachedThroughSubqueriesScopedToTheTenant) {
  StagedTable t = orders();
  t.citus = true;
  t.citus_scope = [](std::string_view alias) { return std::string(alias) + ".\"tenant_id\" = $1"; };
  EXPECT_EQ(t.target_rows(),
            "(SELECT * FROM ONLY \"public\".\"orders\" ptb_c WHERE ptb_c.\"tenant_id\" = $1 OFFSET 0)");
  EXPECT_EQ(t.stage_rows(), "(SELECT * FROM pg_temp.\"ptb_stage_1\" OFFSET 0)");
  EXPECT_TRUE(contains(update_existing_sql(t), "ptb_s.\"id\" AND (ptb_t.\"tenant_id\" = $1) AND NOT"));
  EXPECT_TRUE(contains(update_existing_sql(t), " FROM (SELECT * FROM pg_temp.\"ptb_stage_1\" OFFSET 0) ptb_s WHERE"));
  EXPECT_EQ(count_differing_sql(t),
            "SELECT pg_catalog.count(*) FROM ONLY \"public\".\"orders\" ptb_t JOIN pg_temp.\"ptb_stage_1\" ptb_s ON "
            "ptb_t.\"id\" OPERATOR(pg_catalog.=) ptb_s.\"id\" WHERE NOT pg_catalog.record_image_eq(ROW(ptb_t."
            "\"customer_id\", ptb_t.\"total\"), ROW(ptb_s.\"customer_id\", ptb_s.\"total\"))");
  EXPECT_TRUE(contains(insert_missing_sql(t), "NOT EXISTS (SELECT 1 FROM (SELECT * FROM ONLY"));
  EXPECT_FALSE(contains(insert_missing_sql(t), "FROM ONLY \"public\".\"orders\" ptb_e"));
  EXPECT_TRUE(contains(doomed_sql(t, "ptb_t", "m"), "NOT EXISTS (SELECT 1 FROM (SELECT * FROM pg_temp."));
  EXPECT_TRUE(contains(not_owned_sql(t, "o"), "FROM (SELECT * FROM ONLY \"public\".\"orders\" ptb_c WHERE"));
  EXPECT_TRUE(contains(missing_rows_sql(t), "NOT EXISTS (SELECT 1 FROM (SELECT * FROM ONLY"));
  // A reference table has no scope: the whole table, still as a subquery.
  t.citus_scope = nullptr;
  EXPECT_EQ(t.target_rows(), "(SELECT * FROM ONLY \"public\".\"orders\" ptb_c OFFSET 0)");
  EXPECT_EQ(t.and_scope("ptb_t"), "");
  // Without Citus nothing changes.
  t.citus = false;
  EXPECT_EQ(t.target_rows(), t.only_target());
  EXPECT_EQ(t.stage_rows(), t.stage);
}

TEST(ImportSql, WithoutKeyReplaceDeletesAllTheTenantsRowsAndInsertsAll) {
  StagedTable t = orders();
  t.key.clear();
  t.key_operators.clear();
  EXPECT_EQ(update_existing_sql(t), "");
  EXPECT_FALSE(contains(insert_missing_sql(t), "WHERE"));
  EXPECT_EQ(doomed_sql(t, "ptb_t", "true"), "(true)");
}

TEST(ImportSql, ReplaceSparesRowsWhoseKeyIsInASparedStage) {
  // The data stage is matched on key_columns (code); the filtered_rows and
  // reference stages on their own key (the primary key id).
  StagedTable t = orders();
  t.key = {"code"};
  StagedTable filtered = orders();
  filtered.stage = "pg_temp.\"ptb_stage_7\"";
  filtered.columns = {"id"};
  StagedTable reference = filtered;
  reference.stage = "pg_temp.\"ptb_stage_8\"";
  reference.key_operators = {"OPERATOR(public.=)"};
  EXPECT_EQ(doomed_sql(t, "ptb_d", "ptb_d.tenant_id = $1", {&filtered, &reference}),
            "(ptb_d.tenant_id = $1)"
            " AND NOT EXISTS (SELECT 1 FROM pg_temp.\"ptb_stage_1\" ptb_k WHERE ptb_d.\"code\" OPERATOR(pg_catalog.=) ptb_k.\"code\")"
            " AND NOT EXISTS (SELECT 1 FROM pg_temp.\"ptb_stage_7\" ptb_k WHERE ptb_d.\"id\" OPERATOR(pg_catalog.=) ptb_k.\"id\")"
            " AND NOT EXISTS (SELECT 1 FROM pg_temp.\"ptb_stage_8\" ptb_k WHERE ptb_d.\"id\" OPERATOR(public.=) ptb_k.\"id\")");
  // A spared stage without a key cannot be matched and spares nothing; a
  // table without a key is still replaced whole, spared rows aside.
  StagedTable keyless = filtered;
  keyless.key.clear();
  keyless.key_operators.clear();
  EXPECT_EQ(doomed_sql(orders(), "ptb_t", "true", {&keyless}), doomed_sql(orders(), "ptb_t", "true"));
  StagedTable whole = orders();
  whole.key.clear();
  EXPECT_EQ(doomed_sql(whole, "ptb_t", "true", {&filtered}),
            "(true) AND NOT EXISTS (SELECT 1 FROM pg_temp.\"ptb_stage_7\" ptb_k WHERE ptb_t.\"id\" "
            "OPERATOR(pg_catalog.=) ptb_k.\"id\")");
}

TEST(ImportSql, RowDescriptionsLookLikeTheServersKeys) {
  EXPECT_EQ(describe_row_sql({"order_id", "line_no"}, "x"),
            "pg_catalog.concat(E'(order_id, line_no)=(', COALESCE(CAST(x.\"order_id\" AS "
            "pg_catalog.text), 'null'), E', ', COALESCE(CAST(x.\"line_no\" AS pg_catalog.text), "
            "'null'), ')')");
}

TEST(ImportSql, ChecksQuoteEveryName) {
  StagedTable t = orders();
  t.target = "\"public\".\"Order \"\"Notes\"\"; --\"";
  t.key = {"Id\"x"};
  EXPECT_TRUE(contains(missing_rows_sql(t), "ptb_t.\"Id\"\"x\" OPERATOR(pg_catalog.=) ptb_s.\"Id\"\"x\""));
  EXPECT_TRUE(contains(duplicate_keys_sql(t), "GROUP BY ptb_s.\"Id\"\"x\" HAVING"));
  EXPECT_TRUE(contains(foreign_owner_sql(t, "t0.tenant_id = $1"), "WHERE NOT COALESCE((t0.tenant_id = $1), false)"));
  // An owning chain stays a plain NOT EXISTS, which the planner runs as an
  // anti join (a COALESCE around it would force a subplan).
  const std::string chain = "EXISTS (SELECT 1 FROM p a1 WHERE a1.id = t0.p_id AND (a1.t = '(x'))";
  EXPECT_TRUE(contains(foreign_owner_sql(t, chain), "WHERE NOT " + chain + ")")) << foreign_owner_sql(t, chain);
  const std::string two = "EXISTS (SELECT 1) OR EXISTS (SELECT 2)";
  EXPECT_TRUE(contains(foreign_owner_sql(t, two), "NOT COALESCE((" + two + "), false)"));
  EXPECT_TRUE(contains(not_owned_sql(t, "o"), "NOT EXISTS (SELECT 1 FROM ONLY \"public\".\"Order \"\"Notes\"\"; --\" t0"));
}

TEST(ImportSql, ForeignKeyChecks) {
  ForeignKeyCheck fk;
  fk.name = "returns_handled_by_fkey";
  fk.from_table = "\"public\".\"returns\"";
  fk.from_columns = {"handled_by"};
  fk.from_key = {"id"};
  fk.to_table = "\"public\".\"customers\"";
  fk.to_columns = {"id"};
  fk.operators = {"OPERATOR(pg_catalog.=)"};
  std::string blocked = blocked_delete_sql(fk, "D", {"id"}, "false");
  EXPECT_TRUE(contains(blocked, "FROM ONLY \"public\".\"returns\" ptb_x JOIN ONLY \"public\".\"customers\" ptb_d ON "
                                "ptb_d.\"id\" OPERATOR(pg_catalog.=) ptb_x.\"handled_by\" WHERE (D) AND NOT (false)) "
                                "SELECT * FROM ptb_found LIMIT 1"))
      << blocked;
  std::string dangling = dangling_reference_sql(fk, "pg_temp.s", {"id", "handled_by"}, {"id"});
  EXPECT_TRUE(contains(dangling, "WHERE ptb_s.\"handled_by\" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ONLY "
                                 "\"public\".\"customers\" ptb_r WHERE ptb_r.\"id\" OPERATOR(pg_catalog.=) "
                                 "ptb_s.\"handled_by\")"))
      << dangling;
  EXPECT_TRUE(contains(dangling, "E'(id)=(', COALESCE(CAST(ptb_s.\"handled_by\""));
  EXPECT_EQ(dangling_reference_sql(fk, "pg_temp.s", {"id"}, {"id"}), "")
      << "a referencing column the snapshot does not have is not checked";
}

TEST(ImportReport, CountsUnchangedRowsAndTotals) {
  ImportReport r;
  r.mode = ImportMode::Replace;
  r.tenant = "1";
  r.tables = {{"public.customers", 10, 2, 3, 1}, {"public.orders", 5, 0, 0, 4}};
  r.duration_ms = 12.34567;
  auto j = report_json(r);
  EXPECT_EQ(j["mode"], "replace");
  EXPECT_EQ(j["dry_run"], false);
  EXPECT_EQ(j["tenant"], "1");
  EXPECT_EQ(j["tables"][0]["unchanged"], 5);
  EXPECT_EQ(j["tables"][1]["unchanged"], 5);
  EXPECT_EQ(j["tables"][1]["deleted"], 4);
  EXPECT_EQ(j["totals"]["inserted"], 2);
  EXPECT_EQ(j["totals"]["updated"], 3);
  EXPECT_EQ(j["totals"]["unchanged"], 10);
  EXPECT_EQ(j["totals"]["deleted"], 5);
  EXPECT_DOUBLE_EQ(j["duration_ms"].get<double>(), 12.346);
  EXPECT_EQ(report_summary(r), "replace: 2 inserted, 3 updated, 10 unchanged, 5 deleted");
  r.dry_run = true;
  r.tenant.reset();
  EXPECT_TRUE(report_json(r)["tenant"].is_null());
  EXPECT_EQ(report_summary(r).substr(0, 18), "replace (dry run):");
}

TEST(ImportReport, AReplaceSaysWhichRowsItKeptAndWhy) {
  ImportReport r;
  r.mode = ImportMode::Replace;
  r.tables = {{"public.customers", 10, 2, 3, 1}, {"public.orders", 5, 0, 0, 4}, {"public.notes", 1, 0, 0, 0}};
  auto j = report_json(r);
  EXPECT_EQ(j["kept"], nlohmann::json::parse(R"({"soft_deleted": 0, "unrecorded": 0, "tables": []})"));
  EXPECT_EQ(report_summary(r), "replace: 2 inserted, 3 updated, 11 unchanged, 5 deleted");
  r.tables[0].kept_soft_deleted = 2;
  r.tables[1].kept_soft_deleted = 1;
  r.tables[2].kept_unrecorded = 3;
  j = report_json(r);
  EXPECT_EQ(j["kept"], nlohmann::json::parse(R"({"soft_deleted": 3, "unrecorded": 3, "tables": [
      {"table": "public.customers", "soft_deleted": 2, "unrecorded": 0},
      {"table": "public.orders", "soft_deleted": 1, "unrecorded": 0},
      {"table": "public.notes", "soft_deleted": 0, "unrecorded": 3}]})"));
  // The totals and table entries keep their keys.
  EXPECT_EQ(j["totals"].size(), 4u);
  EXPECT_FALSE(j["tables"][0].contains("kept")) << j["tables"][0].dump();
  EXPECT_FALSE(j["tables"][0].contains("kept_soft_deleted"));
  EXPECT_EQ(report_summary(r),
            "replace: 2 inserted, 3 updated, 11 unchanged, 5 deleted, 3 kept soft-deleted, 3 kept unrecorded");
  // merge and insert_only never delete, so never keep.
  r.mode = ImportMode::Merge;
  EXPECT_FALSE(report_json(r).contains("kept"));
  EXPECT_EQ(report_summary(r), "merge: 2 inserted, 3 updated, 11 unchanged, 5 deleted");
}

TEST(ImportReport, SaysWhichKeyRowsWereMatchedOn) {
  ImportReport r;
  r.tables = {{"public.accounts", 1, 0, 0, 0, {"email"}, "unique index \"accounts_email_key\""},
              {"public.events", 2, 2, 0, 2}};
  auto j = report_json(r);
  EXPECT_EQ(j["tables"][0]["matched_on"]["columns"], nlohmann::json::array({"email"}));
  EXPECT_EQ(j["tables"][0]["matched_on"]["source"], "unique index \"accounts_email_key\"");
  EXPECT_TRUE(j["tables"][1]["matched_on"].is_null()) << "a table without a key is matched on nothing";
}

TEST(ImportReport, SaysHowEachTablesRowsWereWritten) {
  ImportReport r;
  r.tables = {{"public.accounts", 2, 2, 0, 0, {"id"}, "primary key"}, {"public.orders", 1, 0, 1, 0, {"id"}, "primary key"}};
  r.tables[0].loaded_directly = true;
  auto j = report_json(r);
  EXPECT_EQ(j["tables"][0]["load"], "direct");
  EXPECT_EQ(j["tables"][1]["load"], "staged");
}

TEST(CopyField, RefusesAValueOfAKindItsEncodingNeverWrites) {
  auto cell = [](CellKind kind, const char* text) { return CopyCell{kind, text, std::strlen(text)}; };
  auto fits = [&](CellKind kind, const char* text, ValueEncoding encoding) {
    std::string line;
    try {
      append_copy_field(line, cell(kind, text), encoding);
      return true;
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22023") << e.what();
      return false;
    }
  };
  EXPECT_TRUE(fits(CellKind::Literal, "12", ValueEncoding::Integer));
  EXPECT_FALSE(fits(CellKind::String, "12", ValueEncoding::Integer));
  EXPECT_FALSE(fits(CellKind::Literal, "true", ValueEncoding::Integer));
  EXPECT_TRUE(fits(CellKind::String, "NaN", ValueEncoding::Float));
  EXPECT_TRUE(fits(CellKind::String, "-0", ValueEncoding::Float));
  EXPECT_FALSE(fits(CellKind::String, "1.5", ValueEncoding::Float));
  EXPECT_TRUE(fits(CellKind::Literal, "false", ValueEncoding::Boolean));
  EXPECT_FALSE(fits(CellKind::Literal, "1", ValueEncoding::Boolean));
  EXPECT_TRUE(fits(CellKind::String, "1.50", ValueEncoding::Numeric));
  EXPECT_FALSE(fits(CellKind::Literal, "1.50", ValueEncoding::Numeric));
  EXPECT_FALSE(fits(CellKind::Literal, "7", ValueEncoding::Text));
  EXPECT_FALSE(fits(CellKind::Json, "{}", ValueEncoding::Text));
  EXPECT_FALSE(fits(CellKind::Json, "[1]", ValueEncoding::Json));
  for (CellKind kind : {CellKind::String, CellKind::Literal, CellKind::Json})
    EXPECT_TRUE(fits(kind, kind == CellKind::Json ? "{}" : "1", ValueEncoding::Jsonb));
  EXPECT_TRUE(fits(CellKind::Null, "", ValueEncoding::Integer));
}

TEST(ImportSteps, EachModeRunsItsOwnSteps) {
  const ImportSteps merge = import_steps(ImportMode::Merge, false, false);
  EXPECT_TRUE(merge.updates);
  EXPECT_FALSE(merge.deletes);  // a merge never removes a row
  EXPECT_TRUE(merge.inserts_only_counted_new_keys);
  EXPECT_FALSE(merge.checks_then_drops_skipped);
  EXPECT_TRUE(merge.checks_foreign_keys);
  EXPECT_TRUE(merge.checks_only_written_rows);
  EXPECT_TRUE(merge.advances_sequences);

  const ImportSteps replace = import_steps(ImportMode::Replace, false, false);
  EXPECT_TRUE(replace.updates);
  EXPECT_TRUE(replace.deletes);
  // Its deletes may free a key the count before the changes saw taken, and
  // they may remove a row another row depends on: every staged row is
  // inserted if missing and checked.
  EXPECT_FALSE(replace.inserts_only_counted_new_keys);
  EXPECT_FALSE(replace.checks_only_written_rows);
  EXPECT_TRUE(replace.checks_foreign_keys);

  const ImportSteps insert_only = import_steps(ImportMode::InsertOnly, false, false);
  EXPECT_FALSE(insert_only.updates);
  EXPECT_FALSE(insert_only.deletes);
  EXPECT_TRUE(insert_only.inserts_only_counted_new_keys);
  EXPECT_TRUE(insert_only.checks_then_drops_skipped);
  EXPECT_FALSE(insert_only.checks_only_written_rows);
}

TEST(ImportSteps, TriggersMakeEveryRowChecked) {
  for (ImportMode mode : {ImportMode::Merge, ImportMode::Replace, ImportMode::InsertOnly}) {
    const ImportSteps fired = import_steps(mode, true, false);
    // The server checked the foreign keys as the rows were written.
    EXPECT_FALSE(fired.checks_foreign_keys) << to_string(mode);
    // A trigger may have changed any row: no check or insert is narrowed.
    EXPECT_FALSE(fired.checks_only_written_rows) << to_string(mode);
  }
  EXPECT_FALSE(import_steps(ImportMode::Merge, true, false).inserts_only_counted_new_keys);
  // insert_only changes nothing before its inserts, triggers or not.
  EXPECT_TRUE(import_steps(ImportMode::InsertOnly, true, false).inserts_only_counted_new_keys);
}

TEST(ImportSteps, ADryRunLeavesSequencesAlone) {
  for (ImportMode mode : {ImportMode::Merge, ImportMode::Replace, ImportMode::InsertOnly}) {
    EXPECT_FALSE(import_steps(mode, false, true).advances_sequences) << to_string(mode);
    EXPECT_TRUE(import_steps(mode, false, false).advances_sequences) << to_string(mode);
    // Otherwise a dry run does what the import would (then rolls it back).
    EXPECT_EQ(import_steps(mode, false, true).deletes, import_steps(mode, false, false).deletes);
  }
}

TEST(DirectLoad, OnlyAnEmptyPlainKeyedTableTheCallerMayWriteLoadsStraightIn) {
  DirectLoadFacts facts;
  facts.has_key = true;
  facts.plain_table = true;
  facts.tenant_has_rows = false;
  facts.may_insert = true;
  EXPECT_TRUE(loads_directly(facts));
  // Each fact that needs a staging table's checks sends the section there.
  auto without = [&](auto change) {
    DirectLoadFacts f = facts;
    change(f);
    return loads_directly(f);
  };
  EXPECT_FALSE(without([](DirectLoadFacts& f) { f.has_key = false; }));  // no unique violation to catch a repeat
  EXPECT_FALSE(without([](DirectLoadFacts& f) { f.plain_table = false; }));
  EXPECT_FALSE(without([](DirectLoadFacts& f) { f.tenant_has_rows = true; }));  // rows to update or delete
  EXPECT_FALSE(without([](DirectLoadFacts& f) { f.restoring_to_moment = true; }));
  EXPECT_FALSE(without([](DirectLoadFacts& f) { f.migrates = true; }));
  EXPECT_FALSE(without([](DirectLoadFacts& f) { f.brings_back_tenant = true; }));
  EXPECT_FALSE(without([](DirectLoadFacts& f) { f.may_insert = false; }));  // privileges, row security
}

TEST(DirectLoad, CountsOnlyTheLoadedRowsThatAreTheTenants) {
  const StagedTable t = orders();
  const std::string sql = count_loaded_rows_sql(t, "ptb_l.\"tenant_id\" = CAST($1 AS integer)", 2);
  EXPECT_EQ(sql,
            "SELECT pg_catalog.count(*) FROM (SELECT * FROM ONLY \"public\".\"orders\" ptb_l WHERE ptb_l.xmin "
            "OPERATOR(pg_catalog.=) $2::pg_catalog.xid AND (ptb_l.\"tenant_id\" = CAST($1 AS integer))) ptb_loaded");
  EXPECT_FALSE(contains(sql, t.stage));  // the table's rows, not a stage
}

TEST(DirectLoad, TheLoadedRowsStandForTheStageInTheForeignKeyCheck) {
  const StagedTable t = orders();
  const std::string loaded = loaded_rows_sql(t, "ptb_l.\"tenant_id\" = CAST($1 AS integer)", 3);
  EXPECT_EQ(loaded,
            "(SELECT * FROM ONLY \"public\".\"orders\" ptb_l WHERE ptb_l.xmin OPERATOR(pg_catalog.=) "
            "$3::pg_catalog.xid AND (ptb_l.\"tenant_id\" = CAST($1 AS integer)))");
  EXPECT_EQ(loaded_rows_sql(t, "", 1),
            "(SELECT * FROM ONLY \"public\".\"orders\" ptb_l WHERE ptb_l.xmin OPERATOR(pg_catalog.=) "
            "$1::pg_catalog.xid)");
  ForeignKeyCheck fk;
  fk.name = "orders_customer_id_fkey";
  fk.from_table = t.target;
  fk.from_columns = {"customer_id"};
  fk.to_table = "\"public\".\"customers\"";
  fk.to_columns = {"id"};
  fk.operators = {"OPERATOR(pg_catalog.=)"};
  const std::string check = dangling_reference_sql(fk, loaded, t.columns, t.key);
  EXPECT_TRUE(contains(check, "FROM " + loaded + " ptb_s WHERE"));
  EXPECT_TRUE(contains(check, "NOT EXISTS (SELECT 1 FROM ONLY \"public\".\"customers\" ptb_r"));
}

TEST(ImportCallOptions, OneParseTypesTheImportKeysAndKeepsTheCallersTableLists) {
  const ImportCallOptions call = read_import_call_options(
      R"({"dry_run": true, "tenant": 7, "exclude_tables": ["audit.events"], "include_deleted": true})",
      SnapshotOptions{});
  EXPECT_TRUE(call.import.dry_run);
  ASSERT_TRUE(call.import.expected_tenant.has_value());
  EXPECT_EQ(*call.import.expected_tenant, std::optional<std::string>("7"));
  EXPECT_TRUE(call.selects_tables);
  ASSERT_EQ(call.caller_tables.exclude_tables.size(), 1u) << "the caller's list alone, without the defaults";
  EXPECT_EQ(call.caller_tables.exclude_tables[0].schema, "audit");
  EXPECT_EQ(call.opts["include_deleted"], true) << "snapshot keys travel in the document";

  const ImportCallOptions plain = read_import_call_options(R"({"fire_triggers": true})", SnapshotOptions{});
  EXPECT_TRUE(plain.import.fire_triggers);
  EXPECT_FALSE(plain.selects_tables);
}

TEST(ImportCallOptions, EveryKeyIsCheckedAtTheCallBeforeAnythingRuns) {
  auto sqlstate_of = [](const char* text) {
    try {
      (void)read_import_call_options(text, SnapshotOptions{});
    } catch (const Error& e) {
      return e.sqlstate();
    }
    return std::string("none");
  };
  EXPECT_EQ(sqlstate_of("not json"), "22023");
  EXPECT_EQ(sqlstate_of("[1]"), "22023") << "not an object";
  EXPECT_EQ(sqlstate_of(R"({"dry_run": "yes"})"), "22023") << "an import key of the wrong type";
  EXPECT_EQ(sqlstate_of(R"({"include_deleted": 3})"), "22023") << "a snapshot key of the wrong type";
  EXPECT_EQ(sqlstate_of(R"({"no_such_option": 1})"), "22023");
  EXPECT_EQ(sqlstate_of(R"({"target_tenant": "2"})"), "0A000");
}


TEST(ImportSql, AMergeChecksTheRowsItWroteByTheirTransaction) {
  const StagedTable t = orders();
  EXPECT_EQ(written_rows_sql(t, 4),
            "(SELECT * FROM ONLY \"public\".\"orders\" ptb_w WHERE ptb_w.xmin OPERATOR(pg_catalog.=) "
            "ANY ($4::pg_catalog.xid[]))");
  const std::string chain = "EXISTS (SELECT 1 FROM ONLY \"public\".\"customers\" a1 WHERE a1.\"id\" = t0.\"customer_id\")";
  const std::string sql = written_not_owned_sql(t, chain, 4);
  EXPECT_TRUE(contains(sql, "FROM (SELECT * FROM ONLY \"public\".\"orders\" ptb_w WHERE ptb_w.xmin")) << sql;
  EXPECT_TRUE(contains(sql, " t0 WHERE NOT " + chain)) << sql;
  EXPECT_FALSE(contains(sql, t.stage)) << "the table's written rows, not the stage";
}

TEST(ImportSnapshotOptions, RecordedTableNamesThatNeedQuotingReadBackAsTheSameTables) {
  const auto taken = apply_options(
      nlohmann::json::parse(R"({"exclude_tables": ["\"Order \"\"Notes\"\"; --\"", "Sales.\"Line Items\""],
                                 "owning_fks": {"\"Sales\".\"Orders\"": "Orders_fk"}})"),
      SnapshotOptions{});
  const auto recorded = nlohmann::json::parse(options_to_json(taken));
  EXPECT_EQ(recorded["exclude_tables"][0], "\"Order \"\"Notes\"\"; --\"");
  EXPECT_EQ(recorded["exclude_tables"][1], "sales.\"Line Items\"");
  // owning_fks decides whose rows are whose: the recorded one must read
  // back as this database's (the settings here) or the import is refused.
  SnapshotOptions settings;
  settings.owning_fks = taken.owning_fks;
  SnapshotOptions o = import_snapshot_options(settings, recorded, nlohmann::json::object());
  EXPECT_EQ(o.exclude_tables[0], (QualifiedName{"", "Order \"Notes\"; --"}));
  EXPECT_EQ(o.exclude_tables[1], (QualifiedName{"sales", "Line Items"}));
  EXPECT_EQ(o.owning_fks.at(QualifiedName{"Sales", "Orders"}), "Orders_fk");
  // What earlier snapshots wrote: schema.name unquoted, as the catalog spells them.
  auto earlier = recorded_defaults();
  earlier["exclude_tables"] = {"Order \"Notes\"; --", "Sales.Line Items", "Sales.Orders", "public.members"};
  earlier["owning_fks"] = {{"Sales.Orders", "Orders_fk"}};
  o = import_snapshot_options(settings, earlier, nlohmann::json::object());
  EXPECT_EQ(std::vector<QualifiedName>(o.exclude_tables.begin(), o.exclude_tables.begin() + 4),
            (std::vector<QualifiedName>{{"", "Order \"Notes\"; --"}, {"Sales", "Line Items"}, {"Sales", "Orders"},
                                        {"public", "members"}}));
  EXPECT_EQ(o.owning_fks.at(QualifiedName{"Sales", "Orders"}), "Orders_fk");
}
