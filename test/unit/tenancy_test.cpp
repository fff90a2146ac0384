#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "core/error.hpp"
#include "core/tenancy.hpp"

using namespace ptb::core;

namespace {

// Builds catalogs in a few lines: table("orders", {"id", "customer_id"}).
class CatalogBuilder {
 public:
  CatalogBuilder& table(const std::string& name, std::vector<std::string> columns,
                        const std::string& schema = "public") {
    Table t;
    t.schema = schema;
    t.name = name;
    t.in_scanned_schema = schema == "public";
    for (auto& c : columns) {
      Column col;
      col.name = c;
      col.type = c == "name" || c == "title" ? "text" : "integer";
      col.is_text = col.type == "text";
      col.not_null = c == "id" || c == "tenant_id";
      t.columns.push_back(col);
    }
    t.primary_key = {"id"};
    index_[name] = cat_.tables.size();
    cat_.tables.push_back(std::move(t));
    return *this;
  }
  CatalogBuilder& not_null(const std::string& table, const std::string& column) {
    for (auto& c : cat_.tables[index_.at(table)].columns)
      if (c.name == column) c.not_null = true;
    return *this;
  }
  CatalogBuilder& fk(const std::string& name, const std::string& from,
                     std::vector<std::string> from_cols, const std::string& to,
                     std::vector<std::string> to_cols = {"id"}) {
    cat_.foreign_keys.push_back({name, index_.at(from), index_.at(to), from_cols, to_cols});
    return *this;
  }
  Catalog build() const { return cat_; }

 private:
  Catalog cat_;
  std::map<std::string, size_t> index_;
};

std::map<std::string, std::string> roles(const TenancyPlan& plan) {
  std::map<std::string, std::string> out;
  for (const auto& p : plan.tables())
    out[plan.catalog().tables[p.table].name] = std::string(to_string(p.role));
  return out;
}

std::vector<std::string> order(const TenancyPlan& plan) {
  std::vector<std::string> out;
  for (const auto& p : plan.tables()) out.push_back(plan.catalog().tables[p.table].name);
  return out;
}

const PlannedTable& planned(const TenancyPlan& plan, const std::string& name) {
  for (const auto& p : plan.tables())
    if (plan.catalog().tables[p.table].name == name) return p;
  throw std::runtime_error("not planned: " + name);
}

// A shop: tenants own customers and products; orders hang off customers,
// order_lines off orders; products reference a shared category list which
// references countries; an unrelated table stays out.
Catalog shop() {
  return CatalogBuilder()
      .table("tenants", {"id", "name"})
      .table("customers", {"id", "tenant_id", "name", "referred_by", "deleted_at"})
      .table("products", {"id", "tenant_id", "category_id"})
      .table("orders", {"id", "customer_id", "deleted_at"})
      .table("order_lines", {"id", "order_id", "product_id"})
      .table("categories", {"id", "title", "country_id"})
      .table("countries", {"id", "name"}, "ref")
      .table("unrelated", {"id"})
      .table("audit_logs", {"id", "tenant_id"})
      .not_null("orders", "customer_id")
      .not_null("order_lines", "order_id")
      .fk("customers_tenant_fk", "customers", {"tenant_id"}, "tenants")
      .fk("customers_referred_fk", "customers", {"referred_by"}, "customers")
      .fk("products_tenant_fk", "products", {"tenant_id"}, "tenants")
      .fk("products_category_fk", "products", {"category_id"}, "categories")
      .fk("orders_customer_fk", "orders", {"customer_id"}, "customers")
      .fk("lines_order_fk", "order_lines", {"order_id"}, "orders")
      .fk("lines_product_fk", "order_lines", {"product_id"}, "products")
      .fk("categories_country_fk", "categories", {"country_id"}, "countries")
      .build();
}

SnapshotOptions defaults() { return SnapshotOptions{}; }

}  // namespace

TEST(Tenancy, ClassifiesTenantChildAndMasterTables) {
  auto plan = TenancyPlan::build(shop(), defaults(), true);
  auto r = roles(plan);
  EXPECT_EQ(r["tenants"], "tenant");
  EXPECT_EQ(r["customers"], "tenant");
  EXPECT_EQ(r["products"], "tenant");
  EXPECT_EQ(r["orders"], "child");
  EXPECT_EQ(r["order_lines"], "child");
  EXPECT_EQ(r["categories"], "master");
  EXPECT_EQ(r["countries"], "master");  // transitively, outside the scanned schema
  EXPECT_EQ(r.count("unrelated"), 0u);
  EXPECT_EQ(r.count("audit_logs"), 0u);  // audit table excluded by default
}

TEST(Tenancy, FindsTheTenantTableAndItsNameColumn) {
  auto plan = TenancyPlan::build(shop(), defaults(), true);
  ASSERT_TRUE(plan.tenant_table().has_value());
  EXPECT_EQ(plan.catalog().tables[plan.tenant_table()->table].name, "tenants");
  EXPECT_EQ(plan.tenant_table()->key_column, "id");
  EXPECT_EQ(plan.tenant_table()->name_column, "name");
  EXPECT_EQ(plan.tenant_lookup_sql(),
            "SELECT CAST(t0.\"name\" AS text) FROM ONLY \"public\".\"tenants\" t0 "
            "WHERE t0.\"id\" = CAST($1 AS integer) LIMIT 1");
}

TEST(Tenancy, ListsTheTenantKeyColumnsOncePerType) {
  auto plan = TenancyPlan::build(shop(), defaults(), true);
  auto keys = plan.tenant_key_columns();
  ASSERT_EQ(keys.size(), 1u);  // every tenant_id of shop() is an integer, as tenants.id
  EXPECT_EQ(plan.catalog().tables[keys[0].table].name, "tenants");
  EXPECT_EQ(keys[0].column, "id");
  EXPECT_EQ(keys[0].type, "integer");
  auto whole = TenancyPlan::build(shop(), defaults(), false);
  EXPECT_TRUE(whole.tenant_key_columns().empty());
}

TEST(Tenancy, OrdersReferencedTablesFirst) {
  auto o = order(TenancyPlan::build(shop(), defaults(), true));
  auto pos = [&](const std::string& n) { return std::find(o.begin(), o.end(), n) - o.begin(); };
  EXPECT_LT(pos("countries"), pos("categories"));
  EXPECT_LT(pos("categories"), pos("products"));
  EXPECT_LT(pos("tenants"), pos("customers"));
  EXPECT_LT(pos("customers"), pos("orders"));
  EXPECT_LT(pos("orders"), pos("order_lines"));
  EXPECT_LT(pos("products"), pos("order_lines"));
}

