#include "core/unchanged_rows.hpp"

#include <algorithm>

#include "core/import_plan.hpp"
#include "core/names.hpp"

namespace ptb::core {

uint32_t fingerprint_parts(uint64_t rows, uint64_t budget, uint32_t max_parts) {
  const uint64_t bytes = rows * TableRows::kBytesPerRow;
  const uint64_t parts = budget == 0 ? UINT64_MAX : std::max<uint64_t>(1, (bytes + budget - 1) / budget);
  return parts > max_parts ? 0 : static_cast<uint32_t>(parts);
}

std::string key_of_line(std::string_view line, const std::vector<size_t>& key_fields) {
  std::string key;
  for (size_t i = 0; i < key_fields.size(); ++i) {
    if (i > 0) key += '\t';
    if (auto field = copy_field(line, key_fields[i])) key.append(*field);
  }
  return key;
}

TableRows::TableRows(uint64_t max_rows) : max_rows_(max_rows) { rows_.reserve(max_rows); }

void TableRows::add(const RowFingerprint& f) {
  if (overflowed_) return;
  if (rows_.size() >= max_rows_) {
    overflowed_ = true;
    std::vector<RowFingerprint>().swap(rows_);
    return;
  }
  rows_.push_back(f);
}

void TableRows::seal() {
  std::sort(rows_.begin(), rows_.end());
  // Four to eight rows per directory entry: at most a byte a row.
  directory_bits_ = 1;
  while (directory_bits_ < 30 && (uint64_t{1} << (directory_bits_ + 3)) < rows_.size()) ++directory_bits_;
  directory_.assign((size_t{1} << directory_bits_) + 1, 0);
  size_t at = 0;
  for (size_t k = 0; k < directory_.size(); ++k) {
    while (at < rows_.size() && (rows_[at].high >> (64 - directory_bits_)) < k) ++at;
    directory_[k] = static_cast<uint32_t>(at);
  }
  directory_.back() = static_cast<uint32_t>(rows_.size());
}

bool TableRows::contains(const RowFingerprint& f) const {
  if (rows_.empty()) return false;
  const size_t k = f.high >> (64 - directory_bits_);
  for (size_t at = directory_[k]; at < directory_[k + 1]; ++at)
    if (rows_[at] == f) return true;
  return false;
}

bool has_repeats(std::vector<uint64_t>& key_fingerprints) {
  std::sort(key_fingerprints.begin(), key_fingerprints.end());
  return std::adjacent_find(key_fingerprints.begin(), key_fingerprints.end()) != key_fingerprints.end();
}

std::optional<KeyText> key_text_of(std::string_view opclass) {
  // format('%I.%I'): quoted only where a name needs it, as these do not.
  if (opclass == "pg_catalog.int2_ops" || opclass == "pg_catalog.int4_ops" || opclass == "pg_catalog.int8_ops")
    return KeyText::Integer;
  if (opclass == "pg_catalog.uuid_ops") return KeyText::Uuid;
  return std::nullopt;
}

bool canonical_key_field(std::string_view field, KeyText kind) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  switch (kind) {
    case KeyText::Integer: {
      std::string_view digits = field;
      if (!digits.empty() && digits.front() == '-') digits.remove_prefix(1);
      if (digits.empty() || !std::all_of(digits.begin(), digits.end(), digit)) return false;
      if (digits.size() > 1 && digits.front() == '0') return false;
      return !(digits == "0" && digits.size() != field.size());  // "-0"
    }
    case KeyText::Uuid: {
      if (field.size() != 36) return false;
      for (size_t i = 0; i < field.size(); ++i) {
        const char c = field[i];
        const bool hyphen_place = i == 8 || i == 13 || i == 18 || i == 23;
        if (hyphen_place ? c != '-' : !(digit(c) || (c >= 'a' && c <= 'f'))) return false;
      }
      return true;
    }
  }
  return false;
}

std::optional<std::string_view> copy_field(std::string_view line, size_t column) {
  size_t start = 0;
  for (size_t i = 0; i < column; ++i) {
    const size_t tab = line.find('\t', start);
    if (tab == std::string_view::npos) return std::nullopt;
    start = tab + 1;
  }
  const size_t end = line.find('\t', start);
  return line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
}

namespace {

// jsonb_out's text as the snapshot reader keeps a nested value: without the
// spaces jsonb_out puts after commas and colons. Strings are escaped alike
// by both (append_json_string and the server's escape_json), so they pass
// through as they are.
std::string compact_json(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

bool append_copy_field_of_output(std::string& line, std::string_view output, ValueEncoding encoding,
                                 bool own_type) {
  if (!own_type) {
    append_copy_escaped(line, output);
    return true;
  }
  switch (encoding) {
    case ValueEncoding::Boolean:
      // boolout's t / f; the snapshot's true / false.
      if (output == "t") {
        line += "true";
        return true;
      }
      if (output == "f") {
        line += "false";
        return true;
      }
      return false;
    case ValueEncoding::Jsonb:
      // The reader keeps a nested value compact; a JSON null and an object
      // keyed "$jsonb" are wrapped by the export, and a string the reader
      // unescapes, for append_copy_field to quote again in its own way.
      if (output == "null" || output.empty() || output.front() == '"' || output.rfind("{\"$jsonb\"", 0) == 0)
        return false;
      append_copy_escaped(line, compact_json(output));
      return true;
    case ValueEncoding::Integer:
    case ValueEncoding::Float:
    case ValueEncoding::Numeric:
    case ValueEncoding::Json:
    case ValueEncoding::Text:
    case ValueEncoding::Bytea:  // byteaout's \x and hex, as append_copy_field writes it
      append_copy_escaped(line, output);
      return true;
  }
  return false;
}

bool leaves_out_unchanged_rows(const UnchangedRowsFacts& f) {
  return f.merge_without_triggers && !f.restoring_to_moment && f.staged && f.unique_key && f.key_text_decides &&
         !f.migrates && !f.citus && f.checks_read_written_rows && f.rows > 0 && f.parts > 0;
}

}  // namespace ptb::core
