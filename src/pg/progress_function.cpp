// backup_progress() RETURNS SETOF record: one row per running backup,
// export, import or restore of the server (pg/progress.hpp), under
// pg_stat_activity's rule: a role sees the details of another role's
// operation only with pg_read_all_stats or the privileges of that role.
#include <vector>

#include "pg/guarded.hpp"
#include "pg/entry_point.hpp"
#include "pg/progress.hpp"

extern "C" {
#include "catalog/pg_authid.h"
#include "utils/acl.h"
#include "utils/timestamp.h"
}

namespace {

using ptb::pg::progress::Entry;

constexpr int kColumns = 13;

void add_row(Tuplestorestate* store, TupleDesc desc, const Entry& e, bool details) {
  Datum values[kColumns] = {};
  bool nulls[kColumns] = {};
  auto int8_or_null = [&](int column, const std::optional<int64_t>& v) {
    if (details && v)
      values[column] = Int64GetDatum(*v);
    else
      nulls[column] = true;
  };
  values[0] = Int32GetDatum(e.pid);
  values[1] = ObjectIdGetDatum(e.database);
  values[2] = CStringGetTextDatum(ptb::pg::progress::operation_name(e.operation));
  values[3] = BoolGetDatum(e.scheduled);
  if (details && e.tenant)
    values[4] = PointerGetDatum(cstring_to_text_with_len(e.tenant->data(), static_cast<int>(e.tenant->size())));
  else
    nulls[4] = true;
  if (details)
    values[5] = CStringGetTextDatum(ptb::pg::progress::phase_name(e.phase));
  else
    nulls[5] = true;
  int8_or_null(6, e.tables_done);
  int8_or_null(7, e.tables_total);
  int8_or_null(8, e.rows_done);
  int8_or_null(9, e.bytes_written);
  int8_or_null(10, e.bytes_read);
  if (details)
    values[11] = TimestampTzGetDatum(e.started_at);
  else
    nulls[11] = true;
  int8_or_null(12, e.log_id);
  tuplestore_putvalues(store, desc, values, nulls);
}

}  // namespace

PTB_SQL_FUNCTION(backup_progress) {
  const std::vector<Entry> running = ptb::pg::progress::running_operations();
  FunctionCallInfo fcinfo = args.call();
  ptb::pg::guarded([&] {
    InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
    auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    if (rsinfo->setDesc->natts != kColumns)
      ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                      errmsg("backup_progress() does not return the columns this library writes"),
                      errhint("Run ALTER EXTENSION pg_tenant_backup UPDATE in this database.")));
    const bool read_all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
    for (const Entry& e : running)
      add_row(rsinfo->setResult, rsinfo->setDesc, e, read_all || has_privs_of_role(GetUserId(), e.role));
  });
  return args.void_result();
}