TEST(Tenancy, ChildMembershipFollowsTheOwningChain) {
  // order_lines reaches the tenant through products (one nullable key) and
  // through orders -> customers (two NOT NULL keys): the NOT NULL chain owns.
  auto plan = TenancyPlan::build(shop(), defaults(), true);
  const auto& lines = planned(plan, "order_lines");
  ASSERT_EQ(lines.owning_chain.size(), 2u);
  EXPECT_EQ(plan.catalog().foreign_keys[lines.owning_chain[0]].name, "lines_order_fk");
  EXPECT_EQ(plan.catalog().foreign_keys[lines.owning_chain[1]].name, "orders_customer_fk");
  EXPECT_EQ(plan.membership_sql(lines.table, "t0"),
            "EXISTS (SELECT 1 FROM ONLY \"public\".\"orders\" a1 WHERE a1.\"id\" = "
            "t0.\"order_id\" AND a1.\"deleted_at\" IS NULL AND EXISTS (SELECT 1 FROM ONLY "
            "\"public\".\"customers\" a2 WHERE a2.\"id\" = a1.\"customer_id\" AND "
            "a2.\"deleted_at\" IS NULL AND a2.\"tenant_id\" = CAST($1 AS integer)))");
}

TEST(Tenancy, OnlyATenantTablesMembershipReadsTheRowAlone) {
  // An import joins the stage with such a table and tests membership per
  // joined row (core::key_owners_sql); a child's needs its owning chain.
  auto plan = TenancyPlan::build(shop(), defaults(), true);
  EXPECT_TRUE(plan.membership_reads_only_the_row(planned(plan, "customers").table));
  EXPECT_EQ(plan.membership_sql(planned(plan, "customers").table, "t0").find("SELECT"), std::string::npos);
  EXPECT_FALSE(plan.membership_reads_only_the_row(planned(plan, "order_lines").table));
  EXPECT_FALSE(plan.membership_reads_only_the_row(planned(plan, "countries").table)) << "a master table";
}

TEST(Tenancy, ReadingFromOtherRelationsSwapsOnlyThoseTables) {
  // A restore to a moment asks which staged rows are the tenant's: the
  // orders stage stands for orders, customers is read where it is.
  auto plan = TenancyPlan::build(shop(), defaults(), true);
  const auto& lines = planned(plan, "order_lines");
  const auto over = plan.reading_from({{planned(plan, "orders").table, "pg_temp.\"ptb_stage_2\""}});
  EXPECT_EQ(over.membership_sql(lines.table, "t0"),
            "EXISTS (SELECT 1 FROM pg_temp.\"ptb_stage_2\" a1 WHERE a1.\"id\" = "
            "t0.\"order_id\" AND a1.\"deleted_at\" IS NULL AND EXISTS (SELECT 1 FROM ONLY "
            "\"public\".\"customers\" a2 WHERE a2.\"id\" = a1.\"customer_id\" AND "
            "a2.\"deleted_at\" IS NULL AND a2.\"tenant_id\" = CAST($1 AS integer)))");
  // The plan it came from is unchanged.
  EXPECT_NE(plan.membership_sql(lines.table, "t0").find("ONLY \"public\".\"orders\""), std::string::npos);
}

TEST(Tenancy, OwningChainOverrideTakesTheOtherKey) {
  auto opts = defaults();
  opts.owning_fks[{"", "order_lines"}] = "lines_product_fk";
  auto plan = TenancyPlan::build(shop(), opts, true);
  const auto& lines = planned(plan, "order_lines");
  ASSERT_EQ(lines.owning_chain.size(), 1u);
  EXPECT_EQ(plan.catalog().foreign_keys[lines.owning_chain[0]].name, "lines_product_fk");
}

TEST(Tenancy, OwningChainPrefersNotNullThenShortThenName) {
  // rentals reach the tenant through customers and inventory, one hop
  // each; only the customer key is NOT NULL, so it owns.
  auto cat = CatalogBuilder()
                 .table("stores", {"id", "name"})
                 .table("customers", {"id", "tenant_id"})
                 .table("inventory", {"id", "tenant_id"})
                 .table("rentals", {"id", "inventory_id", "customer_id"})
                 .not_null("rentals", "customer_id")
                 .fk("a_inventory_fk", "rentals", {"inventory_id"}, "inventory")
                 .fk("b_customer_fk", "rentals", {"customer_id"}, "customers")
                 .fk("c_fk", "customers", {"tenant_id"}, "stores")
                 .fk("d_fk", "inventory", {"tenant_id"}, "stores")
                 .build();
  auto plan = TenancyPlan::build(cat, defaults(), true);
  const auto& rentals = planned(plan, "rentals");
  EXPECT_EQ(plan.catalog().foreign_keys[rentals.owning_chain.at(0)].name, "b_customer_fk");

  // Both nullable: the smaller constraint name wins.
  auto cat2 = cat;
  for (auto& c : cat2.tables[3].columns) c.not_null = false;
  auto plan2 = TenancyPlan::build(cat2, defaults(), true);
  EXPECT_EQ(plan2.catalog().foreign_keys[planned(plan2, "rentals").owning_chain.at(0)].name,
            "a_inventory_fk");

  // Equally nullable: the shorter chain wins over a smaller name.
  auto cat3 = CatalogBuilder()
                  .table("stores", {"id"})
                  .table("staff", {"id", "tenant_id"})
                  .table("shifts", {"id", "staff_id"})
                  .table("swaps", {"id", "a_shift_id", "staff_id"})
                  .not_null("shifts", "staff_id")
                  .fk("a_fk", "swaps", {"a_shift_id"}, "shifts")
                  .fk("z_fk", "swaps", {"staff_id"}, "staff")
                  .fk("shifts_staff", "shifts", {"staff_id"}, "staff")
                  .fk("staff_store", "staff", {"tenant_id"}, "stores")
                  .build();
  auto plan3 = TenancyPlan::build(cat3, defaults(), true);
  EXPECT_EQ(plan3.catalog().foreign_keys[planned(plan3, "swaps").owning_chain.at(0)].name, "z_fk");
}

TEST(Tenancy, OverrideErrors) {
  auto opts = defaults();
  opts.owning_fks[{"", "orders"}] = "no_such_fk";
  try {
    TenancyPlan::build(shop(), opts, true);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "42704");
  }
  opts.owning_fks.clear();
  opts.owning_fks[{"", "categories"}] = "categories_country_fk";
  EXPECT_THROW(TenancyPlan::build(shop(), opts, true), Error);
}

TEST(Tenancy, OverrideMakingALoopIsRefused) {
  auto cat = CatalogBuilder()
                 .table("tenants", {"id"})
                 .table("a", {"id", "tenant_id"})
                 .table("b", {"id", "a_id", "c_id"})
                 .table("c", {"id", "b_id"})
                 .fk("b_a", "b", {"a_id"}, "a")
                 .fk("b_c", "b", {"c_id"}, "c")
                 .fk("c_b", "c", {"b_id"}, "b")
                 .fk("a_t", "a", {"tenant_id"}, "tenants")
                 .build();
  auto opts = defaults();
  opts.owning_fks[{"", "b"}] = "b_c";
  try {
    TenancyPlan::build(cat, opts, true);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "22023");
    EXPECT_NE(std::string(e.what()).find("loop"), std::string::npos);
  }
}

