// One section of a snapshot loaded into a relation by the server's COPY
// FROM, which reads the section's spilled rows through the COPY bridge
// (copy_feed.hpp): COPY's speed, and its checks and error messages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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
};

// Copies the section's rows into `into` (a staging table, or the table
// itself) and returns how many rows COPY wrote. An error names the table
// and the section.
uint64_t copy_section(const SectionCopy& copy, const SpilledRows& rows, Oid into);

}  // namespace ptb::pg
