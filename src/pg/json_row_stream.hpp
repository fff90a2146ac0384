// A query's rows streamed into a snapshot document as they are read: each
// row a JSON array of its values, encoded as docs/format.md says, through a
// DestReceiver (no row set is materialized: memory stays flat).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/json_writer.hpp"
#include "core/value_encoding.hpp"
#include "pg/spi.hpp"

namespace ptb::pg {

// Streams `sql`'s rows into the writer as the current array's elements;
// `encodings` has one per column. Returns how many rows there were.
int64_t stream_rows_as_json(const std::string& sql, const std::vector<TextValue>& params,
                            const std::vector<core::ValueEncoding>& encodings, core::JsonWriter& writer);

}  // namespace ptb::pg
