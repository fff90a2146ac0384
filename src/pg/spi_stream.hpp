// The one SPI call that hands rows to a DestReceiver (pg/spi.hpp has the
// rest): server files only, as its argument is a server type.
#pragma once

#include <string>
#include <vector>

#include "pg/server.hpp"
#include "pg/spi.hpp"

namespace ptb::pg {

// Runs a read-only query whose rows go to `dest` (a streaming
// DestReceiver) instead of a materialized SPI_tuptable.
void run_streaming(const std::string& sql, const std::vector<TextValue>& params, DestReceiver* dest);

}  // namespace ptb::pg
