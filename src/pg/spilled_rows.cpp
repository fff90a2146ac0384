// The sections of a document whose rows were spilled (spilled_rows.hpp).
#include "pg/spilled_rows.hpp"

#include "pg/import_common.hpp"

namespace ptb::pg {

std::vector<Section> spilled_sections(const core::SnapshotSummary& summary, const SpilledRows& spill,
                                      const std::string& part) {
  std::vector<Section> sections;
  int position = 0;
  for (const auto& t : summary.tables) {
    if (t.section != part) continue;
    Section s;
    s.part = part;
    s.position = position++;
    s.schema = t.schema;
    s.name = t.name;
    s.role = t.role;
    s.columns = t.column_names;
    if (t.rows > static_cast<int64_t>(UINT32_MAX))
      throw core::Error(core::sqlstate::kProgramLimitExceeded, s.where() + " has more rows than one import can take");
    s.row_count = static_cast<uint32>(t.rows);
    s.spilled = spill.start_of(part, s.position);
    if (!s.spilled && s.row_count > 0) bad_shape("rows of a section were not read");
    sections.push_back(std::move(s));
  }
  return sections;
}

}  // namespace ptb::pg