TEST(Tenancy, CompositeKeysJoinOnEveryColumn) {
  auto cat = CatalogBuilder()
                 .table("accounts", {"id", "tenant_id", "region"})
                 .table("entries", {"id", "account_id", "account_region"})
                 .fk("entries_account_fk", "entries", {"account_id", "account_region"}, "accounts",
                     {"id", "region"})
                 .build();
  auto plan = TenancyPlan::build(cat, defaults(), true);
  EXPECT_FALSE(plan.tenant_table().has_value());
  const auto& e = planned(plan, "entries");
  EXPECT_EQ(plan.membership_sql(e.table, "t0"),
            "EXISTS (SELECT 1 FROM ONLY \"public\".\"accounts\" a1 WHERE a1.\"id\" = "
            "t0.\"account_id\" AND a1.\"region\" = t0.\"account_region\" AND "
            "a1.\"tenant_id\" = CAST($1 AS integer))");
  // Without a tenant table, the tenant exists when some tenant table has it.
  EXPECT_EQ(plan.tenant_lookup_sql(),
            "SELECT * FROM (SELECT NULL::text FROM ONLY \"public\".\"accounts\" t0 WHERE "
            "t0.\"tenant_id\" = CAST($1 AS integer)) AS probe LIMIT 1");
}

TEST(Tenancy, SelfReferencesAndCyclesTerminate) {
  auto cat = CatalogBuilder()
                 .table("tenants", {"id"})
                 .table("folders", {"id", "tenant_id", "parent_id"})
                 .table("docs", {"id", "folder_id", "latest_version_id"})
                 .table("versions", {"id", "doc_id"})
                 .table("employees", {"id", "manager_id", "dept_id"}, "ref")
                 .table("depts", {"id", "head_id"}, "ref")
                 .table("tasks", {"id", "tenant_id", "assignee_id"})
                 .fk("folders_t", "folders", {"tenant_id"}, "tenants")
                 .fk("folders_parent", "folders", {"parent_id"}, "folders")
                 .fk("docs_folder", "docs", {"folder_id"}, "folders")
                 .fk("docs_latest", "docs", {"latest_version_id"}, "versions")
                 .fk("versions_doc", "versions", {"doc_id"}, "docs")
                 .fk("tasks_t", "tasks", {"tenant_id"}, "tenants")
                 .fk("tasks_assignee", "tasks", {"assignee_id"}, "employees")
                 .fk("employees_manager", "employees", {"manager_id"}, "employees")
                 .fk("employees_dept", "employees", {"dept_id"}, "depts")
                 .fk("depts_head", "depts", {"head_id"}, "employees")
                 .build();
  auto plan = TenancyPlan::build(cat, defaults(), true);
  auto r = roles(plan);
  EXPECT_EQ(r["docs"], "child");
  EXPECT_EQ(r["versions"], "child");
  EXPECT_EQ(r["employees"], "master");
  EXPECT_EQ(r["depts"], "master");
  // depts rows come from employees; the head key back to employees would
  // make the selection circular and is cut.
  std::string depts_sql = plan.membership_sql(planned(plan, "depts").table, "t0");
  EXPECT_NE(depts_sql.find("\"ref\".\"employees\""), std::string::npos);
  std::string employees_sql = plan.membership_sql(planned(plan, "employees").table, "t0");
  EXPECT_EQ(employees_sql.find("\"depts\""), std::string::npos);
  // docs and versions reference each other: kept together, after folders.
  auto o = order(plan);
  auto pos = [&](const std::string& n) { return std::find(o.begin(), o.end(), n) - o.begin(); };
  EXPECT_LT(pos("folders"), pos("docs"));
  EXPECT_LT(pos("folders"), pos("versions"));
}

TEST(Tenancy, TablesExcludeAndAuditOptions) {
  auto opts = defaults();
  opts.exclude_tables = {{"", "orders"}};
  auto r = roles(TenancyPlan::build(shop(), opts, true));
  EXPECT_EQ(r.count("orders"), 0u);
  EXPECT_EQ(r["order_lines"], "child");  // still selected through orders
  EXPECT_EQ(r.count("audit_logs"), 0u);

  opts = defaults();
  opts.include_audit_logs = true;  // wins over exclude_tables' default
  opts.exclude_tables = {{"", "audit_logs"}, {"", "backup_logs"}};
  EXPECT_EQ(roles(TenancyPlan::build(shop(), opts, true))["audit_logs"], "tenant");

  opts = defaults();
  opts.tables = std::vector<QualifiedName>{{"public", "orders"}, {"", "countries"}};
  EXPECT_EQ(order(TenancyPlan::build(shop(), opts, true)),
            (std::vector<std::string>{"orders", "countries"}));  // no key between them: by schema, name

  opts.tables = std::vector<QualifiedName>{{"", "unrelated"}};
  try {
    TenancyPlan::build(shop(), opts, true);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "42P01");
  }
}

TEST(Tenancy, IncludeDeletedDropsTheSoftDeleteFilter) {
  auto opts = defaults();
  opts.include_deleted = true;
  auto plan = TenancyPlan::build(shop(), opts, true);
  EXPECT_EQ(plan.membership_sql(planned(plan, "customers").table, "t0"),
            "t0.\"tenant_id\" = CAST($1 AS integer)");
  opts.include_deleted = false;
  opts.soft_delete_column = "";
  auto plan2 = TenancyPlan::build(shop(), opts, true);
  EXPECT_EQ(plan2.membership_sql(planned(plan2, "customers").table, "t0"),
            "t0.\"tenant_id\" = CAST($1 AS integer)");
}

TEST(Tenancy, WholeSetTakesEveryScannedTable) {
  auto plan = TenancyPlan::build(shop(), defaults(), false);
  auto r = roles(plan);
  EXPECT_EQ(r["unrelated"], "tenant");
  EXPECT_EQ(r["orders"], "tenant");
  EXPECT_EQ(r["countries"], "master");  // outside the scanned schemas
  EXPECT_FALSE(plan.uses_tenant_parameter());
  EXPECT_EQ(plan.membership_sql(planned(plan, "unrelated").table, "t0"), "true");
  EXPECT_EQ(plan.membership_sql(planned(plan, "orders").table, "t0"),
            "t0.\"deleted_at\" IS NULL");
}

TEST(Tenancy, NoTenantColumnIsAClearError) {
  auto opts = defaults();
  opts.tenant_column = "org_id";
  try {
    TenancyPlan::build(shop(), opts, true);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "42P01");
    EXPECT_NE(std::string(e.what()).find("org_id"), std::string::npos);
    EXPECT_FALSE(e.hint().empty());
  }
}

