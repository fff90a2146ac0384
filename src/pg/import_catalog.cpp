// The import's catalog reads (import_catalog.hpp).
#include "pg/import_catalog.hpp"

#include <nlohmann/json.hpp>

#include "core/names.hpp"
#include "pg/import_common.hpp"

namespace ptb::pg {

using nlohmann::json;
using core::quote_ident;

std::map<std::string, ColumnInfo> table_columns(const std::string& oid) {
  std::map<std::string, ColumnInfo> out;
  for (const auto& row : run("SELECT a.attname, a.attgenerated <> '', a.attidentity = 'a', a.attnotnull,"
                             "       a.atthasdef OR a.attidentity <> ''"
                             "  FROM pg_catalog.pg_attribute a"
                             " WHERE a.attrelid = $1::pg_catalog.oid AND a.attnum > 0"
                             "   AND NOT a.attisdropped",
                             {oid})
                           .rows)
    out[*row[0]] = {row[1] == "t", row[2] == "t", row[3] == "t", row[4] == "t"};
  return out;
}

std::vector<UniqueKey> unique_keys(const std::string& oid) {
  constexpr const char* kSql = R"SQL(
SELECT i.indexrelid::pg_catalog.text, i.indisprimary, a.attname,
       pg_catalog.format('OPERATOR(%I.%s)', opn.nspname, op.oprname),
       ic.relname, i.indisreplident, a.attnotnull,
       pg_catalog.format('%I.%I', ocn.nspname, oc.opcname),
       (SELECT pg_catalog.format('%I.%I', colln.nspname, coll.collname)
          FROM pg_catalog.pg_collation coll
          JOIN pg_catalog.pg_namespace colln ON colln.oid = coll.collnamespace
         WHERE coll.oid = k.collid)
  FROM pg_catalog.pg_index i
  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
  CROSS JOIN LATERAL unnest(i.indkey::pg_catalog.int2[], i.indclass::pg_catalog.oid[],
                            i.indcollation::pg_catalog.oid[])
       WITH ORDINALITY AS k(attnum, opclass, collid, ord)
  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
  JOIN pg_catalog.pg_opclass oc ON oc.oid = k.opclass
  JOIN pg_catalog.pg_namespace ocn ON ocn.oid = oc.opcnamespace
  JOIN pg_catalog.pg_amop ao ON ao.amopfamily = oc.opcfamily AND ao.amoplefttype = oc.opcintype
       AND ao.amoprighttype = oc.opcintype AND ao.amopstrategy = 3 AND ao.amopmethod = oc.opcmethod
  JOIN pg_catalog.pg_operator op ON op.oid = ao.amopopr
  JOIN pg_catalog.pg_namespace opn ON opn.oid = op.oprnamespace
 WHERE i.indrelid = $1::pg_catalog.oid AND i.indisunique AND i.indimmediate AND i.indisvalid
   AND i.indpred IS NULL AND i.indexprs IS NULL AND k.ord <= i.indnkeyatts
 ORDER BY i.indisprimary DESC, i.indexrelid, k.ord)SQL";
  std::vector<UniqueKey> keys;
  std::string current;
  for (const auto& row : run(kSql, {oid}).rows) {
    if (*row[0] != current) {
      current = *row[0];
      keys.push_back({*row[4], row[1] == "t", row[5] == "t", true, {}, {}, {}, {}});
    }
    keys.back().not_null = keys.back().not_null && row[6] == "t";
    keys.back().columns.push_back(*row[2]);
    keys.back().operators.push_back(*row[3]);
    keys.back().opclasses.push_back(*row[7]);
    keys.back().collations.push_back(row[8].value_or(""));
  }
  return keys;
}

std::vector<std::string> referenced_columns(const std::string& oid) {
  std::vector<std::string> out;
  for (const auto& row : run("SELECT DISTINCT a.attname FROM pg_catalog.pg_constraint con"
                             " CROSS JOIN LATERAL pg_catalog.unnest(con.confkey) AS k(attnum)"
                             " JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid"
                             "  AND a.attnum = k.attnum"
                             " WHERE con.contype = 'f' AND con.confrelid = $1::pg_catalog.oid",
                             {oid})
                             .rows)
    out.push_back(*row[0]);
  return out;
}

