// The COPY bridge: the data source COPY FROM reads a section's spilled
// rows from, as COPY text lines, and the context it adds to COPY's errors.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/unchanged_rows.hpp"
#include "core/value_encoding.hpp"
#include "pg/spilled_rows.hpp"

namespace ptb::pg {

// What the COPY data source callback reads: the rows of one section.
struct CopyFeed {
  std::optional<SpillReader> spill;  // none for a section without rows
  uint32 row_count = 0;
  uint32 next_row = 0;
  std::vector<int> positions;  // per loaded column, its index in a row
  std::vector<core::ValueEncoding> encodings;
  std::vector<std::string> column_names;
  std::string table;
  std::string buffer;  // COPY text not yet handed over
  size_t consumed = 0;
  // The tenant's rows of the table (of one part): a row of another part,
  // or one of them, is left out of a merge's stage; how many of them were
  // (core/unchanged_rows.hpp). A row's part is its key's, at key_fields.
  const core::TableRows* leave_out = nullptr;
  core::KeyPart part;
  std::vector<size_t> key_fields;
  uint64_t left_out = 0;
};

// Appends a row's COPY text line, without its newline, to f.buffer; `row`
// (from 0) is where errors say it is.
void append_copy_line(CopyFeed& f, const std::vector<core::RowCell>& cells, uint32 row);

// What ptb_copy_feed_read reads: set around each COPY. The callback has
// no argument of its own; one COPY runs at a time.
extern CopyFeed* current_feed;

}  // namespace ptb::pg

extern "C" {
// COPY's data source (BeginCopyFrom's data_source_cb): COPY text lines of
// current_feed's rows.
int ptb_copy_feed_read(void* outbuf, int minread, int maxread);
// An error context callback; `arg` names the table being loaded.
void ptb_copy_error_context(void* arg);
}
