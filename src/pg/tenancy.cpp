#include "pg/tenancy.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "pg/citus.hpp"
#include "pg/column_types.hpp"
#include "pg/server_names.hpp"
#include "pg/spi.hpp"
#include "pg/value_cast.hpp"

namespace ptb::pg {

namespace {

// Every ordinary and partitioned table outside the system schemas, except
// partitions (their rows are read through the parent), this extension's
// own tables and, with Citus, shards (pg/citus.hpp; the condition is
// appended). $1 is a JSON array of the scanned schemas.
constexpr const char* kTablesSql = R"SQL(
SELECT c.oid::text, n.nspname, c.relname, c.relkind = 'p',
       n.nspname IN (SELECT jsonb_array_elements_text($1::jsonb))
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
   AND NOT EXISTS (
         SELECT 1 FROM pg_catalog.pg_depend d
           JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
          WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
            AND d.refclassid = 'pg_catalog.pg_extension'::regclass
            AND d.deptype = 'e' AND e.extname = 'pg_tenant_backup')
   AND )SQL";
constexpr const char* kTablesOrderSql = " ORDER BY n.nspname, c.relname";

constexpr const char* kColumnsSql = R"SQL(
SELECT a.attrelid::text, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
       a.attnotnull, a.attgenerated <> '', t.typcategory = 'S', a.atttypid::text
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
 WHERE a.attrelid IN (SELECT jsonb_array_elements_text($1::jsonb)::oid)
   AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attrelid, a.attnum)SQL";

constexpr const char* kPrimaryKeysSql = R"SQL(
SELECT con.conrelid::text, a.attname
  FROM pg_catalog.pg_constraint con
  CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
  JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
 WHERE con.contype = 'p'
   AND con.conrelid IN (SELECT jsonb_array_elements_text($1::jsonb)::oid)
 ORDER BY con.conrelid, k.ord)SQL";

// One row per column pair of a foreign key, the referenced table mapped to
// its top table when it is a partition (the two queries below).
constexpr const char* kForeignKeyColumnsSql = R"SQL(
SELECT con.oid::text, con.conname, con.conrelid::text,
       COALESCE(pg_catalog.pg_partition_root(con.confrelid)::oid, con.confrelid)::text,
       fa.attname, ta.attname
  FROM pg_catalog.pg_constraint con
  CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(fromnum, tonum, ord)
  JOIN pg_catalog.pg_attribute fa ON fa.attrelid = con.conrelid AND fa.attnum = k.fromnum
  JOIN pg_catalog.pg_attribute ta ON ta.attrelid = con.confrelid AND ta.attnum = k.tonum)SQL";

// Foreign keys between the listed tables. Constraints inherited by
// partitions (conparentid <> 0) are skipped.
const std::string kForeignKeysSql = std::string(kForeignKeyColumnsSql) + R"SQL(
 WHERE con.contype = 'f' AND con.conparentid = 0
   AND con.conrelid IN (SELECT jsonb_array_elements_text($1::jsonb)::oid)
   AND COALESCE(pg_catalog.pg_partition_root(con.confrelid), con.confrelid)
       IN (SELECT jsonb_array_elements_text($1::jsonb)::oid)
 ORDER BY con.conrelid, con.conname, con.oid, k.ord)SQL";

// Inheritance (INHERITS, not partitioning) between the listed tables.
constexpr const char* kInheritsSql = R"SQL(
SELECT i.inhrelid::text, i.inhparent::text
  FROM pg_catalog.pg_inherits i
  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
 WHERE NOT c.relispartition
   AND i.inhrelid IN (SELECT jsonb_array_elements_text($1::jsonb)::oid)
   AND i.inhparent IN (SELECT jsonb_array_elements_text($1::jsonb)::oid)
 ORDER BY i.inhrelid, i.inhseqno)SQL";

// Every partition, at any depth, of the listed partitioned tables.
constexpr const char* kPartitionsSql = R"SQL(
SELECT c.oid::text, n.nspname, c.relname, pg_catalog.pg_partition_root(c.oid)::oid::text,
       c.relkind <> 'p'
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relispartition AND c.relkind IN ('r', 'p', 'f')
   AND pg_catalog.pg_partition_root(c.oid) IN (SELECT jsonb_array_elements_text($1::jsonb)::oid)
 ORDER BY n.nspname, c.relname)SQL";

// Foreign keys on leaf partitions ($1; declared there, on a partition
// above or on the top table: core keeps those the top table does not
// declare) to the listed tables ($2).
const std::string kPartitionForeignKeysSql = std::string(kForeignKeyColumnsSql) + R"SQL(
 WHERE con.contype = 'f'
   AND con.conrelid IN (SELECT jsonb_array_elements_text($1::jsonb)::oid)
   AND COALESCE(pg_catalog.pg_partition_root(con.confrelid), con.confrelid)
       IN (SELECT jsonb_array_elements_text($2::jsonb)::oid)
 ORDER BY con.conrelid, con.conname, con.oid, k.ord)SQL";

}  // namespace


