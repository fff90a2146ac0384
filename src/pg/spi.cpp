#include "pg/spi.hpp"

#include <cstring>

#include "pg/guarded.hpp"
#include "pg/setting_levels.hpp"
#include "pg/spi_stream.hpp"

extern "C" {
#include "access/xact.h"
#include "utils/guc.h"
}

namespace ptb::pg {

void Spi::connect() {
  guarded([] {
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  });
}

void Spi::finish() {
  guarded([] { SPI_finish(); });
}

namespace {

// Text parameters ($1 ...) as a ParamListInfo, palloc'd: call inside a
// guard. NULL where the value is nullopt.
ParamListInfo text_params(const std::vector<TextValue>& params) {
  const int n = static_cast<int>(params.size());
  ParamListInfo list = makeParamList(n);
  for (int i = 0; i < n; ++i) {
    ParamExternData& p = list->params[i];
    p.ptype = TEXTOID;
    p.pflags = PARAM_FLAG_CONST;
    p.isnull = !params[i];
    p.value = params[i] ? PointerGetDatum(cstring_to_text_with_len(params[i]->data(),
                                                                   params[i]->size()))
                        : (Datum)0;
  }
  return list;
}

void run(const std::string& sql, const std::vector<TextValue>& params, bool read_only,
         DestReceiver* dest, int expected) {
  guarded([&] {
    SPIExecuteOptions options;
    memset(&options, 0, sizeof options);
    // No parameters is a NULL list, not an empty one: Citus' planner hook
    // reads an empty list's missing entries and crashes the backend.
    options.params = params.empty() ? nullptr : text_params(params);
    options.read_only = read_only;
    options.dest = dest;
    int rc = SPI_execute_extended(sql.c_str(), &options);
    if (rc < 0 || (expected != 0 && rc != expected))
      elog(ERROR, "pg_tenant_backup: unexpected SPI result %d", rc);
  });
}

}  // namespace

namespace {
std::vector<TextRow> collect_rows();  // the rows of the last query, as text
}  // namespace

void run_streaming(const std::string& sql, const std::vector<TextValue>& params,
                   DestReceiver* dest) {
  // With a DestReceiver of its own, SPI reports a SELECT as SPI_OK_UTILITY.
  run(sql, params, true, dest, SPI_OK_UTILITY);
}

TextValue Spi::execute(const std::string& sql, const std::vector<TextValue>& params) {
  run(sql, params, false, nullptr, 0);
  char* first = nullptr;
  guarded([&] {
    if (SPI_tuptable != nullptr && SPI_processed > 0)
      first = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
  });
  return first ? TextValue(first) : std::nullopt;
}

Spi::Result Spi::execute_returning(const std::string& sql, const std::vector<TextValue>& params) {
  run(sql, params, false, nullptr, 0);
  Result result;
  result.processed = SPI_processed;
  result.rows = collect_rows();
  return result;
}

std::vector<TextRow> Spi::query(const std::string& sql, const std::vector<TextValue>& params) {
  run(sql, params, true, nullptr, SPI_OK_SELECT);
  return collect_rows();
}

std::vector<TextRow> Spi::probe(const std::string& sql, const std::vector<TextValue>& params) {
  const int level = set_settings({{"enable_seqscan", "off"}, {"jit", "off"}});
  std::vector<TextRow> rows;
  try {
    rows = query(sql, params);
  } catch (...) {
    undo_settings(level);
    throw;
  }
  undo_settings(level);
  return rows;
}

std::vector<TextRow> Spi::query_latest(const std::string& sql,
                                       const std::vector<TextValue>& params) {
  if (!IsolationUsesXactSnapshot()) {
    run(sql, params, false, nullptr, SPI_OK_SELECT);  // takes a new snapshot
    return collect_rows();
  }
  // At REPEATABLE READ every statement keeps the transaction's snapshot:
  // the latest one is asked for explicitly, as the server's foreign key
  // checks do (a backup_create in such a transaction, a scheduled job on
  // Citus).
  guarded([&] {
    const int n = static_cast<int>(params.size());
    Oid* types = static_cast<Oid*>(palloc(sizeof(Oid) * (n + 1)));
    Datum* values = static_cast<Datum*>(palloc(sizeof(Datum) * (n + 1)));
    char* nulls = static_cast<char*>(palloc(n + 1));
    for (int i = 0; i < n; ++i) {
      types[i] = TEXTOID;
      nulls[i] = params[i] ? ' ' : 'n';
      values[i] = params[i] ? PointerGetDatum(cstring_to_text_with_len(params[i]->data(),
                                                                         params[i]->size()))
                            : (Datum)0;
    }
    SPIPlanPtr plan = SPI_prepare(sql.c_str(), n, n > 0 ? types : nullptr);
    if (plan == nullptr) elog(ERROR, "pg_tenant_backup: SPI_prepare failed: %d", SPI_result);
    int rc = SPI_execute_snapshot(plan, n > 0 ? values : nullptr, n > 0 ? nulls : nullptr,
                                  GetLatestSnapshot(), InvalidSnapshot, false, false, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "pg_tenant_backup: unexpected SPI result %d", rc);
    SPI_freeplan(plan);
  });
  return collect_rows();
}

namespace {
std::vector<TextRow> collect_rows() {
  char*** cells = nullptr;
  uint64 nrows = 0;
  int ncols = 0;
  // A statement without rows to return (INSERT without RETURNING) has no
  // tuple table. The values are copied out, so the table is freed at once:
  // a caller may run many statements in one SPI connection.
  guarded([&] {
    if (SPI_tuptable == nullptr) return;
    nrows = SPI_processed;
    ncols = SPI_tuptable->tupdesc->natts;
    cells = static_cast<char***>(palloc(sizeof(char**) * (nrows + 1)));
    for (uint64 r = 0; r < nrows; ++r) {
      cells[r] = static_cast<char**>(palloc(sizeof(char*) * (ncols + 1)));
      for (int c = 0; c < ncols; ++c)
        cells[r][c] = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c + 1);
    }
    SPI_freetuptable(SPI_tuptable);
  });
  std::vector<TextRow> rows;
  rows.reserve(nrows);
  for (uint64 r = 0; r < nrows; ++r) {
    TextRow row;
    row.reserve(ncols);
    for (int c = 0; c < ncols; ++c)
      row.push_back(cells[r][c] ? TextValue(cells[r][c]) : std::nullopt);
    rows.push_back(std::move(row));
  }
  return rows;
}
}  // namespace

}  // namespace ptb::pg
