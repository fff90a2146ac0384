// The catalog tenancy and the import plan with (catalog_reader.hpp).
#include "pg/catalog_reader.hpp"

#include <map>

#include <nlohmann/json.hpp>

#include "core/names.hpp"
#include "pg/citus.hpp"
#include "pg/column_types.hpp"
#include "pg/import_common.hpp"
#include "pg/server_names.hpp"
#include "pg/spi.hpp"

namespace ptb::pg {

// --- The tenancy catalog ----------------------------------------------------

namespace {

// Every ordinary and partitioned table outside the system schemas, except
// partitions (their rows are read through the parent), this extension's
// own tables and, with Citus, shards (pg/citus.hpp; the condition is
// appended). $1 is a JSON array of the scanned schemas.
constexpr const char* kTablesSql = R"SQL(
SELECT c.oid::pg_catalog.text, n.nspname, c.relname, c.relkind = 'p',
       n.nspname IN (SELECT pg_catalog.jsonb_array_elements_text($1::pg_catalog.jsonb))
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
   AND NOT EXISTS (
         SELECT 1 FROM pg_catalog.pg_depend d
           JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
          WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
            AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
            AND d.deptype = 'e' AND e.extname = 'pg_tenant_backup')
   AND )SQL";
constexpr const char* kTablesOrderSql = " ORDER BY n.nspname, c.relname";

constexpr const char* kColumnsSql = R"SQL(
SELECT a.attrelid::pg_catalog.text, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
       a.attnotnull, a.attgenerated <> '', t.typcategory = 'S', a.atttypid::pg_catalog.text
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
 WHERE a.attrelid IN (SELECT pg_catalog.jsonb_array_elements_text($1::pg_catalog.jsonb)::pg_catalog.oid)
   AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attrelid, a.attnum)SQL";

constexpr const char* kPrimaryKeysSql = R"SQL(
SELECT con.conrelid::pg_catalog.text, a.attname
  FROM pg_catalog.pg_constraint con
  CROSS JOIN LATERAL pg_catalog.unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
  JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
 WHERE con.contype = 'p'
   AND con.conrelid IN (SELECT pg_catalog.jsonb_array_elements_text($1::pg_catalog.jsonb)::pg_catalog.oid)
 ORDER BY con.conrelid, k.ord)SQL";

// One row per column pair of a foreign key, the referenced table mapped to
// its top table when it is a partition (the two queries below).
// (ROWS FROM: unnest of several arrays is the parser's shorthand for it,
// and its unnests would be looked up unqualified.)
constexpr const char* kForeignKeyColumnsSql = R"SQL(
SELECT con.oid::pg_catalog.text, con.conname, con.conrelid::pg_catalog.text,
       COALESCE(pg_catalog.pg_partition_root(con.confrelid)::pg_catalog.oid, con.confrelid)::pg_catalog.text,
       fa.attname, ta.attname
  FROM pg_catalog.pg_constraint con
  CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(con.conkey), pg_catalog.unnest(con.confkey))
       WITH ORDINALITY AS k(fromnum, tonum, ord)
  JOIN pg_catalog.pg_attribute fa ON fa.attrelid = con.conrelid AND fa.attnum = k.fromnum
  JOIN pg_catalog.pg_attribute ta ON ta.attrelid = con.confrelid AND ta.attnum = k.tonum)SQL";

// Foreign keys between the listed tables. Constraints inherited by
// partitions (conparentid <> 0) are skipped.
const std::string kForeignKeysSql = std::string(kForeignKeyColumnsSql) + R"SQL(
 WHERE con.contype = 'f' AND con.conparentid = 0
   AND con.conrelid IN (SELECT pg_catalog.jsonb_array_elements_text($1::pg_catalog.jsonb)::pg_catalog.oid)
   AND COALESCE(pg_catalog.pg_partition_root(con.confrelid), con.confrelid)
       IN (SELECT pg_catalog.jsonb_array_elements_text($1::pg_catalog.jsonb)::pg_catalog.oid)
 ORDER BY con.conrelid, con.conname, con.oid, k.ord)SQL";