TEST(Tenancy, HostileNamesAreQuoted) {
  auto cat = CatalogBuilder()
                 .table("t\"; DROP TABLE x; --", {"id", "tenant_id"})
                 .build();
  auto plan = TenancyPlan::build(cat, defaults(), true);
  EXPECT_EQ(plan.count_sql(plan.tables().at(0)),
            "SELECT count(*) FROM ONLY \"public\".\"t\"\"; DROP TABLE x; --\" t0 WHERE "
            "t0.\"tenant_id\" = CAST($1 AS integer)");
}

TEST(Tenancy, PartitionedParentIsReadWithoutOnly) {
  auto cat = CatalogBuilder().table("events", {"id", "tenant_id"}).build();
  cat.tables[0].partitioned = true;
  auto plan = TenancyPlan::build(cat, defaults(), true);
  EXPECT_EQ(plan.from_clause(0, "t0"), "\"public\".\"events\" t0");
}

// --- Coverage: every table placed, left out with a reason, or refused.

namespace {

const TableCoverage& covered(const TenancyPlan& plan, const std::string& name) {
  for (const auto& c : plan.coverage())
    if (c.name == name) return c;
  throw std::runtime_error("not in the coverage: " + name);
}

// tenants <- customers(tenant_id) <- visits, partitioned, whose key to
// customers sits on each partition (names differ by partition).
Catalog partitioned_visits(bool every_partition) {
  auto cat = CatalogBuilder()
                 .table("tenants", {"id", "name"})
                 .table("customers", {"id", "tenant_id"})
                 .table("visits", {"id", "customer_id"})
                 .not_null("visits", "customer_id")
                 .fk("customers_tenant_fk", "customers", {"tenant_id"}, "tenants")
                 .build();
  cat.tables[2].partitioned = true;
  for (const std::string part : {"visits_2025", "visits_2026", "visits_2027"}) {
    Partition p;
    p.schema = "public";
    p.name = part;
    p.root = 2;
    if (every_partition || part != "visits_2027")
      p.foreign_keys.push_back({part + "_customer_fk", 2, 1, {"customer_id"}, {"id"}});
    cat.partitions.push_back(p);
  }
  return cat;
}

void expect_refused(const TenancyPlan& plan, const std::string& message_part,
                    const std::string& hint_part) {
  try {
    plan.require_complete();
    ADD_FAILURE() << "require_complete did not refuse";
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "55000");
    EXPECT_NE(std::string(e.what()).find(message_part), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find(hint_part), std::string::npos) << e.hint();
  }
}

}  // namespace

TEST(Coverage, KeysEveryPartitionDeclaresAreTheParents) {
  auto plan = TenancyPlan::build(partitioned_visits(true), defaults(), true);
  EXPECT_NO_THROW(plan.require_complete());
  const auto& visits = planned(plan, "visits");
  EXPECT_EQ(visits.role, TableRole::Child);
  ASSERT_EQ(visits.owning_chain.size(), 1u);
  const ForeignKey& key = plan.catalog().foreign_keys[visits.owning_chain[0]];
  EXPECT_EQ(key.name, "visits_2025_customer_fk");  // the first name of the partitions'
  EXPECT_EQ(key.partition_constraints,
            (std::vector<std::string>{"visits_2025_customer_fk", "visits_2026_customer_fk",
                                      "visits_2027_customer_fk"}));
  // Read through the parent, so every partition's rows are selected.
  EXPECT_EQ(plan.count_sql(visits),
            "SELECT count(*) FROM \"public\".\"visits\" t0 WHERE EXISTS (SELECT 1 FROM ONLY "
            "\"public\".\"customers\" a1 WHERE a1.\"id\" = t0.\"customer_id\" AND "
            "a1.\"tenant_id\" = CAST($1 AS integer))");
  auto o = order(plan);
  EXPECT_LT(std::find(o.begin(), o.end(), "customers"), std::find(o.begin(), o.end(), "visits"));
  EXPECT_EQ(covered(plan, "visits").coverage, Coverage::Child);
  EXPECT_EQ(covered(plan, "visits").reason,
            "owned through visits_2025_customer_fk -> public.customers (a key declared on each "
            "partition)");
  EXPECT_EQ(covered(plan, "visits_2026").coverage, Coverage::Child);
  EXPECT_FALSE(covered(plan, "visits_2026").table.has_value());
  // owning_fks may name the key by any partition's constraint name.
  auto opts = defaults();
  opts.owning_fks = {{{"", "visits"}, "visits_2026_customer_fk"}};
  EXPECT_EQ(planned(TenancyPlan::build(partitioned_visits(true), opts, true), "visits").role,
            TableRole::Child);
}

TEST(Coverage, PartitionKeysLikeTheParentsAreNotDoubled) {
  auto cat = partitioned_visits(true);
  cat.foreign_keys.push_back({"visits_customer_fk", 2, 1, {"customer_id"}, {"id"}});
  auto plan = TenancyPlan::build(cat, defaults(), true);
  EXPECT_EQ(plan.catalog().foreign_keys.size(), 2u);
  const auto& visits = planned(plan, "visits");
  EXPECT_EQ(plan.catalog().foreign_keys[visits.owning_chain[0]].name, "visits_customer_fk");
}

TEST(Coverage, PartitionsThatDisagreeAreRefusedUntilAnOptionSettlesIt) {
  auto plan = TenancyPlan::build(partitioned_visits(false), defaults(), true);
  EXPECT_EQ(roles(plan).count("visits"), 0u);
  EXPECT_EQ(covered(plan, "visits").coverage, Coverage::Unplaced);
  EXPECT_EQ(covered(plan, "visits").reason,
            "has the foreign key visits_2025_customer_fk (customer_id) -> public.customers on "
            "some of its partitions only (on public.visits_2025, public.visits_2026; not on "
            "public.visits_2027)");
  expect_refused(plan, "public.visits", R"({"owning_fks":{"public.visits":"visits_2025_customer_fk"}})");
  expect_refused(plan, "public.visits", R"({"exclude_tables":["public.visits"]})");

  // The key named in owning_fks is taken for the whole table.
  auto opts = defaults();
  opts.owning_fks = {{{"public", "visits"}, "visits_2026_customer_fk"}};
  auto chosen = TenancyPlan::build(partitioned_visits(false), opts, true);
  EXPECT_NO_THROW(chosen.require_complete());
  const auto& visits = planned(chosen, "visits");
  EXPECT_EQ(chosen.catalog().foreign_keys[visits.owning_chain[0]].name, "visits_2026_customer_fk");

  opts = defaults();
  opts.exclude_tables.push_back({"", "visits"});
  auto excluded = TenancyPlan::build(partitioned_visits(false), opts, true);
  EXPECT_NO_THROW(excluded.require_complete());
  EXPECT_EQ(covered(excluded, "visits").coverage, Coverage::Excluded);
  EXPECT_EQ(covered(excluded, "visits_2027").coverage, Coverage::Excluded);
  EXPECT_EQ(covered(excluded, "visits").reason.rfind("left out by exclude_tables (otherwise unplaced", 0), 0u);
}

