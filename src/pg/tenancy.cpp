#include "pg/tenancy.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "pg/citus.hpp"
#include "pg/server_names.hpp"
#include "pg/catalog_reader.hpp"
#include "pg/spi.hpp"
#include "pg/value_cast.hpp"

namespace ptb::pg {

std::string display_name(const core::Table& table) { return table_display(table.schema, table.name); }

std::vector<std::optional<std::string>> tenant_parameters(const TenantSnapshotPlan& snapshot) {
  if (!snapshot.plan.uses_tenant_parameter()) return {};
  return {snapshot.tenant};
}

std::vector<std::string> list_tenants(core::SnapshotOptions options) {
  std::vector<std::string> tenants;
  if (options.tenancy == core::TenancyMode::Schema) {
    // The scanned schemas and, on Citus, every distributed schema (each
    // is a tenant of schema-based sharding); never Citus' own schemas, nor
    // a scanned schema of Citus reference tables (shared data that other
    // schemas' tables reference: it cannot be a tenant).
    const std::vector<std::string> shared = reference_table_schemas();
    std::set<std::string> schemas;
    for (const auto& s : options.schemas)
      if (std::find(shared.begin(), shared.end(), s) == shared.end()) schemas.insert(s);
    for (auto& s : distributed_schemas()) schemas.insert(std::move(s));
    for (const auto& s : citus_own_schemas()) schemas.erase(s);
    for (const auto& row : Spi::query(
             "SELECT nspname::pg_catalog.text FROM pg_catalog.pg_namespace"
             " WHERE nspname::pg_catalog.text OPERATOR(pg_catalog.=) ANY"
             "       (SELECT pg_catalog.jsonb_array_elements_text($1::pg_catalog.jsonb))"
             " ORDER BY 1",
             {nlohmann::json(schemas).dump()}))
      tenants.push_back(*row[0]);
    return tenants;
  }
  core::Catalog catalog = read_catalog(options.schemas);
  auto plan = core::TenancyPlan::build(std::move(catalog), std::move(options), true);
  std::vector<std::string> selects;
  const auto& cat = plan.catalog();
  if (const auto& tt = plan.tenant_table()) {
    selects.push_back("SELECT CAST(t0." + core::quote_ident(tt->key_column) + " AS pg_catalog.text) FROM " +
                      plan.from_clause(tt->table, "t0"));
  } else {
    for (const auto& p : plan.tables())
      if (p.role == core::TableRole::Tenant &&
          cat.tables[p.table].find_column(plan.options().tenant_column))
        selects.push_back("SELECT CAST(t0." + core::quote_ident(plan.options().tenant_column) +
                          " AS pg_catalog.text) FROM " + plan.from_clause(p.table, "t0"));
  }
  std::string sql;
  for (const auto& s : selects) sql += (sql.empty() ? "" : " UNION ") + s;
  for (const auto& row : Spi::query("SELECT * FROM (" + sql + ") AS tenants(id) WHERE id IS NOT NULL ORDER BY 1"))
    tenants.push_back(*row[0]);
  return tenants;
}

std::optional<std::string> tenant_as_type(const std::string& tenant, const std::string& type,
                                          const std::string& column) {
  const CastOutcome cast = cast_text(tenant, type);
  if (cast.ok()) return cast.value;
  throw core::Error(cast.sqlstate,
                    "tenant \"" + tenant.substr(0, 100) + "\" is not a valid " + type + ": " + column + " is " + type,
                    cast.reason + ".", "Check the tenant id, or the tenant_column and schemas settings.");
}

namespace {

// Refuses a tenant that is not a value of the type of each column it is
// compared with, before a statement compares it (tenant_as_type).
void check_tenant_value(const TenantSnapshotPlan& snapshot) {
  if (!snapshot.tenant) return;
  for (const auto& key : snapshot.plan.tenant_key_columns())
    (void)tenant_as_type(*snapshot.tenant, key.type,
                         "the tenant column \"" + key.column + "\" of " +
                             display_name(snapshot.plan.catalog().tables[key.table]));
}

}  // namespace

TenantSnapshotPlan plan_tenant_snapshot(const std::optional<std::string>& tenant,
                                        core::SnapshotOptions options, bool require_tenant,
                                        bool require_complete) {
  const bool schema_tenancy = options.tenancy == core::TenancyMode::Schema;
  if (schema_tenancy && tenant) {
    auto found = Spi::query("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", {tenant});
    if (found.empty())
      throw core::Error(core::sqlstate::kInvalidSchemaName,
                        "tenant schema \"" + *tenant + "\" does not exist", {},
                        "In schema tenancy the tenant is the name of its schema.");
    options.schemas = {*tenant};
  }
  core::Catalog catalog = read_catalog(options.schemas);
  TenantSnapshotPlan snapshot{
      core::TenancyPlan::build(std::move(catalog), std::move(options), tenant.has_value()),
      tenant, std::nullopt};
  if (require_complete) snapshot.plan.require_complete();
  if (snapshot.plan.uses_tenant_parameter()) {
    check_tenant_value(snapshot);
    auto rows = Spi::probe(snapshot.plan.tenant_lookup_sql(), {tenant});
    if (rows.empty() && !require_tenant) return snapshot;
    if (rows.empty()) {
      std::string where;
      if (const auto& tt = snapshot.plan.tenant_table()) {
        where = "No row of " + display_name(snapshot.plan.catalog().tables[tt->table]) +
                " has " + tt->key_column + " = " + *tenant + ".";
      } else {
        where = "No tenant table has a row with " + snapshot.plan.options().tenant_column +
                " = " + *tenant + ".";
      }
      throw core::Error(core::sqlstate::kUndefinedObject,
                        "tenant \"" + *tenant + "\" does not exist", where,
                        "Check the tenant id, or the tenant_column and schemas settings.");
    }
    snapshot.tenant_name = rows[0][0];
  }
  return snapshot;
}

}  // namespace ptb::pg
