#include "core/snapshot_reader.hpp"

#include <limits>
#include <string_view>
#include <utility>

#include "core/error.hpp"
#include "core/json_scan.hpp"
#include "core/names.hpp"

namespace ptb::core {

namespace {

using json = nlohmann::json;

// Longest piece of document text quoted in a message.
constexpr size_t kMaxQuoted = 200;

// The length of the well-formed UTF-8 sequence at the start of text, or 0.
size_t utf8_sequence(std::string_view text) {
  auto at = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = at(0);
  if (lead < 0x80) return 1;
  size_t length;
  unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // no overlong forms
    if (lead == 0xED) high = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < length || at(1) < low || at(1) > high) return 0;
  for (size_t k = 2; k < length; ++k)
    if ((at(k) & 0xC0) != 0x80) return 0;
  return length;
}

// Text from the document made fit for a message: invalid UTF-8 becomes
// '?' (a server message must be valid in its encoding) and long text is cut.
std::string printable(std::string_view text, size_t max = kMaxQuoted) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t length = utf8_sequence(text.substr(i));
    bool valid = length > 0;
    if (!valid) length = 1;
    if (out.size() + length > max) {
      out += "...";
      break;
    }
    if (valid)
      out.append(text.substr(i, length));
    else
      out += '?';
    i += length;
  }
  return out;
}

// A document string in a message: quoted, escaped and cut.
std::string quoted_text(std::string_view text) {
  std::string out;
  append_json_string(out, printable(text));
  return out;
}

std::optional<int64_t> as_int64(const json& value) {
  if (value.is_number_unsigned()) {
    auto v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(v);
  }
  if (value.is_number_integer()) return value.get<int64_t>();
  return std::nullopt;
}

// The top-level keys this reader knows, as bits (to find missing and
// repeated ones).
enum TopKey : unsigned {
  kFormat = 1,
  kFormatVersion = 2,
  kMetadata = 4,
  kSchema = 8,
  kMasterData = 16,
  kData = 32,
  kStatistics = 64,
  kFilteredRows = 128,  // optional (docs/format.md): since 0.2.0
};
constexpr unsigned kRequiredTopKeys = 127;
constexpr std::pair<TopKey, const char*> kTopKeys[] = {
    {kFormat, "format"},         {kFormatVersion, "format_version"}, {kMetadata, "metadata"},
    {kSchema, "schema"},         {kMasterData, "master_data"},       {kData, "data"},
    {kStatistics, "statistics"},   {kFilteredRows, "filtered_rows"},
};

// The keys of a row section.
enum TableKey : unsigned {
  kTableSchema = 1,
  kTableName = 2,
  kTableRole = 4,
  kTableColumns = 8,
  kTableRows = 16,
};
constexpr std::pair<TableKey, const char*> kTableKeys[] = {
    {kTableSchema, "schema"},   {kTableName, "name"}, {kTableRole, "role"},
    {kTableColumns, "columns"}, {kTableRows, "rows"},
};

template <typename Key, size_t N>
unsigned key_bit(const std::pair<Key, const char*> (&keys)[N], std::string_view name) {
  for (const auto& [bit, key] : keys)
    if (name == key) return bit;
  return 0;
}

// What the next value in the document is, from where the parser stands.
enum class Target {
  Root,
  Format,
  FormatVersion,
  Metadata,
  Schema,
  SchemaTables,
  MasterData,
  Data,
  FilteredRows,
  Statistics,
  Section,  // an element of data / master_data / filtered_rows
  TableSchema,
  TableName,
  TableRole,
  TableColumns,
  TableRows,
  ColumnName,
  Row,
  RowValue,
  SchemaList,      // schema.enums, schema.domains: arrays, content not judged
  SchemaTable,     // an element of schema.tables
  DefSchema,       // schema.tables[i].schema
  DefName,         // schema.tables[i].name
  DefColumns,      // schema.tables[i].columns
  ColumnDef,       // an element of it
  ColumnDefName,   // its name
  ColumnDefEncoding,  // its encoding (a string, else ignored: the importer falls back to the type)
  ColumnDefType,      // its type and whether it was NOT NULL (else ignored: the importer
  ColumnDefNotNull,   // then sees no change of schema in that column)
  Ignore,  // a value under a key this reader does not know
};

// The containers the reader follows; everything else is skipped (only its
// depth counted) or, for metadata and statistics, built.
enum class FrameKind {
  Top, Schema, Sections, Table, Columns, Rows, Row,
  SchemaTables, SchemaTable, ColumnDefs, ColumnDef,  // schema.tables: shape only
};

// The keys of a schema.tables entry and of one of its columns that the
// reader checks the type of (the importer reads them).
enum SchemaTableKey : unsigned { kDefSchema = 1, kDefName = 2, kDefColumns = 4 };
constexpr std::pair<SchemaTableKey, const char*> kDefKeys[] = {
    {kDefSchema, "schema"}, {kDefName, "name"}, {kDefColumns, "columns"}};