TEST(Coverage, DisagreeingPartitionsOfATenantTableAreFine) {
  // With the tenant column, the column selects the rows: the partitions'
  // keys do not matter.
  auto cat = partitioned_visits(false);
  cat.tables[2].columns.push_back(cat.tables[1].columns[1]);  // tenant_id
  auto plan = TenancyPlan::build(cat, defaults(), true);
  EXPECT_NO_THROW(plan.require_complete());
  EXPECT_EQ(covered(plan, "visits").coverage, Coverage::Tenant);
}

TEST(Coverage, TablesOutsideTheSchemasThatHoldTenantRowsAreRefused) {
  auto cat = CatalogBuilder()
                 .table("tenants", {"id", "name"})
                 .table("customers", {"id", "tenant_id"})
                 .table("old_orders", {"id", "customer_id"}, "archive")
                 .table("old_logs", {"id", "tenant_id"}, "archive")
                 .table("rates", {"id"}, "archive")
                 .fk("customers_tenant_fk", "customers", {"tenant_id"}, "tenants")
                 .fk("old_orders_customer_fk", "old_orders", {"customer_id"}, "customers")
                 .build();
  auto plan = TenancyPlan::build(cat, defaults(), true);
  EXPECT_EQ(covered(plan, "old_orders").coverage, Coverage::Unplaced);
  EXPECT_EQ(covered(plan, "old_orders").reason,
            "references rows of the snapshot through its foreign key old_orders_customer_fk "
            "(customer_id) -> public.customers, but its schema archive is not in schemas");
  EXPECT_EQ(covered(plan, "old_logs").coverage, Coverage::Unplaced);
  EXPECT_EQ(covered(plan, "old_logs").reason,
            "has the tenant column tenant_id, but its schema archive is not in schemas");
  EXPECT_EQ(covered(plan, "rates").coverage, Coverage::Global);
  EXPECT_EQ(covered(plan, "rates").reason,
            "schema archive is not in schemas, and no row of the snapshot references it");
  try {
    plan.require_complete();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "55000");
    EXPECT_STREQ(e.what(),
                 "table \"archive.old_logs\" may hold rows of the snapshot but cannot be placed in it");
    EXPECT_EQ(e.detail(),
              "It has the tenant column tenant_id, but its schema archive is not in schemas. 1 "
              "other table cannot be placed either (archive.old_orders); backup_coverage lists "
              "them with their reasons.");
    EXPECT_EQ(e.hint(),
              "Add schema archive to schemas, or leave the table out with "
              "{\"exclude_tables\":[\"archive.old_logs\"]}.");
  }
  // Scanning the schema places both; so does a whole-database snapshot of it.
  auto opts = defaults();
  opts.schemas = {"public", "archive"};
  for (auto& t : cat.tables) t.in_scanned_schema = true;
  auto scanned = TenancyPlan::build(cat, opts, true);
  EXPECT_NO_THROW(scanned.require_complete());
  EXPECT_EQ(covered(scanned, "old_orders").coverage, Coverage::Child);
  EXPECT_EQ(covered(scanned, "old_logs").coverage, Coverage::Tenant);
  for (auto& t : cat.tables) t.in_scanned_schema = t.schema == "public";
  // A whole-database snapshot holds the scanned schemas whole: what is
  // outside them is global, with the reason.
  auto whole = TenancyPlan::build(cat, defaults(), false);
  EXPECT_NO_THROW(whole.require_complete());
  EXPECT_EQ(covered(whole, "old_orders").coverage, Coverage::Global);
  EXPECT_EQ(covered(whole, "old_orders").reason,
            "references rows of the snapshot through its foreign key old_orders_customer_fk "
            "(customer_id) -> public.customers, but its schema archive is not in schemas");
  EXPECT_EQ(covered(whole, "old_logs").coverage, Coverage::Global);
  // Schema tenancy refuses a key into the tenant's schema from outside.
  auto schema_opts = defaults();
  schema_opts.tenancy = TenancyMode::Schema;
  auto by_schema = TenancyPlan::build(cat, schema_opts, true);
  EXPECT_EQ(covered(by_schema, "old_orders").coverage, Coverage::Unplaced);
  EXPECT_EQ(covered(by_schema, "old_logs").coverage, Coverage::Global);
}

TEST(Coverage, ATenantColumnOfAnotherApplicationIsGlobal) {
  // Schema other: its own tenant table; its tenant_id is a key to it.
  auto cat = CatalogBuilder()
                 .table("tenants", {"id", "name"})
                 .table("customers", {"id", "tenant_id"})
                 .table("other_tenants", {"id", "name"}, "other")
                 .table("things", {"id", "tenant_id"}, "other")
                 .fk("customers_tenant_fk", "customers", {"tenant_id"}, "tenants")
                 .fk("things_tenant_fk", "things", {"tenant_id"}, "other_tenants")
                 .build();
  auto plan = TenancyPlan::build(cat, defaults(), true);
  EXPECT_NO_THROW(plan.require_complete());
  EXPECT_EQ(covered(plan, "things").coverage, Coverage::Global);
  EXPECT_EQ(covered(plan, "things").reason,
            "schema other is not in schemas, and its tenant column tenant_id references "
            "other.other_tenants, not the tenant table");
  // A key to the tenant table itself is the tenant's rows.
  cat.foreign_keys[1].to = 0;
  expect_refused(TenancyPlan::build(cat, defaults(), true), "other.things", "Add schema other");
}

TEST(Coverage, InheritanceChildrenWithoutTheKeysAreRefused) {
  auto cat = CatalogBuilder()
                 .table("tenants", {"id", "name"})
                 .table("customers", {"id", "tenant_id"})
                 .table("orders", {"id", "customer_id"})
                 .table("orders_2019", {"id", "customer_id"})  // INHERITS (orders)
                 .table("customers_old", {"id", "tenant_id"})  // INHERITS (customers)
                 .fk("customers_tenant_fk", "customers", {"tenant_id"}, "tenants")
                 .fk("orders_customer_fk", "orders", {"customer_id"}, "customers")
                 .build();
  cat.tables[3].inherits = {2};
  cat.tables[4].inherits = {1};
  auto plan = TenancyPlan::build(cat, defaults(), true);
  EXPECT_EQ(covered(plan, "customers_old").coverage, Coverage::Tenant);  // has the column
  EXPECT_EQ(covered(plan, "orders_2019").coverage, Coverage::Unplaced);
  expect_refused(plan, "public.orders_2019", "Declare the foreign keys of public.orders on it too");
  // Read with ONLY: a parent's count never includes its children's rows.
  EXPECT_EQ(plan.from_clause(2, "t0"), "ONLY \"public\".\"orders\" t0");

  cat.foreign_keys.push_back({"orders_2019_customer_fk", 3, 1, {"customer_id"}, {"id"}});
  auto keyed = TenancyPlan::build(cat, defaults(), true);
  EXPECT_NO_THROW(keyed.require_complete());
  EXPECT_EQ(covered(keyed, "orders_2019").coverage, Coverage::Child);
}

