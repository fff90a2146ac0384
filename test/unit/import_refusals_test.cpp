// The errors an import's checks raise: the SQLSTATE a caller's handler
// matches on, the rows the message names, and the promise that nothing
// changed.
#include <gtest/gtest.h>

#include "core/import_plan.hpp"
#include "core/import_refusals.hpp"

using namespace ptb::core;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

StagedTable accounts() {
  StagedTable t;
  t.display = "public.accounts";
  t.target = "\"public\".\"accounts\"";
  t.stage = "pg_temp.\"ptb_stage_1\"";
  t.columns = {"id", "name"};
  t.key = {"id"};
  t.key_operators = {"OPERATOR(public.=)"};
  return t;
}

}  // namespace

TEST(ImportRefusals, NameTheTenantOrTheWholeDatabase) {
  EXPECT_EQ(quoted_tenant(std::string("acme")), "tenant \"acme\"");
  EXPECT_EQ(quoted_tenant(std::nullopt), "the whole database");
}

TEST(ImportRefusals, ARowOfAnotherTenantIsBadInputNamingTheRow) {
  const Error e = row_not_the_tenants("public.orders", "(id)=(7)", std::string("acme"));
  EXPECT_EQ(e.sqlstate(), sqlstate::kInvalidParameterValue);
  EXPECT_EQ(std::string(e.what()), "row public.orders (id)=(7) of the snapshot would not belong to tenant \"acme\"");
  EXPECT_TRUE(contains(e.detail(), "Nothing was changed."));
  EXPECT_FALSE(e.hint().empty());
}

TEST(ImportRefusals, KeysRepeatedOrTakenAreUniqueViolations) {
  const Error repeated = key_repeated_in_snapshot("public.orders", "(id)=(7)", "data.public.orders");
  EXPECT_EQ(repeated.sqlstate(), sqlstate::kUniqueViolation);
  EXPECT_EQ(std::string(repeated.what()), "the snapshot has more than one row of public.orders with (id)=(7)");
  EXPECT_TRUE(contains(repeated.detail(), "data.public.orders"));

  const Error taken = key_of_another_tenant("public.orders", "(id)=(7)", std::string("acme"));
  EXPECT_EQ(taken.sqlstate(), sqlstate::kUniqueViolation);
  EXPECT_TRUE(contains(taken.what(), "belongs to another tenant"));
  EXPECT_TRUE(contains(taken.detail(), "not tenant \"acme\"'s"));
}

TEST(ImportRefusals, AMissingTenantSaysWhereItWasLookedFor) {
  const Error table = tenant_missing_in_tenant_table("42", "public.accounts", "id");
  EXPECT_EQ(table.sqlstate(), sqlstate::kUndefinedObject);
  EXPECT_EQ(std::string(table.what()), "tenant \"42\" does not exist");
  EXPECT_EQ(table.detail(), "No row of public.accounts has id = 42, and the snapshot does not have that row.");

  const Error none = tenant_missing_without_rows("42", "account_id");
  EXPECT_EQ(none.sqlstate(), sqlstate::kUndefinedObject);
  EXPECT_EQ(none.detail(), "No tenant table has a row with account_id = 42, and the snapshot has no rows.");
  EXPECT_TRUE(contains(none.hint(), "create the tenant first"));
}

TEST(ImportRefusals, MissingReferencedRowsCountAndTellMasterFromReference) {
  const Error master = referenced_rows_missing("public.countries", "(code)=(XX)", 1, false);
  EXPECT_EQ(master.sqlstate(), sqlstate::kForeignKeyViolation);
  EXPECT_EQ(std::string(master.what()), "master row public.countries (code)=(XX) of the snapshot does not exist in this database");
  EXPECT_EQ(master.detail(), "1 row of public.countries that the tenant's rows reference is missing; the first is shown. "
                             "Nothing was changed.");
  EXPECT_TRUE(contains(master.hint(), "master rows"));

  const Error reference = referenced_rows_missing("public.users", "(id)=(3)", 2, true);
  EXPECT_TRUE(contains(reference.what(), "which the snapshot's rows reference"));
  EXPECT_TRUE(contains(reference.detail(), "2 rows of public.users (another tenant's, or outside the snapshot)"));
  EXPECT_TRUE(contains(reference.detail(), " are missing"));
}

