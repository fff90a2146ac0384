// The COPY bridge (copy_feed.hpp): spilled rows turned into COPY text
// lines as the server's COPY FROM asks for them.
#include "pg/copy_feed.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"
#include "core/import_plan.hpp"
#include "pg/boundary.hpp"
#include "pg/guarded.hpp"
#include "pg/import_common.hpp"
#include "pg/progress.hpp"
#include "pg/row_fingerprints.hpp"

namespace ptb::pg {

CopyFeed* current_feed = nullptr;

namespace {

constexpr uint32 kRowsPerBatch = 256;

// Appends one COPY field, naming where a value that cannot be loaded is.
void append_field(CopyFeed& f, const core::CopyCell& cell, size_t column, uint32 row) {
  try {
    core::append_copy_field(f.buffer, cell, f.encodings[column]);
  } catch (const core::Error& e) {
    throw core::Error(e.sqlstate(),
                      std::string(e.what()) + " (table " + f.table + ", column " + f.column_names[column] +
                          ", row " + std::to_string(row + 1) + " of the snapshot)",
                      e.detail(), e.hint());
  }
}

// The COPY field of the row's cell of loaded column `c`.
void append_column(CopyFeed& f, const std::vector<core::RowCell>& cells, size_t c, uint32 row) {
  const auto p = static_cast<size_t>(f.positions[c]);
  if (p >= cells.size()) bad_shape("a row is shorter than its columns");
  const core::RowCell& cell = cells[p];
  append_field(f,
               f.encodings[c] == core::ValueEncoding::Jsonb && cell.jsonb_unwrapped ? *cell.jsonb_unwrapped
                                                                                    : cell.value,
               c, row);
}
}  // namespace

void append_copy_line(CopyFeed& f, const std::vector<core::RowCell>& cells, uint32 row) {
  const size_t ncols = f.positions.size();
  for (size_t c = 0; c < ncols; ++c) {
    if (c > 0) f.buffer += '\t';
    append_column(f, cells, c, row);
  }
}

namespace {

void refill(CopyFeed& f) {
  if (f.consumed > 0) {
    f.buffer.erase(0, f.consumed);
    f.consumed = 0;
  }
  const uint32 count = std::min(kRowsPerBatch, f.row_count - f.next_row);
  // A merge's pass may leave out every row, and so not return to COPY,
  // which checks for a cancel between the lines it reads.
  guarded([] { CHECK_FOR_INTERRUPTS(); });
  for (uint32 r = 0; r < count; ++r) {
    const size_t start = f.buffer.size();
    const std::vector<core::RowCell>& cells = f.spill->next_row();
    // A row of another part waits for its own COPY: told by its key's
    // fields (as key_of_line has them) before the line is written.
    if (f.leave_out != nullptr && f.part.parts > 1) {
      for (size_t i = 0; i < f.key_fields.size(); ++i) {
        if (i > 0) f.buffer += '\t';
        append_column(f, cells, f.key_fields[i], f.next_row + r);
      }
      const bool other_part = !f.part.covers(key_hash(std::string_view(f.buffer).substr(start)));
      f.buffer.resize(start);
      if (other_part) continue;
    }
    append_copy_line(f, cells, f.next_row + r);
    // A row the table has as it is stays out of the stage.
    if (f.leave_out != nullptr && f.leave_out->contains(line_fingerprint(std::string_view(f.buffer).substr(start)))) {
      f.buffer.resize(start);
      ++f.left_out;
      continue;
    }
    f.buffer += '\n';
  }
  f.next_row += count;
  if (f.part.part == 0) progress::add_rows(count);  // once for a section compared in parts
}

}  // namespace
}  // namespace ptb::pg

extern "C" {

// COPY's data source: called by the server inside CopyFrom.
int ptb_copy_feed_read(void* outbuf, int minread, int maxread) {
  return ptb::pg::entry([&]() -> int {
    ptb::pg::CopyFeed& f = *ptb::pg::current_feed;
    while (f.buffer.size() - f.consumed < static_cast<size_t>(maxread) && f.next_row < f.row_count)
      ptb::pg::refill(f);
    const size_t n = std::min(f.buffer.size() - f.consumed, static_cast<size_t>(maxread));
    memcpy(outbuf, f.buffer.data() + f.consumed, n);
    f.consumed += n;
    return static_cast<int>(n);
  });
}

// Adds the table being loaded to the context of an error raised while
// copying (COPY's own context names the staging table and the column).
void ptb_copy_error_context(void* arg) {
  ptb::pg::entry([&] { errcontext("loading the snapshot's rows of %s", static_cast<const char*>(arg)); });
}
}