namespace {

core::Catalog load_catalog(const std::vector<std::string>& schemas) {
  core::Catalog catalog;
  std::map<std::string, size_t> by_oid;
  nlohmann::json oids = nlohmann::json::array();
  const std::string tables_sql = kTablesSql + not_a_shard_condition("c.oid") + kTablesOrderSql;
  for (const auto& row : Spi::query(tables_sql, {nlohmann::json(schemas).dump()})) {
    core::Table t;
    t.schema = *row[1];
    t.name = *row[2];
    t.partitioned = *row[3] == "t";
    t.in_scanned_schema = *row[4] == "t";
    by_oid[*row[0]] = catalog.tables.size();
    oids.push_back(*row[0]);
    catalog.tables.push_back(std::move(t));
  }
  const std::string oid_list = oids.dump();
  for (const auto& row : Spi::query(kColumnsSql, {oid_list})) {
    core::Column c;
    c.name = *row[1];
    c.type = *row[2];
    c.not_null = *row[3] == "t";
    c.generated = *row[4] == "t";
    c.is_text = *row[5] == "t";
    const ColumnTypeFacts facts = column_type_facts(static_cast<Oid>(std::stoul(*row[6])));
    c.encoding = facts.encoding;
    c.large_object = facts.large_object;
    catalog.tables[by_oid.at(*row[0])].columns.push_back(std::move(c));
  }
  for (const auto& row : Spi::query(kPrimaryKeysSql, {oid_list}))
    catalog.tables[by_oid.at(*row[0])].primary_key.push_back(*row[1]);
  std::string current_fk;
  for (const auto& row : Spi::query(kForeignKeysSql, {oid_list})) {
    if (*row[0] != current_fk) {
      current_fk = *row[0];
      core::ForeignKey fk;
      fk.name = *row[1];
      fk.from = by_oid.at(*row[2]);
      fk.to = by_oid.at(*row[3]);
      catalog.foreign_keys.push_back(std::move(fk));
    }
    catalog.foreign_keys.back().from_columns.push_back(*row[4]);
    catalog.foreign_keys.back().to_columns.push_back(*row[5]);
  }
  for (const auto& row : Spi::query(kInheritsSql, {oid_list}))
    catalog.tables[by_oid.at(*row[0])].inherits.push_back(by_oid.at(*row[1]));

  std::map<std::string, size_t> leaf_by_oid;
  nlohmann::json leaf_oids = nlohmann::json::array();
  for (const auto& row : Spi::query(kPartitionsSql, {oid_list})) {
    core::Partition p;
    p.schema = *row[1];
    p.name = *row[2];
    p.root = by_oid.at(*row[3]);
    p.leaf = *row[4] == "t";
    if (p.leaf) {
      leaf_by_oid[*row[0]] = catalog.partitions.size();
      leaf_oids.push_back(*row[0]);
    }
    catalog.partitions.push_back(std::move(p));
  }
  if (!leaf_oids.empty()) {
    current_fk.clear();
    core::ForeignKey* fk = nullptr;
    for (const auto& row : Spi::query(kPartitionForeignKeysSql, {leaf_oids.dump(), oid_list})) {
      if (*row[0] != current_fk) {
        current_fk = *row[0];
        core::Partition& p = catalog.partitions[leaf_by_oid.at(*row[2])];
        core::ForeignKey key;
        key.name = *row[1];
        key.from = p.root;
        key.to = by_oid.at(*row[3]);
        p.foreign_keys.push_back(std::move(key));
        fk = &p.foreign_keys.back();
      }
      fk->from_columns.push_back(*row[4]);
      fk->to_columns.push_back(*row[5]);
    }
  }
  return catalog;
}

}  // namespace

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
  core::Catalog catalog = load_catalog(options.schemas);
  auto plan = core::TenancyPlan::build(std::move(catalog), std::move(options), true);
  std::vector<std::string> selects;
  const auto& cat = plan.catalog();
  if (const auto& tt = plan.tenant_table()) {
    selects.push_back("SELECT CAST(t0." + core::quote_ident(tt->key_column) + " AS text) FROM " +
                      plan.from_clause(tt->table, "t0"));
  } else {
    for (const auto& p : plan.tables())
      if (p.role == core::TableRole::Tenant &&
          cat.tables[p.table].find_column(plan.options().tenant_column))
        selects.push_back("SELECT CAST(t0." + core::quote_ident(plan.options().tenant_column) +
                          " AS text) FROM " + plan.from_clause(p.table, "t0"));
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
  core::Catalog catalog = load_catalog(options.schemas);
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
