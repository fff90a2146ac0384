// One section of a snapshot loaded into a relation by the server's COPY
// FROM, which reads the section's spilled rows through the COPY bridge
// (copy_feed.hpp): COPY's speed, and its checks and error messages.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/unchanged_rows.hpp"
#include "core/value_encoding.hpp"
#include "pg/server_types.hpp"
#include "pg/snapshot_sections.hpp"

namespace ptb::pg {

class SpilledRows;

struct SectionCopy {
  const Section* section = nullptr;
  std::vector<std::string> columns;            // the relation's columns loaded, in order
  std::vector<int> positions;                  // per column, its cell in the section's rows
  std::vector<core::ValueEncoding> encodings;  // per column, how the snapshot wrote it
  std::string table;                           // the table, as messages name it
  // Rows left out: those of other parts (by their key, at key_fields) and
  // those the table has as they are (a merge's stage, compared one part at
  // a time).
  const core::TableRows* leave_out = nullptr;
  core::KeyPart part;
  std::vector<size_t> key_fields;
};

// Copies the section's rows into `into` (a staging table, or the table
// itself) and returns how many rows COPY wrote. An error names the table
// and the section.
// `left_out`: how many rows copy.leave_out found in the table.
uint64_t copy_section(const SectionCopy& copy, const SpilledRows& rows, Oid into, uint64_t* left_out = nullptr);

// Each row of the section as the COPY text line copy_section would load
// (no newline), in the section's order.
void for_each_copy_line(const SectionCopy& copy, const SpilledRows& rows,
                        const std::function<void(std::string_view line)>& visit);

}  // namespace ptb::pg
