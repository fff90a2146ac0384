// Citus (docs/citus.md): what the extension does differently when the
// citus extension is installed in the current database. Without it every
// function here returns at once, and no SQL that names a Citus catalog or
// function is ever parsed. Needs a transaction; the SQL ones need SPI.
#pragma once

#include <string>
#include <vector>

#include "core/tenancy.hpp"
#include "pg/server.hpp"

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

}  // namespace ptb::pg
