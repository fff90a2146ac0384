// A merge stages only the rows of a section that differ from the table's
// (docs/import.md, "Rows a merge finds unchanged"). Each row is compared
// as the COPY text line a stage would load: the snapshot's line, and the
// line the table's current row gives when its values are written as the
// export writes them. Equal lines load equal values (the export's text
// round-trips), so the merge's update would leave such a row as it is;
// the row is not staged. The comparison goes through fingerprints of the
// lines, so memory is a few bytes a row, not the rows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/value_encoding.hpp"

namespace ptb::core {

// 96 bits of a line's hash: two different lines with the same fingerprint
// are a chance of about n * m / 2^96 for n snapshot lines, m table rows.
#pragma pack(push, 4)
struct RowFingerprint {
  uint64_t high = 0;
  uint32_t low = 0;
  bool operator==(const RowFingerprint& o) const { return high == o.high && low == o.low; }
  bool operator<(const RowFingerprint& o) const { return high != o.high ? high < o.high : low < o.low; }
};
#pragma pack(pop)
static_assert(sizeof(RowFingerprint) == 12, "a fingerprint takes 12 bytes");

// A section too large for the memory its fingerprints may take is
// compared in parts, by its keys: part p of n holds the rows whose key's
// hash falls in the p-th of n equal ranges. The hash is of the key's fields
// as a COPY line has them (tab-separated, key_of_line), for the section's
// rows as COPY reads them and for the table's rows as the export writes
// them alike.
struct KeyPart {
  uint32_t part = 0;
  uint32_t parts = 1;
  static uint32_t of(uint32_t key_hash, uint32_t parts) {
    return static_cast<uint32_t>((uint64_t{key_hash} * parts) >> 32);
  }
  bool covers(uint32_t key_hash) const { return parts == 1 || of(key_hash, parts) == part; }
};

// A COPY line's key fields (at these places), tab-separated.
std::string key_of_line(std::string_view line, const std::vector<size_t>& key_fields);

// The parts a section of `rows` rows is compared in, for fingerprints of
// at most `budget` bytes at a time (TableRows::kBytesPerRow a row); 0 when
// it would take more than `max_parts` (a read of the table each).
uint32_t fingerprint_parts(uint64_t rows, uint64_t budget, uint32_t max_parts);

// The tenant's rows of one table (of one part), by fingerprint: a snapshot
// row of that part whose line is one of theirs is unchanged. Sorted, with
// a directory by the first bits (fingerprints are uniform): a lookup reads
// a few neighbouring entries.
class TableRows {
 public:
  // At most `max_rows` rows are kept (kBytesPerRow each); past that the
  // set is dropped and overflowed() says so (nothing is then found
  // unchanged). Room for all of them is reserved at once, so the rows are
  // never moved to a larger vector while the old one is held (its pages
  // take memory only as rows are written into them).
  explicit TableRows(uint64_t max_rows);
  // At most: a fingerprint, a byte of directory.
  static constexpr uint64_t kBytesPerRow = sizeof(RowFingerprint) + 1;

  void add(const RowFingerprint& f);
  // After the last row.
  void seal();
  bool contains(const RowFingerprint& f) const;
  bool overflowed() const { return overflowed_; }
  size_t size() const { return rows_.size(); }

 private:
  uint64_t max_rows_;
  bool overflowed_ = false;
  std::vector<RowFingerprint> rows_;  // sorted by seal()
  std::vector<uint32_t> directory_;   // per value of the first bits, the first row with it
  int directory_bits_ = 0;
};

// True when two of the fingerprints are equal (sorts them).
bool has_repeats(std::vector<uint64_t>& key_fingerprints);

// What a key column's values are, when its text is enough to say whether
// two keys are equal: then a key the snapshot repeats is seen in the
// lines, before any row is staged.
enum class KeyText { Integer, Uuid };
// From the operator class of the table's unique index (schema.name, as
// StagedTable holds it); none for any other class.
std::optional<KeyText> key_text_of(std::string_view opclass);
// Whether a key field of a COPY line is in the one form the type writes:
// an integer without sign, zeros or spaces it need not have; a uuid in
// lower case with its hyphens. Any other form (the type would read "-0" or
// "007" as 0 or 7) stages the section whole.
bool canonical_key_field(std::string_view field, KeyText kind);

// The `column`th field of a COPY text line (no newline); none when the line
// has fewer fields.
std::optional<std::string_view> copy_field(std::string_view line, size_t column);

// Appends the COPY field a snapshot cell of this encoding loads as, from
// the value's text as the server writes it under the export's settings
// (fix_output_settings: bytea in hex): the same field append_copy_field
// makes of the cell the export wrote. `own_type`: the column's type is
// the one the encoding was chosen for (a boolean's t / f and a jsonb's
// spacing are the snapshot's true / false and compact text only then: a
// column changed to text since holds its text as it is). False, with the
// line unfinished, for a value whose text does not say what the cell
// holds (a jsonb null, string or object keyed "$jsonb"): such a row is
// compared as changed.
bool append_copy_field_of_output(std::string& line, std::string_view output, ValueEncoding encoding,
                                 bool own_type);

// What decides whether a section leaves its unchanged rows out of the
// stage: only where nothing that reads the stage needs them. Facts about
// one table of one import.
struct UnchangedRowsFacts {
  bool merge_without_triggers = false;  // merge mode, fire_triggers off
  bool restoring_to_moment = false;     // changes are replayed into the stages
  bool staged = false;                  // a data section going through a stage
  bool unique_key = false;              // rows matched on a unique index of the table
  bool key_text_decides = false;        // every key column's text is its value (key_text_of)
  bool migrates = false;                // column_defaults, columns now NOT NULL or needing a value
  bool citus = false;
  // Step 7 checks the rows the import wrote, not every staged row, for
  // the rows' owner and for their foreign keys (import_verify.cpp).
  bool checks_read_written_rows = false;
  uint64_t rows = 0;  // in the section
  // The parts the section is compared in (fingerprint_parts); 0: too many.
  uint32_t parts = 0;
};
bool leaves_out_unchanged_rows(const UnchangedRowsFacts& facts);

}  // namespace ptb::core
