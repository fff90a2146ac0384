// What the import's files share (import_common.hpp).
#include "pg/import_common.hpp"

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

[[noreturn]] void bad_shape(const char* what) {
  ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                  errmsg("snapshot has an unexpected shape: %s", what)));
  pg_unreachable();
}

}  // namespace ptb::pg
