// What the import's files share (import_common.hpp).
#include "pg/import_common.hpp"

#include "core/error.hpp"
#include "core/sqlstate.hpp"

namespace ptb::pg {

SqlResult run(const std::string& sql, const std::vector<TextValue>& params) {
  return Spi::execute_returning(sql, params);
}

// Thrown, not raised: the callers hold C++ objects an ereport would
// jump over (docs/architecture.md, "The C++ / PostgreSQL boundary");
// entry() turns it into the ERROR.
[[noreturn]] void bad_shape(const char* what) {
  throw core::Error(core::sqlstate::kInvalidParameterValue,
                    std::string("snapshot has an unexpected shape: ") + what, {},
                    "Import the snapshot as backup_export or backup_create wrote it.");
}

}  // namespace ptb::pg