// Inheritance (INHERITS, not partitioning) between the listed tables.
constexpr const char* kInheritsSql = R"SQL(
SELECT i.inhrelid::pg_catalog.text, i.inhparent::pg_catalog.text
  FROM pg_catalog.pg_inherits i
  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
 WHERE NOT c.relispartition
   AND i.inhrelid IN (SELECT pg_catalog.jsonb_array_elements_text($1::pg_catalog.jsonb)::pg_catalog.oid)
   AND i.inhparent IN (SELECT pg_catalog.jsonb_array_elements_text($1::pg_catalog.jsonb)::pg_catalog.oid)
 ORDER BY i.inhrelid, i.inhseqno)SQL";

// Every partition, at any depth, of the listed partitioned tables.
constexpr const char* kPartitionsSql = R"SQL(
SELECT c.oid::pg_catalog.text, n.nspname, c.relname, pg_catalog.pg_partition_root(c.oid)::pg_catalog.oid::pg_catalog.text,
       c.relkind <> 'p'
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relispartition AND c.relkind IN ('r', 'p', 'f')
   AND pg_catalog.pg_partition_root(c.oid) IN (SELECT pg_catalog.jsonb_array_elements_text($1::pg_catalog.jsonb)::pg_catalog.oid)
 ORDER BY n.nspname, c.relname)SQL";

// Foreign keys on leaf partitions ($1; declared there, on a partition
// above or on the top table: core keeps those the top table does not
// declare) to the listed tables ($2).
const std::string kPartitionForeignKeysSql = std::string(kForeignKeyColumnsSql) + R"SQL(
 WHERE con.contype = 'f'
   AND con.conrelid IN (SELECT pg_catalog.jsonb_array_elements_text($1::pg_catalog.jsonb)::pg_catalog.oid)
   AND COALESCE(pg_catalog.pg_partition_root(con.confrelid), con.confrelid)
       IN (SELECT pg_catalog.jsonb_array_elements_text($2::pg_catalog.jsonb)::pg_catalog.oid)
 ORDER BY con.conrelid, con.conname, con.oid, k.ord)SQL";

}  // namespace

core::Catalog read_catalog(const std::vector<std::string>& schemas) {
  core::Catalog catalog;
  std::map<std::string, size_t> by_oid;
  nlohmann::json oids = nlohmann::json::array();
  const std::string tables_sql = kTablesSql + not_a_shard_condition("c.oid") + kTablesOrderSql;
  for (const auto& row : Spi::query(tables_sql, {nlohmann::json(schemas).dump()})) {
    core::Table t;
    t.schema = *row[1];
    t.name = *row[2];
    t.oid = *row[0];
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

// --- What an import reads of a table it loads ---------------------------------


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
  CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(i.indkey::pg_catalog.int2[]),
                                pg_catalog.unnest(i.indclass::pg_catalog.oid[]),
                                pg_catalog.unnest(i.indcollation::pg_catalog.oid[]))
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

std::vector<OwnedSequence> owned_sequences(const std::string& oid) {
  constexpr const char* kSql = R"SQL(
SELECT a.attname, d.objid::pg_catalog.regclass::pg_catalog.text, s.seqincrement::pg_catalog.text
  FROM pg_catalog.pg_depend d
  JOIN pg_catalog.pg_sequence s ON s.seqrelid = d.objid
  JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
 WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
   AND d.refobjid = $1::pg_catalog.oid AND d.deptype IN ('a', 'i')
 ORDER BY 1)SQL";
  std::vector<OwnedSequence> out;
  for (const auto& row : run(kSql, {oid}).rows) out.push_back({*row[0], *row[1], *row[2]});
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
  CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(con.conkey), pg_catalog.unnest(con.confkey),
                               pg_catalog.unnest(con.conpfeqop)) WITH ORDINALITY AS k(fromnum, tonum, op, ord)
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