TEST(Coverage, ListsEveryTableWithItsRoleAndWhy) {
  auto opts = defaults();
  opts.exclude_tables.push_back({"", "order_lines"});
  auto plan = TenancyPlan::build(shop(), opts, true);
  EXPECT_NO_THROW(plan.require_complete());
  std::vector<std::string> listed;
  for (const auto& c : plan.coverage())
    listed.push_back(c.schema + "." + c.name + " " + std::string(to_string(c.coverage)) + ": " +
                     c.reason);
  EXPECT_EQ(listed, (std::vector<std::string>{
      "public.audit_logs excluded: an audit table (audit_tables), left out unless "
      "include_audit_logs is true (otherwise tenant)",
      "public.categories master: referenced by public.products through products_category_fk",
      "public.customers tenant: has the tenant column tenant_id",
      "public.order_lines excluded: left out by exclude_tables (otherwise child)",
      "public.orders child: owned through orders_customer_fk -> public.customers",
      "public.products tenant: has the tenant column tenant_id",
      "public.tenants tenant: the tenant table: its column id is the tenant id",
      "public.unrelated global: no tenant column and no foreign key path to a tenant table",
      "ref.countries master: referenced by public.categories through categories_country_fk",
  }));
  opts = defaults();
  opts.tables = std::vector<QualifiedName>{{"", "orders"}};
  EXPECT_EQ(covered(TenancyPlan::build(shop(), opts, true), "customers").reason,
            "not named in tables (otherwise tenant)");
  opts = defaults();
  opts.include_audit_logs = true;
  EXPECT_EQ(covered(TenancyPlan::build(shop(), opts, true), "audit_logs").reason,
            "has the tenant column tenant_id (without a foreign key to public.tenants: its rows are "
            "selected by the column's value)");
  auto schema_opts = defaults();
  schema_opts.tenancy = TenancyMode::Schema;
  EXPECT_EQ(covered(TenancyPlan::build(shop(), schema_opts, true), "orders").reason,
            "in the tenant's schema");
  EXPECT_EQ(covered(TenancyPlan::build(shop(), defaults(), false), "countries").reason,
            "referenced by public.categories through categories_country_fk");
  EXPECT_EQ(covered(TenancyPlan::build(shop(), defaults(), false), "orders").reason,
            "in a scanned schema (a whole-database snapshot)");
}

TEST(Coverage, ColumnsThatMayHoldLargeObjectsAreReported) {
  auto cat = shop();
  Column photo;
  photo.name = "Photo";
  photo.type = "oid";
  photo.large_object = true;
  cat.tables[1].columns.push_back(photo);  // customers
  auto plan = TenancyPlan::build(cat, defaults(), true);
  auto columns = plan.large_object_columns();
  ASSERT_EQ(columns.size(), 1u);
  EXPECT_EQ(plan.catalog().tables[columns[0].table].name, "customers");
  EXPECT_EQ(columns[0].column, "Photo");
  EXPECT_EQ(covered(plan, "customers").reason,
            "has the tenant column tenant_id; column \"Photo\" may hold large object ids: large "
            "objects are not in the snapshot");
  EXPECT_TRUE(TenancyPlan::build(shop(), defaults(), true).large_object_columns().empty());
}

// --- Polymorphic references (docs/tenancy.md#polymorphic-references).

namespace {

// Rails: invoices of tenants, ActiveStorage attachments (record_type,
// record_id) with blobs and variant records, PaperTrail versions.
Catalog rails(const std::string& record_id_type = "bigint") {
  Catalog c = CatalogBuilder()
                  .table("tenants", {"id", "name"})
                  .table("invoices", {"id", "tenant_id", "country_id"})
                  .table("countries", {"id", "name"})
                  .table("active_storage_blobs", {"id", "checksum"})
                  .table("active_storage_attachments", {"id", "record_type", "record_id", "blob_id"})
                  .table("active_storage_variant_records", {"id", "blob_id"})
                  .table("versions", {"id", "item_type", "item_id", "country_id"})
                  .not_null("active_storage_attachments", "blob_id")
                  .not_null("active_storage_variant_records", "blob_id")
                  .fk("invoices_tenant_fk", "invoices", {"tenant_id"}, "tenants")
                  .fk("invoices_country_fk", "invoices", {"country_id"}, "countries")
                  .fk("attachments_blob_fk", "active_storage_attachments", {"blob_id"}, "active_storage_blobs")
                  .fk("variants_blob_fk", "active_storage_variant_records", {"blob_id"}, "active_storage_blobs")
                  .fk("versions_country_fk", "versions", {"country_id"}, "countries")
                  .build();
  for (auto& t : c.tables)
    for (auto& col : t.columns) {
      if (col.name == "id" || col.name == "blob_id" || col.name == "item_id") col.type = "bigint";
      if (col.name == "record_id") col.type = record_id_type;
      if (col.name == "record_type" || col.name == "item_type") {
        col.type = "character varying";
        col.is_text = true;
      }
    }
  return c;
}

SnapshotOptions declared(const std::string& json) { return apply_options_json(json, SnapshotOptions{}); }

const char* kAttachments =
    R"({"polymorphic": {"active_storage_attachments": {"type": "record_type", "id": "record_id"}}})";

const TableCoverage& coverage_of(const TenancyPlan& plan, const std::string& name) {
  for (const auto& c : plan.coverage())
    if (c.name == name) return c;
  throw std::runtime_error("no coverage: " + name);
}

size_t index_of(const TenancyPlan& plan, const std::string& name) {
  for (size_t i = 0; i < plan.catalog().tables.size(); ++i)
    if (plan.catalog().tables[i].name == name) return i;
  throw std::runtime_error("no table: " + name);
}

}  // namespace

TEST(Polymorphic, UndeclaredTablesAreReportedAsProbableTenantData) {
  auto plan = TenancyPlan::build(rails(), defaults(), true);
  auto r = roles(plan);
  EXPECT_EQ(r.count("active_storage_attachments"), 0u);
  EXPECT_EQ(r.count("versions"), 0u);
  const auto& v = coverage_of(plan, "versions");
  EXPECT_EQ(v.coverage, Coverage::Global);
  EXPECT_EQ(v.reason,
            "probably tenant data, not included: its columns item_type and item_id look like a polymorphic "
            "reference (a type and an id, no foreign key); declare it in polymorphic: "
            R"({"polymorphic":{"public.versions":{"id":"item_id","type":"item_type"}}})");
  EXPECT_EQ(v.hint, R"(Declare it with {"polymorphic":{"public.versions":{"id":"item_id","type":"item_type"}}}, )"
                    R"(or leave it out with {"exclude_tables":["public.versions"]}.)");
  EXPECT_NO_THROW(plan.require_complete());  // may be global data: not refused
  // A type column that is not a string, or no matching id column: not the shape.
  auto c = rails();
  for (auto& col : c.tables[index_of(plan, "versions")].columns)
    if (col.name == "item_type") col.is_text = false;
  auto other = TenancyPlan::build(c, defaults(), true);
  EXPECT_EQ(coverage_of(other, "versions").reason, "no tenant column and no foreign key path to a tenant table");
  EXPECT_EQ(coverage_of(TenancyPlan::build(rails(), defaults(), false), "versions").coverage, Coverage::Tenant);
}

