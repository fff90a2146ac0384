#include "pg/citus_tables.hpp"

#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/spi.hpp"

namespace ptb::pg {

namespace {
bool citus_installed() {
  return !Spi::execute_returning(
              "SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'citus'")
              .rows.empty();
}
}  // namespace

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
  if (oids.empty()) return out;
  // pg_dist_partition exists only with Citus: the query that reads it is
  // parsed only then.
  if (!citus_installed()) return out;
  std::string list;
  for (const auto& o : oids) list += (list.empty() ? "" : ",") + o;
  const auto rows = Spi::execute_returning(
      "SELECT p.logicalrelid::pg_catalog.oid::pg_catalog.text, p.partmethod OPERATOR(pg_catalog.=) 'h',"
      "       CASE WHEN p.partmethod OPERATOR(pg_catalog.=) 'h'"
      "            THEN pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) END"
      "  FROM pg_catalog.pg_dist_partition p"
      " WHERE p.logicalrelid::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.oid[])",
      {"{" + list + "}"});
  for (const auto& row : rows.rows) {
    CitusTable t;
    t.hash_distributed = row[1] == "t";
    t.distribution_column = row[2].value_or("");
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
  int level = 0;
  guarded([&] {
    level = NewGUCNestLevel();
    (void)set_config_option("citus.propagate_set_commands", "local", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
                            true, 0, false);
  });
  Spi::execute_returning(std::string("SET LOCAL ") + name + " TO " + value);
  guarded([&] { AtEOXact_GUC(true, level); });
}

}  // namespace ptb::pg
