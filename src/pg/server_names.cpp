#include "pg/server_names.hpp"

#include "pg/guarded.hpp"

namespace ptb::pg {

std::string table_display(const std::string& schema, const std::string& name) {
  const char* text = nullptr;
  guarded([&] { text = quote_qualified_identifier(schema.c_str(), name.c_str()); });
  return text;
}

}  // namespace ptb::pg
