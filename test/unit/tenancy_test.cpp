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
