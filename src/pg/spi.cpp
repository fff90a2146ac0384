#include "pg/spi.hpp"

#include "pg/boundary.hpp"

namespace ptb::pg {

void Spi::connect() {
  guarded([] {
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  });
}

void Spi::finish() {
  guarded([] { SPI_finish(); });
}

std::vector<TextRow> Spi::query(const std::string& sql, const std::vector<TextValue>& params) {
  const int nparams = static_cast<int>(params.size());
  const char* sql_text = sql.c_str();
  // Parameters in palloc'd arrays: only server calls inside the guard.
  Oid* types = nullptr;
  Datum* values = nullptr;
  char* nulls = nullptr;
  guarded([&] {
    types = static_cast<Oid*>(palloc0(sizeof(Oid) * (nparams + 1)));
    values = static_cast<Datum*>(palloc0(sizeof(Datum) * (nparams + 1)));
    nulls = static_cast<char*>(palloc0(nparams + 1));
  });
  for (int i = 0; i < nparams; ++i) {
    types[i] = TEXTOID;
    nulls[i] = params[i] ? ' ' : 'n';
  }
  char*** cells = nullptr;
  uint64 nrows = 0;
  int ncols = 0;
  guarded([&] {
    for (int i = 0; i < nparams; ++i)
      if (params[i]) values[i] = PointerGetDatum(cstring_to_text(params[i]->c_str()));
    int rc = SPI_execute_with_args(sql_text, nparams, types, values, nulls, true, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "SPI_execute_with_args returned %d", rc);
    nrows = SPI_processed;
    ncols = SPI_tuptable->tupdesc->natts;
    cells = static_cast<char***>(palloc(sizeof(char**) * (nrows + 1)));
    for (uint64 r = 0; r < nrows; ++r) {
      cells[r] = static_cast<char**>(palloc(sizeof(char*) * (ncols + 1)));
      for (int c = 0; c < ncols; ++c)
        cells[r][c] = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c + 1);
    }
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

}  // namespace ptb::pg
