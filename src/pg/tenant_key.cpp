#include "pg/tenant_key.hpp"

#include <nlohmann/json.hpp>

#include "pg/citus.hpp"
#include "pg/spi.hpp"
#include "pg/tenancy.hpp"

namespace ptb::pg {

namespace {

// The type of the tenant column ($1) in the ordinary and partitioned tables
// of the scanned schemas ($2, a JSON array), the extension's own tables
// left out, as format_type prints it (qualified: the search_path is pinned
// by fix_output_settings). The most common type first.
constexpr const char* kTenantTypeSql = R"SQL(
SELECT pg_catalog.format_type(a.atttypid, a.atttypmod)
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
 WHERE a.attname OPERATOR(pg_catalog.=) $1::pg_catalog.name
   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
   AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::pg_catalog."char"[]) AND NOT c.relispartition
   AND n.nspname::pg_catalog.text OPERATOR(pg_catalog.=) ANY (
         SELECT pg_catalog.jsonb_array_elements_text($2::pg_catalog.jsonb))
   AND NOT EXISTS (
         SELECT 1 FROM pg_catalog.pg_depend d
           JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid
          WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
            AND d.objid OPERATOR(pg_catalog.=) c.oid
            AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
            AND d.deptype OPERATOR(pg_catalog.=) 'e'
            AND e.extname OPERATOR(pg_catalog.=) 'pg_tenant_backup')
   AND )SQL";
// After the Citus shard condition (pg/citus.hpp): shards of a table have
// its columns, and are not tables of their own.
constexpr const char* kTenantTypeOrderSql = R"SQL(
 GROUP BY a.atttypid, a.atttypmod
 ORDER BY pg_catalog.count(*) DESC, a.atttypid, a.atttypmod
 LIMIT 1)SQL";

}  // namespace

std::optional<std::string> tenant_lock_key(const std::optional<std::string>& tenant,
                                           const core::SnapshotOptions& options) {
  if (!tenant || options.tenancy == core::TenancyMode::Schema) return tenant;
  const auto type = Spi::query(kTenantTypeSql + not_a_shard_condition("c.oid") + kTenantTypeOrderSql, {options.tenant_column, nlohmann::json(options.schemas).dump()});
  if (type.empty() || !type[0][0]) return tenant;
  // The type name comes from format_type: quoted and qualified, safe to
  // splice; the tenant itself is a parameter. The same cast as the
  // snapshot's membership conditions (CAST($1 AS type)).
  const auto canonical = tenant_as_type(*tenant, *type[0][0],
                                        "the tenant column \"" + options.tenant_column + "\"");
  if (!canonical) return tenant;
  return canonical;
}

}  // namespace ptb::pg
