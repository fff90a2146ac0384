// Citus (docs/citus.md): what the extension does differently when the
// citus extension is installed in the current database. Without it every
// function here returns at once, and no SQL that names a Citus catalog or
// function is ever parsed. Needs a transaction; the SQL ones need SPI.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/tenancy.hpp"

namespace ptb::pg {

// The citus extension is installed in this database (a syscache lookup).
bool citus_installed();

// A condition on the pg_class oid expression `relation` (e.g. "c.oid"),
// to AND into a catalog query that lists tables: true unless the relation
// is a shard of a Citus table (orders_102008), which a session sees on a
// node holding shard placements when citus.show_shards_for_app_name_prefixes
// lets it. "true" without Citus.
std::string not_a_shard_condition(const std::string& relation);

// The tables of the plan whose rows Citus reads on other nodes (hash
// distributed, single-shard and reference tables; not Citus local tables),
// as display names, sorted. Empty without Citus.
std::vector<std::string> remote_tables(const core::TenancyPlan& plan);

// Throws core::Error 0A000 when the plan reads remote Citus tables and
// the workers would not keep one snapshot for the transaction: Citus opens
// a transaction on a worker for a read only inside a transaction block
// (BEGIN ... COMMIT) with citus.select_opens_transaction_block on, with
// the coordinator's isolation level; otherwise, or at READ COMMITTED, each
// statement runs in a new snapshot on the worker and one export would mix
// moments. Passes in a REPEATABLE READ (or SERIALIZABLE) transaction
// block. Nothing without Citus.
void require_one_snapshot(const core::TenancyPlan& plan);

// The schemas of Citus schema-based sharding (pg_dist_schema), sorted.
// Empty without Citus or on a Citus without schema-based sharding.
std::vector<std::string> distributed_schemas();

// The schemas that hold Citus reference tables: shared data every tenant
// may reference (Citus copies it to every node), not a tenant's schema.
// Empty without Citus.
std::vector<std::string> reference_table_schemas();

// The schemas that belong to Citus itself (members of the citus and
// citus_columnar extensions: citus, citus_internal, columnar, ...).
std::vector<std::string> citus_own_schemas();

// --- Imports (docs/citus.md, "Import and restore through the coordinator")

struct CitusTable {
  // Hash-distributed (rows spread over shards by a column); otherwise a
  // reference table, a single-shard table (schema-based sharding) or a
  // Citus-local table.
  bool hash_distributed = false;
  std::string distribution_column;  // empty unless hash_distributed
  // A reference table (a copy on every node). Citus 13 runs no UPDATE or
  // DELETE of one that reads a local (staging) table; INSERT ... SELECT
  // works.
  bool reference = false;
};

// The Citus tables among `oids` (pg_class oids as text), by oid. Empty
// without Citus.
std::map<std::string, CitusTable> citus_tables(const std::vector<std::string>& oids);

// On a Citus node that is not the coordinator: Error(0A000) saying that
// `what` runs through the coordinator. Nothing without Citus.
void require_citus_coordinator(const std::string& what);

// SET LOCAL name = value, sent by Citus to every worker connection of the
// transaction (and to those it opens later). Locally it is a SET LOCAL at
// the current setting nesting level. `value` must be a plain word.
void set_local_on_workers(const char* name, const std::string& value);

}  // namespace ptb::pg