struct Frame {
  FrameKind kind;
  unsigned key = 0;      // objects: bit of the key whose value comes next
  const char* section = nullptr;  // Sections: "data", "master_data" or "filtered_rows"
  int64_t position = 0;  // Row: its index in rows
  int64_t count = 0;     // arrays: elements so far
};

// The row section being read.
struct TableState {
  TableCount count;
  int64_t position = 0;  // in its section array
  unsigned seen = 0;     // TableKey bits
  bool schema_is_string = false;
  bool name_is_string = false;
  std::string problem;  // the first thing found wrong
  // Row lengths are checked against columns at the section's end, because
  // "rows" may come before "columns" (jsonb key order). Rather than every
  // length, it is enough to keep the first row's and the first that
  // differs from it.
  int64_t first_row = -1;
  int64_t first_length = 0;
  int64_t odd_row = -1;
  int64_t odd_length = 0;
};

// The SAX handler: follows the document's structure, checks it as it goes
// and collects the summary.
class SnapshotHandler {
 public:
  explicit SnapshotHandler(RowVisitor* rows = nullptr) : visitor_(rows) {}

  // --- What JsonScanner calls (nlohmann's SAX interface). Floats come as
  // long double, so a number beyond a double's range (jsonb keeps 1e400
  // exactly and writes it as 401 digits) still reads; rows keep its text.
  bool null() {
    if (skipping()) return true;
    if (capturing()) return capture_scalar(CellKind::Null, "null");
    if (building()) return dom_add(nullptr, 4);
    Target target = take_target();
    if (target == Target::RowValue && visitor_) return add_cell(CellKind::Null, {});
    other_value(target);
    return true;
  }

  bool boolean(bool value) {
    if (skipping()) return true;
    const char* text = value ? "true" : "false";
    if (capturing()) return capture_scalar(CellKind::Literal, text);
    if (building()) return dom_add(value, 5);
    Target target = take_target();
    if (target == Target::RowValue && visitor_) return add_cell(CellKind::Literal, text);
    if (target == Target::ColumnDefNotNull && visitor_) def_column_["not_null"] = value;
    other_value(target);
    return true;
  }

  bool number_integer(int64_t value) {
    if (skipping()) return true;
    if (capturing()) return capture_scalar(CellKind::Literal, std::to_string(value));
    if (building()) return dom_add(value, 20);
    Target target = take_target();
    if (target == Target::RowValue && visitor_) return add_cell(CellKind::Literal, std::to_string(value));
    if (target == Target::FormatVersion)
      check_version(value, std::to_string(value));
    else
      other_value(target);
    return true;
  }

