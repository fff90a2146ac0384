// A snapshot document's row sections, and where each one's rows start in
// the spill file (pg/spilled_rows.hpp) they were copied to as it was read.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ptb::core {
struct SnapshotSummary;
}

namespace ptb::pg {

class SpilledRows;  // pg/spilled_rows.hpp

// A place in the spill file: a BufFile segment and an offset in it.
struct SpillPosition {
  int fileno = 0;
  off_t offset = 0;
};

// One row section of the document (data, master_data or filtered_rows).
struct Section {
  std::string part;  // "data", "master_data" or "filtered_rows"
  int position = 0;
  std::string schema;
  std::string name;
  std::string role;
  std::vector<std::string> columns;
  std::optional<SpillPosition> spilled;  // where its rows start in the spill
  uint32_t row_count = 0;

  std::string where() const {
    return "snapshot " + part + "[" + std::to_string(position) + "]";
  }
};

// The sections of `part` (data, master_data or filtered_rows) of the
// document whose rows `spill` holds, in the document's order.
std::vector<Section> spilled_sections(const core::SnapshotSummary& summary, const SpilledRows& spill,
                                      const std::string& part);

}  // namespace ptb::pg