std::vector<std::string> primary_key_of(const std::string& oid) {
  std::vector<std::string> out;
  for (const auto& key : unique_keys(oid))
    if (key.primary) out = key.columns;
  return out;
}

bool statistics_are_stale(const std::vector<std::string>& oids) {
  constexpr const char* kSql = R"SQL(
SELECT COALESCE(pg_catalog.bool_or(
         s.n_mod_since_analyze::pg_catalog.float8 OPERATOR(pg_catalog.>)
           (pg_catalog.current_setting('autovacuum_analyze_threshold')::pg_catalog.float8 OPERATOR(pg_catalog.+)
            (pg_catalog.current_setting('autovacuum_analyze_scale_factor')::pg_catalog.float8 OPERATOR(pg_catalog.*)
             GREATEST(c.reltuples, 0)::pg_catalog.float8))), false)
  FROM pg_catalog.pg_stat_all_tables s
  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.relid
 WHERE s.relid IN (SELECT pg_catalog.jsonb_array_elements_text($1::pg_catalog.jsonb)::pg_catalog.oid))SQL";
  const auto rows = run(kSql, {json(oids).dump()}).rows;
  return !rows.empty() && rows[0][0] && *rows[0][0] == "t";
}

std::vector<ForeignKey> foreign_keys(const std::vector<std::string>& oids) {
  constexpr const char* kSql = R"SQL(
SELECT con.oid::pg_catalog.text, con.conname,
       COALESCE(pg_catalog.pg_partition_root(con.conrelid)::pg_catalog.oid, con.conrelid)::pg_catalog.text,
       fn.nspname, fc.relname,
       fc.relkind = 'p', con.confrelid::pg_catalog.text, tn.nspname, tc.relname, tc.relkind = 'p',
       fa.attname, ta.attname, pg_catalog.format('OPERATOR(%I.%s)', opn.nspname, op.oprname)
  FROM pg_catalog.pg_constraint con
  JOIN pg_catalog.pg_class fc ON fc.oid = con.conrelid
  JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
  JOIN pg_catalog.pg_class tc ON tc.oid = con.confrelid
  JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
  CROSS JOIN LATERAL unnest(con.conkey, con.confkey, con.conpfeqop) WITH ORDINALITY AS k(fromnum, tonum, op, ord)
  JOIN pg_catalog.pg_attribute fa ON fa.attrelid = con.conrelid AND fa.attnum = k.fromnum
  JOIN pg_catalog.pg_attribute ta ON ta.attrelid = con.confrelid AND ta.attnum = k.tonum
  JOIN pg_catalog.pg_operator op ON op.oid = k.op
  JOIN pg_catalog.pg_namespace opn ON opn.oid = op.oprnamespace
 WHERE con.contype = 'f' AND con.conparentid = 0
   AND (COALESCE(pg_catalog.pg_partition_root(con.conrelid)::pg_catalog.oid, con.conrelid)
          IN (SELECT pg_catalog.jsonb_array_elements_text($1::pg_catalog.jsonb)::pg_catalog.oid)
     OR con.confrelid IN (SELECT pg_catalog.jsonb_array_elements_text($1::pg_catalog.jsonb)::pg_catalog.oid))
 ORDER BY con.conrelid, con.conname, con.oid, k.ord)SQL";
  std::vector<ForeignKey> out;
  std::string current;
  for (const auto& row : run(kSql, {json(oids).dump()}).rows) {
    if (*row[0] != current) {
      current = *row[0];
      ForeignKey fk;
      fk.check.name = *row[1];
      fk.from_oid = *row[2];
      fk.check.from_display = table_display(*row[3], *row[4]);
      fk.check.from_table = core::quote_qualified(*row[3], *row[4]);
      fk.check.from_partitioned = row[5] == "t";
      fk.to_oid = *row[6];
      fk.check.to_display = table_display(*row[7], *row[8]);
      fk.check.to_table = core::quote_qualified(*row[7], *row[8]);
      fk.check.to_partitioned = row[9] == "t";
      out.push_back(std::move(fk));
    }
    out.back().check.from_columns.push_back(*row[10]);
    out.back().check.to_columns.push_back(*row[11]);
    out.back().check.operators.push_back(*row[12]);
  }
  return out;
}

}  // namespace ptb::pg
