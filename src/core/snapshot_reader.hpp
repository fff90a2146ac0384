// Reads a snapshot document (docs/format.md) as a stream: checks that it is
// a pg_tenant_backup snapshot of a supported version with well-formed row
// sections whose counts agree with its statistics, and summarizes it. The
// document is never built in memory: only metadata and statistics, which
// are small, are kept whole.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/compression.hpp"
#include "core/value_encoding.hpp"

namespace ptb::core {

// One row section of a snapshot.
struct TableCount {
  std::string section;  // "data" | "master_data" | "filtered_rows"
  std::string schema;
  std::string name;
  // data: tenant | child; master_data: master | reference; filtered_rows: filtered
  std::string role;
  int64_t rows = 0;
  size_t columns = 0;
  std::vector<std::string> column_names;
};

struct SnapshotSummary {
  std::string format;  // always "pg_tenant_backup"
  int64_t format_version = 0;
  std::optional<std::string> tenant_id;  // nullopt: a whole-database snapshot
  std::optional<std::string> tenant_name;
  std::string tenancy;             // "column" | "schema"
  // master_data, data, then filtered_rows sections, each in document order
  std::vector<TableCount> tables;
  // The document records the keys of the rows its soft-delete filter left
  // out (it has "filtered_rows", possibly empty): docs/format.md.
  bool records_filtered_rows = false;
  int64_t total_rows = 0;          // rows in data
  nlohmann::json metadata;         // kept whole: small
  nlohmann::json statistics;
  nlohmann::json schema_tables;    // schema.tables, kept only by read_snapshot
};

// One value of a row, for an importer reading a document as a stream.
struct RowCell {
  CopyCell value;  // as the document holds it
  // The value an object whose only key is "$jsonb" wraps (docs/format.md):
  // what the cell stands for in a column of jsonb encoding.
  std::optional<CopyCell> jsonb_unwrapped;
};

// Receives the rows of a document as read_snapshot reads them. Sections are
// named by their place (TableCount::section: "master_data", "data" or
// "filtered_rows", and index), as their names may come after their rows. A section whose rows were handed over can still
// turn out to be wrong: nothing is final before read_snapshot returns.
class RowVisitor {
 public:
  virtual ~RowVisitor() = default;
  virtual void begin_rows(const std::string& section, int64_t position) = 0;
  // The cells point into the reader's buffers: valid during the call only.
  virtual void row(const std::vector<RowCell>& cells) = 0;
};

// The format this reader knows.
inline constexpr const char* kSnapshotFormat = "pg_tenant_backup";
inline constexpr int64_t kSnapshotFormatVersion = 1;
// Nesting limit of a document, counting the top-level object as 1.
inline constexpr int kMaxSnapshotDepth = 1000;
// metadata and statistics larger than this (about their JSON size) are refused.
inline constexpr size_t kMaxSnapshotSectionBytes = 1 << 20;

// Reads the whole document from source and checks it. Keys may come in any
// order (jsonb reorders them); keys it does not know are ignored. Throws
// Error with:
//   22P02  not valid JSON (also: truncated, trailing bytes)
//   22023  not a pg_tenant_backup snapshot, or a section of the wrong shape
//          (naming the section, the table and the row)
//   0A000  a format_version other than 1
//   XX001  statistics that do not match the rows
//   54000  nesting deeper than kMaxSnapshotDepth, or metadata / statistics
//          above kMaxSnapshotSectionBytes
// and passes on errors of the source (a DecompressingSource's XX001).
SnapshotSummary read_snapshot_summary(Source& source);

// The same checks and summary (also keeping schema.tables, up to
// kMaxSnapshotSchemaBytes), handing every row to `rows` as it is read.
SnapshotSummary read_snapshot(Source& source, RowVisitor& rows);
inline constexpr size_t kMaxSnapshotSchemaBytes = 64 << 20;

}  // namespace ptb::core