TEST(Polymorphic, DeclaredTableAndTheTablesReachedFromItArePlaced) {
  auto plan = TenancyPlan::build(
      rails(), declared(R"({"polymorphic": {"active_storage_attachments": {"type": "record_type", "id": "record_id"},
                                            "versions": {"type": "item_type", "id": "item_id"}}})"),
      true);
  auto r = roles(plan);
  EXPECT_EQ(r["active_storage_attachments"], "child");
  EXPECT_EQ(r["active_storage_blobs"], "child");
  EXPECT_EQ(r["active_storage_variant_records"], "child");
  EXPECT_EQ(r["versions"], "child");
  EXPECT_EQ(r["countries"], "master");  // invoices reference it too: shared, master data
  EXPECT_TRUE(planned(plan, "active_storage_attachments").owning_chain.empty());
  EXPECT_TRUE(planned(plan, "active_storage_blobs").owning_chain.empty());
  const auto& variants = planned(plan, "active_storage_variant_records");
  ASSERT_EQ(variants.owning_chain.size(), 1u);
  EXPECT_EQ(plan.catalog().foreign_keys[variants.owning_chain[0]].name, "variants_blob_fk");
  auto o = order(plan);
  auto pos = [&](const std::string& n) { return std::find(o.begin(), o.end(), n) - o.begin(); };
  EXPECT_LT(pos("active_storage_blobs"), pos("active_storage_attachments"));
  EXPECT_LT(pos("active_storage_blobs"), pos("active_storage_variant_records"));
  EXPECT_EQ(coverage_of(plan, "active_storage_attachments").reason,
            "placed through its polymorphic reference (record_type, record_id) to public.invoices, public.tenants");
  EXPECT_EQ(coverage_of(plan, "active_storage_blobs").reason,
            "referenced by public.active_storage_attachments through attachments_blob_fk: its rows follow that "
            "table's polymorphic rows");
  ASSERT_EQ(plan.polymorphic().size(), 2u);
}

TEST(Polymorphic, MembershipSqlComparesTheTypeWithTheRuleAndTheIdWithTheKey) {
  auto plan = TenancyPlan::build(rails(), declared(kAttachments), true);
  const std::string tenant = "a2.\"tenant_id\" = CAST($1 AS integer)";
  EXPECT_EQ(plan.membership_sql(index_of(plan, "active_storage_attachments"), "t0"),
            "COALESCE((CAST(t0.\"record_type\" AS pg_catalog.text) OPERATOR(pg_catalog.=) ANY (CAST(ARRAY["
            "'Invoice', 'invoice', 'invoices', 'public.invoices'] AS pg_catalog.text[])) AND t0.\"record_id\" "
            "OPERATOR(pg_catalog.=) ANY (SELECT a1.\"id\" FROM ONLY \"public\".\"invoices\" a1 WHERE "
            "a1.\"tenant_id\" = CAST($1 AS integer))) OR (CAST(t0.\"record_type\" AS pg_catalog.text) "
            "OPERATOR(pg_catalog.=) ANY (CAST(ARRAY['Tenant', 'public.tenants', 'tenant', 'tenants'] AS "
            "pg_catalog.text[])) AND t0.\"record_id\" OPERATOR(pg_catalog.=) ANY (SELECT a2.\"id\" FROM ONLY "
            "\"public\".\"tenants\" a2 WHERE a2.\"id\" = CAST($1 AS bigint))), false)");
  // Blobs: rows an attachment of the snapshot references; orphans are nobody's.
  const std::string blobs = plan.membership_sql(index_of(plan, "active_storage_blobs"), "t0");
  EXPECT_EQ(blobs.rfind("EXISTS (SELECT 1 FROM ONLY \"public\".\"active_storage_attachments\" a1 WHERE "
                        "a1.\"blob_id\" = t0.\"id\" AND COALESCE((CAST(a1.\"record_type\"",
                        0),
            0u)
      << blobs;
  EXPECT_EQ(plan.orphan_sql(index_of(plan, "active_storage_blobs"), "t0"),
            "NOT EXISTS (SELECT 1 FROM ONLY \"public\".\"active_storage_attachments\" o1 WHERE o1.\"blob_id\" "
            "OPERATOR(pg_catalog.=) t0.\"id\")");
  EXPECT_EQ(plan.orphan_sql(index_of(plan, "active_storage_attachments"), "t0"), "");
  EXPECT_EQ(plan.reference_sql(index_of(plan, "active_storage_blobs"), "t0"), "");
  // Other id types: compared through their text form (a uuid key, a text id).
  auto text_ids = TenancyPlan::build(rails("character varying"), declared(kAttachments), true);
  EXPECT_NE(text_ids.membership_sql(index_of(text_ids, "active_storage_attachments"), "t0")
                .find("CAST(t0.\"record_id\" AS pg_catalog.text) OPERATOR(pg_catalog.=) ANY (SELECT "
                      "CAST(a1.\"id\" AS pg_catalog.text) FROM"),
            std::string::npos);
}

TEST(Polymorphic, TypesOverrideAndExtendTheRuleAndAreQuoted) {
  auto plan = TenancyPlan::build(
      rails(), declared(R"({"polymorphic": {"active_storage_attachments": {"type": "record_type", "id": "record_id",
                           "types": {"Invoice": "tenants", "O'Neil\\Bill": "invoices"}}}})"),
      true);
  const auto& p = plan.polymorphic().at(0);
  ASSERT_EQ(p.targets.size(), 2u);
  EXPECT_EQ(plan.catalog().tables[p.targets[0].table].name, "invoices");
  EXPECT_EQ(p.targets[0].values, (std::vector<std::string>{"O'Neil\\Bill", "invoice", "invoices", "public.invoices"}));
  EXPECT_EQ(p.targets[1].values,
            (std::vector<std::string>{"Invoice", "Tenant", "public.tenants", "tenant", "tenants"}));
  EXPECT_NE(plan.membership_sql(index_of(plan, "active_storage_attachments"), "t0")
                .find("ARRAY[E'O''Neil\\\\Bill', 'invoice'"),
            std::string::npos);
}