TEST(ImportRefusals, ForeignKeyRefusalsNameBothRowsAndTheKey) {
  const Error blocked = delete_blocked("public.orders", "(id)=(1)", std::string("acme"), "public.invoices", "(id)=(9)",
                                       "invoices_order_fk");
  EXPECT_EQ(blocked.sqlstate(), sqlstate::kForeignKeyViolation);
  EXPECT_EQ(std::string(blocked.what()),
            "cannot remove row public.orders (id)=(1) of tenant \"acme\": row public.invoices (id)=(9) still references it");
  EXPECT_TRUE(contains(blocked.detail(), "foreign key invoices_order_fk. Nothing was changed."));

  const Error dangling = dangling_reference("public.items", "(id)=(4)", "public.orders", "(id)=(8)", "items_order_fk");
  EXPECT_EQ(dangling.sqlstate(), sqlstate::kForeignKeyViolation);
  EXPECT_EQ(std::string(dangling.what()),
            "row public.items (id)=(4) of the snapshot references public.orders (id)=(8), which does not exist");
  EXPECT_EQ(dangling.detail(), "Foreign key items_order_fk. Nothing was changed.");
}

TEST(ImportRefusals, ACitusReferenceTableIsNotSupported) {
  const Error e = citus_reference_would_change("public.plans", 3, 1);
  EXPECT_EQ(e.sqlstate(), sqlstate::kFeatureNotSupported);
  EXPECT_EQ(e.detail(), "3 of its rows differ from the snapshot's and 1 would be removed. Nothing was changed.");
  EXPECT_TRUE(contains(e.hint(), "insert_only"));
}

TEST(ImportRefusals, AColumnAddedNotNullRefusesOnlyWhenRowsAreInserted) {
  const SchemaDifference none = column_added_for_inserts("public.orders", "region", 0);
  EXPECT_FALSE(none.refused());
  EXPECT_EQ(none.change, "column_added");

  const SchemaDifference one = column_added_for_inserts("public.orders", "region", 1);
  EXPECT_EQ(one.sqlstate, sqlstate::kNotNullViolation);
  EXPECT_TRUE(contains(one.detail, "1 row the import inserts needs a value"));
  EXPECT_TRUE(contains(column_added_for_inserts("public.orders", "region", 5).detail, "5 rows the import inserts need a value"));

  const SchemaDifference nulls = now_not_null_with_nulls("public.orders", "note", 2);
  EXPECT_EQ(nulls.sqlstate, sqlstate::kNotNullViolation);
  EXPECT_EQ(nulls.detail, "NOT NULL now, and 2 rows of the snapshot have NULL there");
  EXPECT_EQ(now_not_null_with_nulls("public.orders", "note", 1).detail, "NOT NULL now, and 1 row of the snapshot has NULL there");
}

TEST(ImportRefusals, TheTenantsRowIsLookedUpInTheStageByItsKeysOperator) {
  const StagedTable t = accounts();
  EXPECT_EQ(staged_tenant_row_sql(t, "id", "bigint"),
            "SELECT 1 FROM pg_temp.\"ptb_stage_1\" ptb_s WHERE ptb_s.\"id\" OPERATOR(public.=) CAST($1 AS bigint) LIMIT 1");
  // Not the key rows are matched on: the plain equality of pg_catalog.
  EXPECT_TRUE(contains(staged_tenant_row_sql(t, "name", "text"), "ptb_s.\"name\" OPERATOR(pg_catalog.=) CAST($1 AS text)"));
  // A column the snapshot did not load cannot bring the tenant back.
  EXPECT_EQ(staged_tenant_row_sql(t, "slug", "text"), "");
}

TEST(ImportRefusals, CountsOverTheStageAndTheRowsAReplaceRemoves) {
  const StagedTable t = accounts();
  EXPECT_EQ(count_staged_nulls_sql(t, "Name"), "SELECT pg_catalog.count(*) FROM pg_temp.\"ptb_stage_1\" WHERE \"Name\" IS NULL");
  const std::string doomed = count_doomed_sql(t, "ptb_t.account_id = $1");
  EXPECT_EQ(doomed.rfind("SELECT pg_catalog.count(*) FROM ONLY \"public\".\"accounts\" ptb_t WHERE ", 0), 0u) << doomed;
  EXPECT_TRUE(contains(doomed, doomed_sql(t, "ptb_t", "ptb_t.account_id = $1"))) << doomed;
}
