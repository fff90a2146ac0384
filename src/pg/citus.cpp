#include "pg/citus.hpp"

#include <cctype>
#include <cstring>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "pg/session.hpp"
#include "pg/setting_levels.hpp"
#include "pg/spi.hpp"

namespace ptb::pg {

namespace {

// The plan's tables that Citus keeps in pg_dist_partition, but for Citus
// local tables (partmethod 'n', not replicated to every node, no
// colocation group): those are read on this node in this snapshot.
constexpr const char* kRemoteTablesSql = R"SQL(
SELECT pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.'
       OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname)
  FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb) AS t(v)
  JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) (t.v OPERATOR(pg_catalog.->>) 0)
  JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid
                            AND c.relname OPERATOR(pg_catalog.=) (t.v OPERATOR(pg_catalog.->>) 1)
  JOIN pg_catalog.pg_dist_partition p ON p.logicalrelid OPERATOR(pg_catalog.=) c.oid
 WHERE NOT (p.partmethod OPERATOR(pg_catalog.=) 'n' AND p.repmodel OPERATOR(pg_catalog.<>) 't'
            AND p.colocationid OPERATOR(pg_catalog.=) 0)
 ORDER BY 1)SQL";

}  // namespace

bool citus_installed() { return extension_installed("citus"); }

std::string not_a_shard_condition(const std::string& relation) {
  if (!citus_installed()) return "true";
  // Citus' own test, the one its shard hiding uses: the name ends in a
  // shard id of a Citus table of the same schema.
  return "pg_catalog.relation_is_a_known_shard(" + relation + ") IS NOT TRUE";
}

std::vector<std::string> remote_tables(const core::TenancyPlan& plan) {
  std::vector<std::string> out;
  if (plan.tables().empty() || !citus_installed()) return out;
  nlohmann::json names = nlohmann::json::array();
  for (const auto& p : plan.tables()) {
    const core::Table& t = plan.catalog().tables[p.table];
    names.push_back({t.schema, t.name});
  }
  for (const auto& row : Spi::query(kRemoteTablesSql, {names.dump()})) out.push_back(*row[0]);
  return out;
}

void require_one_snapshot(const core::TenancyPlan& plan) {
  // Citus opens a transaction on a worker for a read only inside a
  // transaction block, and only with citus.select_opens_transaction_block
  // on; that transaction has the coordinator's isolation level.
  const std::optional<std::string> opens = defined_setting_value("citus.select_opens_transaction_block");
  const bool select_opens_block = !opens || *opens == "on";
  if (transaction_keeps_one_snapshot() && in_transaction_block() && select_opens_block) return;
  const std::vector<std::string> tables = remote_tables(plan);
  if (tables.empty()) return;
  std::string list;
  for (size_t i = 0; i < tables.size() && i < 5; ++i) list += (i ? ", " : "") + tables[i];
  if (tables.size() > 5) list += " and " + std::to_string(tables.size() - 5) + " more";
  std::string why;
  if (!transaction_keeps_one_snapshot())
    why = "at READ COMMITTED each statement on them takes a new snapshot on the nodes that hold them";
  else if (!in_transaction_block())
    why = "outside a transaction block (BEGIN ... COMMIT) Citus reads them without a transaction "
          "on the nodes, each statement in a new snapshot, whatever the isolation level";
  else
    why = "with citus.select_opens_transaction_block off Citus reads them without a transaction "
          "on the nodes, each statement in a new snapshot";
  throw core::Error(
      core::sqlstate::kFeatureNotSupported,
      "a tenant snapshot of Citus distributed tables needs a REPEATABLE READ transaction block",
      "It reads the Citus tables " + list + ": " + why + ", so the snapshot's tables could disagree.",
      select_opens_block
          ? "Run it in a REPEATABLE READ transaction: BEGIN ISOLATION LEVEL REPEATABLE READ; "
            "SELECT ...; COMMIT; (docs/citus.md)."
          : "SET citus.select_opens_transaction_block = on, and run it in a REPEATABLE READ "
            "transaction: BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT ...; COMMIT; (docs/citus.md).");
}

