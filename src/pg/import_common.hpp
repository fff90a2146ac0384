// What the import's files share: SQL through SPI, read-write; how a table
// and a tenant are named in messages (core/import_refusals names tenants);
// the error for a document of an unexpected shape.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/import_refusals.hpp"
#include "pg/server_names.hpp"
#include "pg/spi.hpp"

namespace ptb::pg {

// --- SQL through SPI, read-write ----------------------------------------
// Every statement takes a new snapshot (SPI's default for read-write), so
// each sees what the statements before it wrote, COPY included.

using SqlResult = Spi::Result;
using TableKey = std::pair<std::string, std::string>;  // schema, name

SqlResult run(const std::string& sql, const std::vector<TextValue>& params = {});

using core::quoted_tenant;  // tenant "x", or the whole database

// ERROR 22023, snapshot has an unexpected shape: `what`.
[[noreturn]] void bad_shape(const char* what);

}  // namespace ptb::pg