  bool number_unsigned(uint64_t value) {
    if (skipping()) return true;
    if (capturing()) return capture_scalar(CellKind::Literal, std::to_string(value));
    if (building()) return dom_add(value, 20);
    Target target = take_target();
    if (target == Target::RowValue && visitor_) return add_cell(CellKind::Literal, std::to_string(value));
    if (target == Target::FormatVersion) {
      std::optional<int64_t> exact;
      if (value <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        exact = static_cast<int64_t>(value);
      check_version(exact, std::to_string(value));
    } else {
      other_value(target);
    }
    return true;
  }

  bool number_float(long double value, const std::string& text) {
    if (skipping()) return true;
    // Rows keep the number's text: a double would round numeric values.
    if (capturing()) return capture_scalar(CellKind::Literal, text);
    if (building()) return dom_add(value, text.size());
    Target target = take_target();
    if (target == Target::RowValue && visitor_) return add_cell(CellKind::Literal, text);
    if (target == Target::FormatVersion)
      version_problem(
          Error(sqlstate::kInvalidParameterValue,
                "snapshot \"format_version\" is not an integer (" + printable(text) + ")"));
    else
      other_value(target);
    return true;
  }

  bool string(std::string& value) {
    if (skipping()) return true;
    if (capturing()) return capture_string(value);
    if (building()) return dom_add(value, value.size() + 2);
    Target target = take_target();
    switch (target) {
      case Target::RowValue:
        if (visitor_) add_cell(CellKind::String, value);
        break;
      case Target::Format: check_format(value); break;
      case Target::TableSchema:
        table_.count.schema = value;
        table_.schema_is_string = true;
        break;
      case Target::TableName:
        table_.count.name = value;
        table_.name_is_string = true;
        break;
      case Target::TableRole: table_.count.role = value; break;
      case Target::ColumnName: table_.count.column_names.push_back(value); break;
      case Target::DefSchema: keep_def(def_table_["schema"], value); break;
      case Target::DefName: keep_def(def_table_["name"], value); break;
      case Target::ColumnDefName: keep_def(def_column_["name"], value); break;
      case Target::ColumnDefEncoding: keep_def(def_column_["encoding"], value); break;
      case Target::ColumnDefType: keep_def(def_column_["type"], value); break;
      default: other_value(target); break;
    }
    return true;
  }

  bool start_object(std::size_t) {
    enter();
    if (skipping()) {
      ++skip_depth_;
      return true;
    }
    if (capturing()) return capture_open(true);
    if (building()) return dom_add(json::object(), 2);
    Target target = take_target();
    switch (target) {
      case Target::RowValue:
        if (visitor_) return begin_capture(true);
        skip_depth_ = 1;
        break;
      case Target::Root: stack_.push_back({FrameKind::Top}); break;
      case Target::Metadata: begin_dom(summary_.metadata, "metadata"); break;
      case Target::Statistics: begin_dom(summary_.statistics, "statistics"); break;
      case Target::Schema: stack_.push_back({FrameKind::Schema}); break;
      case Target::Section:
        table_ = TableState{};
        table_.count.section = current_section();
        table_.position = position_;
        stack_.push_back({FrameKind::Table});
        break;
      case Target::SchemaTable:
        schema_table_ = position_;
        def_table_ = json{{"columns", json::array()}};
        stack_.push_back({FrameKind::SchemaTable});
        break;
      case Target::ColumnDef:
        column_def_ = position_;
        def_column_ = json::object();
        stack_.push_back({FrameKind::ColumnDef});
        break;
      default:
        other_value(target);
        skip_depth_ = 1;
        break;
    }
    return true;
  }

  bool start_array(std::size_t) {
    enter();
    if (skipping()) {
      ++skip_depth_;
      return true;
    }
    if (capturing()) return capture_open(false);
    if (building()) return dom_add(json::array(), 2);
    Target target = take_target();
    switch (target) {
      case Target::Data: stack_.push_back({FrameKind::Sections, 0, "data"}); break;
      case Target::MasterData: stack_.push_back({FrameKind::Sections, 0, "master_data"}); break;
      case Target::FilteredRows:
        summary_.records_filtered_rows = true;
        stack_.push_back({FrameKind::Sections, 0, "filtered_rows"});
        break;
      case Target::TableColumns:
        table_.count.column_names.clear();
        stack_.push_back({FrameKind::Columns});
        break;
      case Target::TableRows:
        if (visitor_) visitor_->begin_rows(table_.count.section, table_.position);
        stack_.push_back({FrameKind::Rows});
        break;
      case Target::Row:
        stack_.push_back({FrameKind::Row, 0, nullptr, position_});
        arena_.clear();
        cells_.clear();
        break;
      case Target::SchemaTables:
        // Kept (schema, name, column names and encodings) for an importer
        // that streams: it needs the encodings before the rows.
        if (visitor_) summary_.schema_tables = json::array();
        stack_.push_back({FrameKind::SchemaTables});
        break;
      case Target::DefColumns: stack_.push_back({FrameKind::ColumnDefs}); break;
      case Target::SchemaList: skip_depth_ = 1; break;  // its content is the importer's to read
      case Target::RowValue:
        if (visitor_) return begin_capture(false);
        skip_depth_ = 1;
        break;
      case Target::Ignore: skip_depth_ = 1; break;
      default:
        other_value(target);
        skip_depth_ = 1;
        break;
    }
    return true;
  }

  bool key(std::string& name) {
    if (skipping()) return true;
    if (capturing()) return capture_key(name);
    if (building()) {
      dom_count(name.size() + 3);
      dom_key_ = name;
      return true;
    }
    Frame& frame = stack_.back();
    switch (frame.kind) {
      case FrameKind::Top:
        frame.key = key_bit(kTopKeys, name);
        if (frame.key != 0 && (seen_ & frame.key) != 0)
          fail(Error(sqlstate::kInvalidParameterValue,
                     "snapshot has the key \"" + name + "\" twice"));
        seen_ |= frame.key;
        break;
      case FrameKind::Schema:
        frame.key = name == "tables" ? 1 : name == "enums" || name == "domains" ? 2 : 0;
        schema_list_ = name;
        schema_tables_seen_ = schema_tables_seen_ || frame.key == 1;
        break;
      case FrameKind::SchemaTable:
        frame.key = key_bit(kDefKeys, name);
        frame.count |= frame.key;  // the keys seen
        break;
      case FrameKind::ColumnDef:
        frame.key = name == "name" ? 1 : name == "encoding" ? 2 : name == "type" ? 4 : name == "not_null" ? 8 : 0;
        frame.count |= frame.key;
        break;
      case FrameKind::Table:
        frame.key = key_bit(kTableKeys, name);
        if (frame.key != 0 && (table_.seen & frame.key) != 0)
          table_problem("the key \"" + name + "\" appears twice");
        table_.seen |= frame.key;
        break;
      default: break;  // arrays have no keys
    }
    return true;
  }

  // Closing a value skipped, captured whole or built as a DOM: that is all
  // there is to do (its result is returned); nullopt for a tracked frame.
  std::optional<bool> close_untracked() {
    leave();
    if (skipping()) {
      --skip_depth_;
      return true;
    }
    if (capturing()) return capture_close();
    if (building()) {
      dom_stack_.pop_back();
      return true;
    }
    return std::nullopt;
  }

  bool end_object() {
    if (const auto done = close_untracked()) return *done;
    Frame frame = stack_.back();
    stack_.pop_back();
    if (frame.kind == FrameKind::Table) end_table();
    if (frame.kind == FrameKind::SchemaTable)
      for (const auto& [bit, key] : kDefKeys)
        if ((frame.count & bit) == 0)
          fail(Error(sqlstate::kInvalidParameterValue,
                     schema_table_path() + " has no \"" + key + "\""));
    if (frame.kind == FrameKind::ColumnDef && (frame.count & 1) == 0)
      fail(Error(sqlstate::kInvalidParameterValue, column_def_path() + " has no \"name\""));
    if (visitor_ && frame.kind == FrameKind::ColumnDef) def_table_["columns"].push_back(std::move(def_column_));
    if (visitor_ && frame.kind == FrameKind::SchemaTable) summary_.schema_tables.push_back(std::move(def_table_));
    return true;
  }

  bool end_array() {
    if (const auto done = close_untracked()) return *done;
    Frame frame = stack_.back();
    stack_.pop_back();
    switch (frame.kind) {
      case FrameKind::Columns: table_.count.columns = static_cast<size_t>(frame.count); break;
      case FrameKind::Rows: table_.count.rows = frame.count; break;
      case FrameKind::Row:
        end_row(frame.position, frame.count);
        if (visitor_) hand_over_row();
        break;
      default: break;
    }
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const json::exception& error) {
    std::string_view message = error.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " tag.
    if (!message.empty() && message.front() == '[') {
      auto end = message.find("] ");
      if (end != std::string_view::npos) message.remove_prefix(end + 2);
    }
    parse_error_ = printable(message, 400);
    return false;
  }

  // --- After the parse.

  [[noreturn]] void throw_parse_error() const {
    throw Error(sqlstate::kInvalidTextRepresentation,
                "snapshot is not valid JSON: " + parse_error_);
  }

  SnapshotSummary finish() {
    if ((seen_ & kFormat) == 0)
      throw Error(sqlstate::kInvalidParameterValue,
                  "not a pg_tenant_backup snapshot (no \"format\" key)");
    if (version_error_) throw *version_error_;
    if ((seen_ & kFormatVersion) == 0)
      throw Error(sqlstate::kInvalidParameterValue, "snapshot has no \"format_version\" key");
    if (deferred_) throw *deferred_;
    for (const auto& [bit, name] : kTopKeys)
      if ((bit & kRequiredTopKeys) != 0 && (seen_ & bit) == 0)
        throw Error(sqlstate::kInvalidParameterValue,
                    std::string("snapshot has no \"") + name + "\" key");
    if (!schema_tables_seen_)
      throw Error(sqlstate::kInvalidParameterValue, "snapshot has no schema.tables");
    read_metadata();
    check_statistics();
    summary_.tables = std::move(master_sections_);
    for (auto& t : data_sections_) summary_.tables.push_back(std::move(t));
    for (auto& t : filtered_sections_) summary_.tables.push_back(std::move(t));
    return std::move(summary_);
  }

 private:
  // Nesting is counted for every container, whether followed, built or
  // skipped (the scanner itself does not recurse).
  void enter() {
    if (++depth_ > kMaxSnapshotDepth)
      throw Error(sqlstate::kProgramLimitExceeded,
                  "snapshot nests deeper than " + std::to_string(kMaxSnapshotDepth) + " levels");
  }
  void leave() { --depth_; }

  // Inside a container whose content does not matter.
  bool skipping() const { return skip_depth_ > 0; }

  Target take_target() {
    if (stack_.empty()) return Target::Root;
    Frame& frame = stack_.back();
    unsigned key = std::exchange(frame.key, 0u);
    switch (frame.kind) {
      case FrameKind::Top:
        switch (key) {
          case kFormat: return Target::Format;
          case kFormatVersion: return Target::FormatVersion;
          case kMetadata: return Target::Metadata;
          case kSchema: return Target::Schema;
          case kMasterData: return Target::MasterData;
          case kData: return Target::Data;
          case kFilteredRows: return Target::FilteredRows;
          case kStatistics: return Target::Statistics;
          default: return Target::Ignore;
        }
      case FrameKind::Schema:
        return key == 1 ? Target::SchemaTables : key == 2 ? Target::SchemaList : Target::Ignore;
      case FrameKind::SchemaTables: position_ = frame.count++; return Target::SchemaTable;
      case FrameKind::SchemaTable:
        switch (key) {
          case kDefSchema: return Target::DefSchema;
          case kDefName: return Target::DefName;
          case kDefColumns: return Target::DefColumns;
          default: return Target::Ignore;
        }
      case FrameKind::ColumnDefs: position_ = frame.count++; return Target::ColumnDef;
      case FrameKind::ColumnDef:
        return key == 1   ? Target::ColumnDefName
               : key == 2 ? Target::ColumnDefEncoding
               : key == 4 ? Target::ColumnDefType
               : key == 8 ? Target::ColumnDefNotNull
                          : Target::Ignore;
      case FrameKind::Sections:
        position_ = frame.count++;
        section_ = frame.section;
        return Target::Section;
      case FrameKind::Table:
        switch (key) {
          case kTableSchema: return Target::TableSchema;
          case kTableName: return Target::TableName;
          case kTableRole: return Target::TableRole;
          case kTableColumns: return Target::TableColumns;
          case kTableRows: return Target::TableRows;
          default: return Target::Ignore;
        }
      case FrameKind::Columns: position_ = frame.count++; return Target::ColumnName;
      case FrameKind::Rows: position_ = frame.count++; return Target::Row;
      case FrameKind::Row: ++frame.count; return Target::RowValue;
    }
    return Target::Ignore;
  }

  const char* current_section() const { return section_; }

  // A value of the wrong type for where it stands (any value is right for
  // row values and unknown keys).
  void other_value(Target target) {
    auto shape = [&](std::string message) {
      fail(Error(sqlstate::kInvalidParameterValue, std::move(message)));
    };
    switch (target) {
      case Target::RowValue:
      case Target::Ignore: return;
      case Target::Root:
        throw Error(sqlstate::kInvalidParameterValue,
                    "not a pg_tenant_backup snapshot (the document is not a JSON object)");
      case Target::Format:
        throw Error(sqlstate::kInvalidParameterValue,
                    "not a pg_tenant_backup snapshot (\"format\" is not a string)");
      case Target::FormatVersion:
        version_problem(Error(sqlstate::kInvalidParameterValue,
                              "snapshot \"format_version\" is not an integer"));
        return;
      case Target::Metadata: return shape("snapshot \"metadata\" is not an object");
      case Target::Schema: return shape("snapshot \"schema\" is not an object");
      case Target::Statistics: return shape("snapshot \"statistics\" is not an object");
      case Target::SchemaTables: return shape("snapshot schema.tables is not an array");
      case Target::SchemaList: return shape("snapshot schema." + schema_list_ + " is not an array");
      case Target::SchemaTable:
        return shape("snapshot schema.tables[" + std::to_string(position_) + "] is not an object");
      case Target::DefSchema: return shape(schema_table_path() + ".schema is not a string");
      case Target::DefName: return shape(schema_table_path() + ".name is not a string");
      case Target::DefColumns: return shape(schema_table_path() + ".columns is not an array");
      case Target::ColumnDef:
        return shape(schema_table_path() + ".columns[" + std::to_string(position_) + "] is not an object");
      case Target::ColumnDefName: return shape(column_def_path() + ".name is not a string");
      case Target::ColumnDefEncoding:
      case Target::ColumnDefType:
      case Target::ColumnDefNotNull: return;
      case Target::Data: return shape("snapshot \"data\" is not an array");
      case Target::MasterData: return shape("snapshot \"master_data\" is not an array");
      case Target::FilteredRows: return shape("snapshot \"filtered_rows\" is not an array");
      case Target::Section:
        return shape("snapshot " + std::string(current_section()) + "[" +
                     std::to_string(position_) + "] is not an object");
      case Target::TableSchema: return table_problem("\"schema\" is not a string");
      case Target::TableName: return table_problem("\"name\" is not a string");
      case Target::TableRole: return table_problem("\"role\" is not a string");
      case Target::TableColumns: return table_problem("\"columns\" is not an array");
      case Target::TableRows: return table_problem("\"rows\" is not an array");
      case Target::ColumnName:
        return table_problem("columns[" + std::to_string(position_) + "] is not a string");
      case Target::Row:
        return table_problem("row " + std::to_string(position_ + 1) + " is not an array");
    }
  }

  void check_version(std::optional<int64_t> value, const std::string& text) {
    if (value == kSnapshotFormatVersion) {
      version_ok_ = true;
      summary_.format_version = *value;
      if (format_ok_ && deferred_) throw *deferred_;
      return;
    }
    bool newer = !value || *value > kSnapshotFormatVersion;
    version_problem(Error(sqlstate::kFeatureNotSupported,
                          "snapshot format version " + text +
                              " is not supported by this version of pg_tenant_backup (supports " +
                              std::to_string(kSnapshotFormatVersion) + ")",
                          {}, newer ? "Upgrade pg_tenant_backup to a release that reads it." : ""));
  }

  void check_format(const std::string& value) {
    if (value != kSnapshotFormat)
      throw Error(sqlstate::kInvalidParameterValue,
                  "not a pg_tenant_backup snapshot (format " + quoted_text(value) + ")");
    format_ok_ = true;
    summary_.format = value;
    if (version_error_) throw *version_error_;
    if (version_ok_ && deferred_) throw *deferred_;
  }

  // Until format and format_version are known good, other problems wait:
  // a document of another format or version is refused for that (jsonb
  // puts "data" before "format_version"), not for a shape it may rightly
  // have. Once both are good, problems are raised at once.
  void fail(Error error) {
    if (format_ok_ && version_ok_) throw error;
    if (!deferred_) deferred_ = std::move(error);
  }

  void version_problem(Error error) {
    version_ok_ = false;
    if (format_ok_) throw error;
    if (!version_error_) version_error_ = std::move(error);
  }

  void table_problem(std::string problem) {
    if (table_.problem.empty()) table_.problem = std::move(problem);
  }

  void end_row(int64_t row, int64_t length) {
    if (table_.first_row < 0) {
      table_.first_row = row;
      table_.first_length = length;
    } else if (length != table_.first_length && table_.odd_row < 0) {
      table_.odd_row = row;
      table_.odd_length = length;
    }
  }

  void end_table() {
    TableState& t = table_;
    const bool master = t.count.section == "master_data";
    const bool filtered = t.count.section == "filtered_rows";
    std::string problem = std::move(t.problem);
    for (const auto& [bit, name] : kTableKeys)
      if (problem.empty() && (t.seen & bit) == 0)
        problem = std::string("\"") + name + "\" is missing";
    if (problem.empty()) {
      const std::string& role = t.count.role;
      bool known = filtered ? role == "filtered"
                   : master ? role == "master" || role == "reference"
                            : role == "tenant" || role == "child";
      if (!known)
        problem = "role " + quoted_text(role) + " is not valid in " + t.count.section +
                  (filtered ? " (filtered)" : master ? " (master or reference)" : " (tenant or child)");
    }
    // "columns": [] is valid: a table whose columns are all generated or
    // dropped; its rows are then empty arrays (checked below).
    if (problem.empty()) {
      auto columns = static_cast<int64_t>(t.count.columns);
      int64_t bad_row = -1, bad_length = 0;
      if (t.first_row >= 0 && t.first_length != columns) {
        bad_row = t.first_row;
        bad_length = t.first_length;
      } else if (t.odd_row >= 0) {
        bad_row = t.odd_row;
        bad_length = t.odd_length;
      }
      if (bad_row >= 0)
        problem = "row " + std::to_string(bad_row + 1) + " has " + std::to_string(bad_length) +
                  " values, but \"columns\" names " + std::to_string(columns);
    }
    if (!problem.empty()) {
      std::string where = "snapshot " + t.count.section + "[" + std::to_string(t.position) + "]";
      if (t.schema_is_string && t.name_is_string)
        where += " (" + printable(quote_qualified(t.count.schema, t.count.name)) + ")";
      fail(Error(sqlstate::kInvalidParameterValue, where + ": " + problem));
      return;
    }
    if (filtered) {
      filtered_sections_.push_back(std::move(t.count));
    } else if (master) {
      master_sections_.push_back(std::move(t.count));
    } else {
      summary_.total_rows += t.count.rows;
      data_sections_.push_back(std::move(t.count));
    }
  }

  // --- metadata and statistics, built as DOM.

  bool building() const { return !dom_stack_.empty(); }

  void begin_dom(json& root, const char* name) {
    root = json::object();
    dom_stack_.push_back(&root);
    dom_name_ = name;
    dom_bytes_ = 2;
  }

  void dom_count(size_t bytes) {
    dom_bytes_ += bytes + 1;
    if (dom_bytes_ > kMaxSnapshotSectionBytes)
      throw Error(sqlstate::kProgramLimitExceeded,
                  std::string("snapshot \"") + dom_name_ + "\" is larger than " +
                      std::to_string(kMaxSnapshotSectionBytes >> 20) + " MB");
  }

  // --- Row values for a RowVisitor. A row's cells are kept in arena_ (as
  // offsets: the arena grows) until the row ends; an object or array value
  // is captured as its JSON text.

  struct CellRef {
    CellKind kind;
    size_t offset, size;
    bool wrapped = false;  // {"$jsonb": v}: inner_* hold v
    CellKind inner_kind = CellKind::Null;
    size_t inner_offset = 0, inner_size = 0;
  };
  struct CaptureLevel {
    bool object;
    int64_t count = 0;
  };

  // A string of schema.tables an importer that streams needs.
  void keep_def(json& into, const std::string& value) {
    if (!visitor_) return;
    def_bytes_ += value.size() + 16;
    if (def_bytes_ > kMaxSnapshotSchemaBytes)
      throw Error(sqlstate::kProgramLimitExceeded, "snapshot schema.tables is larger than " +
                                             std::to_string(kMaxSnapshotSchemaBytes >> 20) + " MB");
    into = value;
  }

  bool capturing() const { return !capture_.empty(); }

  bool add_cell(CellKind kind, std::string_view text) {
    cells_.push_back({kind, arena_.size(), text.size()});
    arena_.append(text);
    return true;
  }

  // The value directly under the captured top-level object: a candidate
  // for the "$jsonb" wrapper.
  bool under_top_object() const { return capture_.size() == 1 && capture_.back().object; }

  void before_captured_value() {
    CaptureLevel& level = capture_.back();
    if (!level.object && level.count++ > 0) arena_ += ',';
  }

  bool capture_scalar(CellKind kind, std::string_view text) {
    before_captured_value();
    if (under_top_object()) {
      inner_kind_ = kind;
      inner_text_.assign(text);
    }
    arena_.append(text);
    return true;
  }

  bool capture_string(const std::string& value) {
    before_captured_value();
    if (under_top_object()) {
      inner_kind_ = CellKind::String;
      inner_text_ = value;
    }
    append_json_string(arena_, value);
    return true;
  }

  bool begin_capture(bool object) {
    cell_start_ = arena_.size();
    top_keys_ = 0;
    top_key_is_escape_ = false;
    capture_.push_back({object});
    arena_ += object ? '{' : '[';
    return true;
  }

  bool capture_open(bool object) {
    before_captured_value();
    if (under_top_object()) {
      inner_kind_ = CellKind::Json;
      inner_offset_ = arena_.size();
    }
    capture_.push_back({object});
    arena_ += object ? '{' : '[';
    return true;
  }

  bool capture_key(const std::string& name) {
    CaptureLevel& level = capture_.back();
    if (level.count++ > 0) arena_ += ',';
    if (capture_.size() == 1) {
      ++top_keys_;
      top_key_is_escape_ = top_keys_ == 1 && name == kJsonbEscapeKey;
    }
    append_json_string(arena_, name);
    arena_ += ':';
    return true;
  }

  bool capture_close() {
    const bool object = capture_.back().object;
    arena_ += object ? '}' : ']';
    capture_.pop_back();
    if (!capture_.empty()) return true;
    CellRef cell{CellKind::Json, cell_start_, arena_.size() - cell_start_};
    if (object && top_keys_ == 1 && top_key_is_escape_) {
      cell.wrapped = true;
      cell.inner_kind = inner_kind_;
      if (inner_kind_ == CellKind::Json) {  // its text is in the cell's, before the final '}'
        cell.inner_offset = inner_offset_;
        cell.inner_size = arena_.size() - 1 - inner_offset_;
      } else {
        // A wrapped JSON null stands for the jsonb value null.
        if (inner_kind_ == CellKind::Null) {
          cell.inner_kind = CellKind::Json;
          inner_text_ = "null";
        }
        cell.inner_offset = arena_.size();
        cell.inner_size = inner_text_.size();
        arena_ += inner_text_;
      }
    }
    cells_.push_back(cell);
    return true;
  }

  void hand_over_row() {
    row_.resize(cells_.size());
    for (size_t i = 0; i < cells_.size(); ++i) {
      const CellRef& c = cells_[i];
      row_[i].value = {c.kind, arena_.data() + c.offset, c.size};
      row_[i].jsonb_unwrapped.reset();
      if (c.wrapped) row_[i].jsonb_unwrapped = CopyCell{c.inner_kind, arena_.data() + c.inner_offset, c.inner_size};
    }
    visitor_->row(row_);
  }

  // Adds a value where the DOM being built stands; containers become the
  // new insertion point. (Pointers stay valid: a container gets no new
  // element while one of its children is open.)
  bool dom_add(json value, size_t bytes) {
    dom_count(bytes);
    json& parent = *dom_stack_.back();
    json* added;
    if (parent.is_object()) {
      added = &parent[dom_key_];
      *added = std::move(value);
    } else {
      parent.push_back(std::move(value));
      added = &parent.back();
    }
    if (added->is_structured()) dom_stack_.push_back(added);
    return true;
  }

  void read_metadata() {
    const json& m = summary_.metadata;
    auto bad = [](const std::string& what) {
      return Error(sqlstate::kInvalidParameterValue, "snapshot metadata." + what);
    };
    auto tenancy = m.find("tenancy");
    if (tenancy == m.end() || !tenancy->is_string())
      throw bad("tenancy is missing or not a string");
    summary_.tenancy = tenancy->get<std::string>();
    if (summary_.tenancy != "column" && summary_.tenancy != "schema")
      throw bad("tenancy is \"" + printable(summary_.tenancy) + "\", not \"column\" or \"schema\"");
    // The importer and upload take the snapshot's options from here.
    if (auto options = m.find("options"); options != m.end() && !options->is_object())
      throw bad("options is not an object");
    auto tenant = m.find("tenant");
    if (tenant == m.end() || !tenant->is_object()) throw bad("tenant is missing or not an object");
    auto optional_string = [&](const char* key) -> std::optional<std::string> {
      auto it = tenant->find(key);
      if (it == tenant->end() || !(it->is_string() || it->is_null()))
        throw bad(std::string("tenant.") + key + " is missing or neither a string nor null");
      if (it->is_null()) return std::nullopt;
      return it->get<std::string>();
    };
    summary_.tenant_id = optional_string("id");
    summary_.tenant_name = optional_string("name");
  }

  // statistics carries one count per section; a document whose rows do not
  // add up was cut or altered.
  void check_statistics() {
    const json& s = summary_.statistics;
    auto shape = [](const std::string& what) {
      return Error(sqlstate::kInvalidParameterValue, "snapshot statistics." + what);
    };
    auto mismatch = [](const std::string& what) {
      return Error(sqlstate::kDataCorrupted, "snapshot statistics do not match its rows: " + what);
    };
    auto compare = [&](const char* key, const std::vector<TableCount>& sections,
                       const char* section, bool required) {
      auto list = s.find(key);
      if (list == s.end()) {
        if (required) throw shape(std::string(key) + " is missing");
        return;
      }
      if (!list->is_array()) throw shape(std::string(key) + " is not an array");
      std::vector<const json*> counts;
      for (size_t i = 0; i < list->size(); ++i) {
        const json& entry = (*list)[i];
        auto rows = entry.is_object() ? entry.find("rows") : entry.end();
        if (!entry.is_object() || rows == entry.end() || !rows->is_number_integer())
          throw shape(std::string(key) + "[" + std::to_string(i) +
                      "].rows is missing or not an integer");
        counts.push_back(&*rows);
      }
      if (counts.size() != sections.size())
        throw mismatch("statistics." + std::string(key) + " lists " +
                       std::to_string(counts.size()) + " tables, but " + section + " has " +
                       std::to_string(sections.size()) + " sections");
      for (size_t i = 0; i < counts.size(); ++i)
        if (as_int64(*counts[i]) != sections[i].rows)
          throw mismatch("statistics." + std::string(key) + "[" + std::to_string(i) + "] says " +
                         counts[i]->dump() + " rows, but " + section + "[" + std::to_string(i) +
                         "] (" + printable(quote_qualified(sections[i].schema, sections[i].name)) +
                         ") has " + std::to_string(sections[i].rows));
    };
    compare("tables", data_sections_, "data", true);
    // Always written by version 1, but only "tables" and "total_rows" are
    // needed to check the rows.
    compare("master_tables", master_sections_, "master_data", false);
    // Written with filtered_rows, always: one without the other was cut or
    // edited (a document without either is one from before 0.2.0).
    compare("filtered_tables", filtered_sections_, "filtered_rows", summary_.records_filtered_rows);

    auto total = s.find("total_rows");
    if (total == s.end() || !total->is_number_integer())
      throw shape("total_rows is missing or not an integer");
    if (as_int64(*total) != summary_.total_rows)
      throw mismatch("statistics.total_rows says " + total->dump() + ", but data has " +
                     std::to_string(summary_.total_rows) + " rows");
    auto table_count = s.find("table_count");
    if (table_count != s.end()) {
      if (!table_count->is_number_integer()) throw shape("table_count is not an integer");
      if (as_int64(*table_count) != static_cast<int64_t>(data_sections_.size()))
        throw mismatch("statistics.table_count says " + table_count->dump() + ", but data has " +
                       std::to_string(data_sections_.size()) + " sections");
    }
  }

  SnapshotSummary summary_;
  std::vector<TableCount> master_sections_;
  std::vector<TableCount> data_sections_;
  std::vector<TableCount> filtered_sections_;

  std::vector<Frame> stack_;
  int depth_ = 0;
  int skip_depth_ = 0;    // > 0: inside a container being skipped
  int64_t position_ = 0;  // array index of the value being started
  const char* section_ = "data";  // the section array being read
  TableState table_;
  unsigned seen_ = 0;  // TopKey bits
  bool schema_tables_seen_ = false;
  std::string schema_list_;  // the schema key being read ("enums", "domains")
  int64_t schema_table_ = 0;  // index of the schema.tables entry being read
  int64_t column_def_ = 0;    // index of the column entry being read in it

  std::string schema_table_path() const {
    return "snapshot schema.tables[" + std::to_string(schema_table_) + "]";
  }
  std::string column_def_path() const {
    return schema_table_path() + ".columns[" + std::to_string(column_def_) + "]";
  }

  std::vector<json*> dom_stack_;
  std::string dom_key_;
  const char* dom_name_ = "";
  size_t dom_bytes_ = 0;

  RowVisitor* visitor_ = nullptr;
  json def_table_;   // the schema.tables entry being read (when streaming)
  json def_column_;  // and its column
  size_t def_bytes_ = 0;
  std::string arena_;  // the current row's values
  std::vector<CellRef> cells_;
  std::vector<RowCell> row_;
  std::vector<CaptureLevel> capture_;  // open containers of a captured value
  size_t cell_start_ = 0;
  int top_keys_ = 0;
  bool top_key_is_escape_ = false;
  CellKind inner_kind_ = CellKind::Null;
  std::string inner_text_;
  size_t inner_offset_ = 0;

  bool format_ok_ = false;
  bool version_ok_ = false;
  std::optional<Error> version_error_;  // a bad format_version, seen before format
  std::optional<Error> deferred_;       // the first other problem, seen before both
  std::string parse_error_;
};

}  // namespace

namespace {

SnapshotSummary read(Source& source, RowVisitor* rows) {
  SnapshotHandler handler(rows);
  JsonScanner<SnapshotHandler> scanner(source, handler);
  if (!scanner.run()) handler.throw_parse_error();
  return handler.finish();
}

}  // namespace

SnapshotSummary read_snapshot_summary(Source& source) { return read(source, nullptr); }

SnapshotSummary read_snapshot(Source& source, RowVisitor& rows) { return read(source, &rows); }

}  // namespace ptb::core