std::vector<std::string> distributed_schemas() {
  std::vector<std::string> out;
  if (!citus_installed()) return out;
  // pg_dist_schema came with Citus 12: looked up before it is named.
  auto exists = Spi::query("SELECT pg_catalog.to_regclass('pg_catalog.pg_dist_schema') IS NOT NULL");
  if (exists.at(0).at(0) != "t") return out;
  for (const auto& row : Spi::query(
           "SELECT n.nspname::pg_catalog.text FROM pg_catalog.pg_dist_schema s"
           "  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) s.schemaid"
           " ORDER BY 1"))
    out.push_back(*row[0]);
  return out;
}

std::vector<std::string> reference_table_schemas() {
  std::vector<std::string> out;
  if (!citus_installed()) return out;
  for (const auto& row : Spi::query(
           "SELECT DISTINCT n.nspname::pg_catalog.text FROM pg_catalog.pg_dist_partition p"
           "  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.logicalrelid"
           "  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
           " WHERE p.partmethod OPERATOR(pg_catalog.=) 'n' AND p.repmodel OPERATOR(pg_catalog.=) 't'"
           " ORDER BY 1"))
    out.push_back(*row[0]);
  return out;
}

std::vector<std::string> citus_own_schemas() {
  std::vector<std::string> out;
  if (!citus_installed()) return out;
  for (const auto& row : Spi::query(
           "SELECT n.nspname::pg_catalog.text FROM pg_catalog.pg_namespace n"
           "  JOIN pg_catalog.pg_depend d ON d.objid OPERATOR(pg_catalog.=) n.oid"
           "  JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid"
           " WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass"
           "   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass"
           "   AND d.deptype OPERATOR(pg_catalog.=) 'e'"
           "   AND e.extname OPERATOR(pg_catalog.=) ANY ('{citus,citus_columnar}'::pg_catalog.name[])"
           " ORDER BY 1"))
    out.push_back(*row[0]);
  return out;
}

// --- Imports

void require_citus_coordinator(const std::string& what) {
  if (!citus_installed()) return;
  if (Spi::execute_returning("SELECT pg_catalog.citus_is_coordinator()").rows.at(0).at(0) == "t") return;
  throw core::Error(core::sqlstate::kFeatureNotSupported,
                    what + " cannot run on a Citus worker node",
                    "The tenant's lock, the backup log and the snapshot files are the coordinator's.",
                    "Connect to the coordinator and run it there.");
}

std::map<std::string, CitusTable> citus_tables(const std::vector<std::string>& oids) {
  std::map<std::string, CitusTable> out;
  // pg_dist_partition exists only with Citus: the query that reads it is
  // parsed only then.
  if (oids.empty() || !citus_installed()) return out;
  std::string list;
  for (const auto& o : oids) list += (list.empty() ? "" : ",") + o;
  const auto rows = Spi::execute_returning(
      "SELECT p.logicalrelid::pg_catalog.oid::pg_catalog.text, p.partmethod OPERATOR(pg_catalog.=) 'h',"
      "       CASE WHEN p.partmethod OPERATOR(pg_catalog.=) 'h'"
      "            THEN pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) END,"
      "       p.partmethod OPERATOR(pg_catalog.=) 'n' AND p.repmodel OPERATOR(pg_catalog.=) 't'"
      "  FROM pg_catalog.pg_dist_partition p"
      " WHERE p.logicalrelid::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.oid[])",
      {"{" + list + "}"});
  for (const auto& row : rows.rows) {
    CitusTable t;
    t.hash_distributed = row[1] == "t";
    t.distribution_column = row[2].value_or("");
    t.reference = row[3] == "t";
    out.emplace(*row[0], std::move(t));
  }
  return out;
}

void set_local_on_workers(const char* name, const std::string& value) {
  for (char c : value)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_'))
      throw core::Error(core::sqlstate::kInternalError, "set_local_on_workers: not a plain value");
  // Citus propagates SET LOCAL statements (not settings changed by C) when
  // citus.propagate_set_commands is 'local', for this statement only.
  const int level = set_setting("citus.propagate_set_commands", "local");
  Spi::execute_returning(std::string("SET LOCAL ") + name + " TO " + value);
  undo_settings(level);
}

}  // namespace ptb::pg
