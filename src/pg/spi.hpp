// SPI with text parameters: read-only queries (catalog reads, counts),
// probes, and writes (execute, execute_returning: the import's statements).
// Not for row data: exports stream rows through a DestReceiver instead
// (spi_stream.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ptb::pg {

using TextValue = std::optional<std::string>;  // nullopt is SQL NULL
using TextRow = std::vector<TextValue>;

class Spi {
 public:
  // SPI_connect / SPI_finish. On an error path the transaction abort
  // releases the connection, so finish() is only called on success.
  static void connect();
  static void finish();

  // Runs a read-only statement whose parameters are all text ($1 ...).
  // read_only means no new snapshot is taken: every query of one call sees
  // the snapshot of the calling statement.
  static std::vector<TextRow> query(const std::string& sql,
                                    const std::vector<TextValue>& params = {});
  // query() for a statement asking whether a row exists (LIMIT 1 over one
  // tenant's rows), run with sequential scans off so that an index is used
  // when there is one: right after a tenant's rows were deleted, and until
  // the table is analyzed again, the statistics still count them, and a
  // scan of the whole table for the first match looks cheap. JIT is off
  // too: the cost that marks a scan as disabled would otherwise make every
  // probe worth compiling (PostgreSQL 15 to 17), and compiled code is
  // memory the backend keeps.
  static std::vector<TextRow> probe(const std::string& sql, const std::vector<TextValue>& params = {});
  // The same in a new snapshot: sees what other transactions (the
  // autonomous log writer) committed since the calling statement began,
  // at every isolation level.
  static std::vector<TextRow> query_latest(const std::string& sql,
                                           const std::vector<TextValue>& params = {});

  // Runs a statement that writes (INSERT, UPDATE, ...) with text
  // parameters; returns the first column of the first row it returns
  // (RETURNING), if any.
  static TextValue execute(const std::string& sql, const std::vector<TextValue>& params = {});
  // The same, returning every row it returns (RETURNING, or a SELECT) and
  // the number of rows it processed.
  struct Result {
    std::vector<TextRow> rows;
    uint64_t processed = 0;
  };
  static Result execute_returning(const std::string& sql, const std::vector<TextValue>& params = {});
};

}  // namespace ptb::pg
