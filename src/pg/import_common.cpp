// What the import's files share (import_common.hpp).
#include "pg/import_common.hpp"

#include "core/error.hpp"
#include "core/sqlstate.hpp"
#include "pg/boundary.hpp"

namespace ptb::pg {

SqlResult run(const std::string& sql, const std::vector<TextValue>& params) {
  return Spi::execute_returning(sql, params);
}

std::string table_display(const std::string& schema, const std::string& name) {
  const char* text = nullptr;
  guarded([&] { text = quote_qualified_identifier(schema.c_str(), name.c_str()); });
  return text;
}

std::string quoted_tenant(const std::optional<std::string>& tenant) {
  return tenant ? "tenant \"" + *tenant + "\"" : "the whole database";
}

// Thrown, not raised: the callers hold C++ objects an ereport would
// jump over (DESIGN.md, rule 2); entry() turns it into the ERROR.
[[noreturn]] void bad_shape(const char* what) {
  throw core::Error(core::sqlstate::kInvalidParameterValue,
                    std::string("snapshot has an unexpected shape: ") + what, {},
                    "Import the snapshot as backup_export or backup_create wrote it.");
}

}  // namespace ptb::pg
