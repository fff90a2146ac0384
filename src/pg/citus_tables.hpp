// Citus (docs/citus.md): which of the tables an import writes Citus
// manages, and settings that must reach its workers. Without the citus
// extension every table is a plain one and nothing is sent anywhere.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace ptb::pg {

struct CitusTable {
  // Hash-distributed (rows spread over shards by a column); otherwise a
  // reference table, a single-shard table (schema-based sharding) or a
  // Citus-local table.
  bool hash_distributed = false;
  std::string distribution_column;  // empty unless hash_distributed
};

// The Citus tables among `oids` (pg_class oids as text), by oid.
std::map<std::string, CitusTable> citus_tables(const std::vector<std::string>& oids);

// On a Citus node that is not the coordinator: Error(0A000) saying that
// `what` runs through the coordinator. Nothing without Citus.
void require_citus_coordinator(const std::string& what);

// SET LOCAL name = value, sent by Citus to every worker connection of the
// transaction (and to those it opens later). Locally it is a SET LOCAL at
// the current setting nesting level. `value` must be a plain word.
void set_local_on_workers(const char* name, const std::string& value);

}  // namespace ptb::pg
