// Fingerprints of COPY text lines (core/unchanged_rows.hpp): of a
// snapshot's rows as a stage would load them, and of a table's rows as
// the export would write them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/unchanged_rows.hpp"
#include "core/value_encoding.hpp"
#include "pg/spi.hpp"

struct BufFile;  // the server's temporary file (storage/buffile.h)

namespace ptb::pg {

// A line's fingerprint (the server's hash_bytes_extended, two seeds).
core::RowFingerprint line_fingerprint(std::string_view line);
// 64 bits of a key's fields (a third seed): equal keys, equal values.
uint64_t key_fingerprint(std::string_view fields);
// The hash that puts a key in its part (core::KeyPart).
uint32_t key_hash(std::string_view fields);

// Runs `sql` (a read-only query) and calls `visit` with each of its rows
// written as the COPY line a snapshot of these encodings would load (no
// newline). A row with a value whose text does not say what the snapshot
// holds (core::append_copy_field_of_output) is not visited: the snapshot's
// row is staged. Returns how many rows the query gave.
int64_t fingerprint_query_rows(const std::string& sql, const std::vector<TextValue>& params,
                               const std::vector<core::ValueEncoding>& encodings,
                               const std::function<void(std::string_view line)>& visit);

// Fingerprints waiting in a temporary file for their part's turn (a
// section compared in parts reads the table once: import_unchanged.cpp).
// At most `max_rows` + 1 are kept: read back into a TableRows of
// `max_rows`, one more says the part overflowed, and a tenant with far
// more rows than its snapshot fills no more disk than a part's budget.
// The file goes with the transaction at the latest.
class FingerprintFile {
 public:
  explicit FingerprintFile(uint64_t max_rows);
  ~FingerprintFile();
  FingerprintFile(const FingerprintFile&) = delete;
  FingerprintFile& operator=(const FingerprintFile&) = delete;
  void add(const core::RowFingerprint& f);
  // Every fingerprint added, into `rows`; the file is deleted then.
  void read_into(core::TableRows& rows);

 private:
  void flush();
  void close();
  ::BufFile* file_ = nullptr;
  std::string buffer_;
  uint64_t max_rows_;
  uint64_t rows_ = 0;
};

}  // namespace ptb::pg
