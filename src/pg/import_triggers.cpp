// Whether an import's writes fire triggers (docs/import.md, "Triggers"),
// and session_replication_role set for them, on the Citus workers too.
#include "pg/import_job.hpp"
#include "pg/session.hpp"
#include "pg/setting_levels.hpp"

namespace ptb::pg {

WriteRole set_write_role(const char* role, bool citus) {
  WriteRole w;
  w.citus = citus;
  w.previous = setting_value("session_replication_role");
  w.level = set_setting("session_replication_role", role);
  if (citus && w.previous != role) set_local_on_workers("session_replication_role", role);
  return w;
}

void restore_write_role(const WriteRole& w) {
  const std::string now = setting_value("session_replication_role");
  undo_settings(w.level);
  if (w.citus && now != w.previous) set_local_on_workers("session_replication_role", w.previous);
}

// session_replication_role = replica switches off every trigger, key checks
// and audit triggers included: a superuser-only setting. An import sets it
// only for a caller who could have done as much itself: a superuser, or
// the owner of every table written (who may disable its triggers).
core::TriggerDecision decide_triggers(const ImportJob& job) {
  const auto& tables = job.tables;
  const bool citus = job.writes_citus;
  if (job.io.fire_triggers) return {true, "requested (fire_triggers)"};
  if (is_superuser()) return {false, "skipped (session_replication_role = replica): the caller is a superuser"};
  // The Citus workers take the setting only from a superuser.
  if (citus)
    return {true, "fired: the import writes Citus tables, and only a superuser can switch triggers off "
                  "on the Citus workers"};
  std::vector<std::string> oids;
  for (const auto& t : tables)
    if (t.data) oids.push_back(t.oid);
  const auto not_owned = run(
      "SELECT c.oid::pg_catalog.regclass::pg_catalog.text FROM pg_catalog.pg_class c"
      " WHERE c.oid OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.oid[])"
      "   AND NOT pg_catalog.pg_has_role(c.relowner, 'USAGE')"
      " ORDER BY c.oid::pg_catalog.regclass::pg_catalog.text LIMIT 1",
      {"{" + [&] {
         std::string list;
         for (const auto& o : oids) list += (list.empty() ? "" : ",") + o;
         return list;
       }() + "}"});
  if (not_owned.rows.empty())
    return {false, "skipped (session_replication_role = replica): the caller owns every table written"};
  return {true, "fired: the caller is not a superuser and does not own table " +
                    not_owned.rows[0][0].value_or("?") +
                    ", so the import cannot switch its triggers off"};
}

}  // namespace ptb::pg
