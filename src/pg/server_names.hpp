// Names as the server prints them, for messages.
#pragma once

#include <string>

namespace ptb::pg {

// schema.name, each quoted only where the server would (mixed case,
// special characters, keywords): orders, "Order Lines", public."order".
std::string table_display(const std::string& schema, const std::string& name);

}  // namespace ptb::pg