TEST(Polymorphic, FollowChoosesTheTablesThatFollow) {
  auto plan = TenancyPlan::build(
      rails(), declared(R"({"polymorphic": {"active_storage_attachments": {"type": "record_type", "id": "record_id",
                           "follow": []}}})"),
      true);
  auto r = roles(plan);
  EXPECT_EQ(r["active_storage_blobs"], "master");  // shared data then: checked, never changed
  EXPECT_EQ(r.count("active_storage_variant_records"), 0u);
}

TEST(Polymorphic, RefusesWhatCannotBePlaced) {
  auto refused = [](const std::string& json, const std::string& message) {
    try {
      TenancyPlan::build(rails(), declared(json), true);
      ADD_FAILURE() << "accepted: " << json;
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22023") << json;
      EXPECT_EQ(std::string(e.what()), message);
      EXPECT_FALSE(e.hint().empty()) << json;
    }
  };
  refused(R"({"polymorphic": {"nope": {"type": "a", "id": "b"}}})",
          "polymorphic names \"nope\", which is not a table of the scanned schemas (public)");
  refused(R"({"polymorphic": {"versions": {"type": "kind", "id": "item_id"}}})",
          "polymorphic names \"versions\", which has no column kind");
  refused(R"({"polymorphic": {"versions": {"type": "item_type", "id": "nope"}}})",
          "polymorphic names \"versions\", which has no column nope");
  refused(R"({"polymorphic": {"invoices": {"type": "id", "id": "tenant_id"}}})",
          "polymorphic names \"invoices\", which has the tenant column tenant_id: its rows are selected by it");
  refused(R"({"polymorphic": {"versions": {"type": "item_type", "id": "item_id", "types": {"X": "bills"}}}})",
          "polymorphic types of \"public.versions\" map \"X\" to \"bills\", which does not exist");
  refused(R"({"polymorphic": {"versions": {"type": "item_type", "id": "item_id", "types": {"Country": "countries"}}}})",
          "polymorphic types of \"public.versions\" map \"Country\" to \"countries\", which is not a table of the "
          "snapshot that a polymorphic reference can point at");
  refused(R"({"polymorphic": {"versions": {"type": "item_type", "id": "item_id"},
                              "active_storage_attachments": {"type": "record_type", "id": "record_id",
                                                             "types": {"Version": "versions"}}}})",
          "polymorphic types of \"public.active_storage_attachments\" map \"Version\" to \"versions\", which is "
          "not a table of the snapshot that a polymorphic reference can point at");
  refused(R"({"polymorphic": {"active_storage_attachments": {"type": "record_type", "id": "record_id",
                                                             "follow": ["invoices"]}}})",
          "polymorphic follow of \"active_storage_attachments\" names \"invoices\", which "
          "public.active_storage_attachments does not reference by a foreign key");
  refused(R"({"polymorphic": {"active_storage_attachments": {"type": "record_type", "id": "record_id"}},
              "owning_fks": {"active_storage_blobs": "attachments_blob_fk"}})",
          "owning_fks names \"active_storage_blobs\", whose rows are placed through a polymorphic reference");
}

TEST(Polymorphic, ChildrenOfAnOrphanAreOrphans) {
  auto plan = TenancyPlan::build(rails(), declared(kAttachments), true);
  EXPECT_EQ(plan.orphan_sql(index_of(plan, "active_storage_variant_records"), "t0"),
            "EXISTS (SELECT 1 FROM ONLY \"public\".\"active_storage_blobs\" o1 WHERE o1.\"id\" "
            "OPERATOR(pg_catalog.=) t0.\"blob_id\" AND NOT EXISTS (SELECT 1 FROM ONLY "
            "\"public\".\"active_storage_attachments\" o2 WHERE o2.\"blob_id\" OPERATOR(pg_catalog.=) o1.\"id\"))");
  EXPECT_EQ(plan.orphan_sql(index_of(plan, "invoices"), "t0"), "");
}

TEST(Tenancy, MembershipChainIsTheOwningKeysUpToTheTenantColumn) {
  // A merge checks only the rows it wrote where a row's membership is its
  // owning keys alone (run_import, step 7).
  auto opts = defaults();
  opts.include_deleted = true;
  auto plan = TenancyPlan::build(shop(), opts, true);
  const auto names = [&](const std::optional<std::vector<size_t>>& chain) {
    std::vector<std::string> out;
    for (size_t f : chain.value()) out.push_back(plan.catalog().foreign_keys[f].name);
    return out;
  };
  EXPECT_EQ(names(plan.membership_chain(planned(plan, "customers").table)), std::vector<std::string>{})
      << "a tenant table: its own column";
  EXPECT_EQ(names(plan.membership_chain(planned(plan, "order_lines").table)),
            (std::vector<std::string>{"lines_order_fk", "orders_customer_fk"}));
  EXPECT_FALSE(plan.membership_chain(planned(plan, "countries").table)) << "a master table";

  // Soft-deleted parents take their children out: not the chain alone.
  auto soft = TenancyPlan::build(shop(), defaults(), true);
  EXPECT_FALSE(soft.membership_chain(planned(soft, "order_lines").table));
  EXPECT_FALSE(soft.membership_chain(planned(soft, "orders").table)) << "customers has deleted_at";
  EXPECT_TRUE(soft.membership_chain(planned(soft, "customers").table)) << "its own deleted_at is its own column";

  // Without a tenant column every row is the snapshot's: nothing to follow.
  auto whole = TenancyPlan::build(shop(), defaults(), false);
  EXPECT_FALSE(whole.membership_chain(0));
}

TEST(Tenancy, AnyMemberRowJoinsDownTheChainFromTheTenantsRows) {
  // Whether the tenant has a row in a child table (an import's direct
  // load asks): a join from the tenant's rows down the owning keys, ended
  // by the first row found.
  auto opts = defaults();
  opts.include_deleted = true;
  auto plan = TenancyPlan::build(shop(), opts, true);
  EXPECT_EQ(plan.any_member_row_sql(planned(plan, "order_lines").table), 
            "SELECT 1 FROM ONLY \"public\".\"order_lines\" t0 JOIN ONLY \"public\".\"orders\" a1 ON a1.\"id\" = "
            "t0.\"order_id\" JOIN ONLY \"public\".\"customers\" a2 ON a2.\"id\" = a1.\"customer_id\" "
            "WHERE a2.\"tenant_id\" = CAST($1 AS integer) LIMIT 1");
  EXPECT_EQ(plan.any_member_row_sql(planned(plan, "customers").table), "") << "a tenant table: its own column";
  EXPECT_EQ(plan.any_member_row_sql(planned(plan, "countries").table), "") << "a master table";
  // Soft-deleted parents take their children out: membership_sql then.
  auto soft = TenancyPlan::build(shop(), defaults(), true);
  EXPECT_EQ(soft.any_member_row_sql(planned(soft, "order_lines").table), "");
}
