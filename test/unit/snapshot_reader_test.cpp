#include "core/snapshot_reader.hpp"

#include <gtest/gtest.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/compression.hpp"
#include "core/error.hpp"
#include "core/json_writer.hpp"
#include "core/read_along.hpp"

using namespace ptb::core;

namespace {

// --- Documents, written with the real JsonWriter in a chosen key order.

struct Section {
  std::string schema = "public";
  std::string name;
  std::string role;
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;  // each value as JSON text
};

struct Document {
  std::string format = "pg_tenant_backup";
  int64_t format_version = 1;
  std::optional<std::string> tenant_id = "2";
  std::optional<std::string> tenant_name = "Globex";
  std::vector<Section> master_data;
  std::vector<Section> data;
  // filtered_rows and statistics.filtered_tables (since 0.2.0): written
  // when set; `stated_filtered_rows` is what statistics claims.
  std::optional<std::vector<Section>> filtered;
  std::optional<std::vector<int64_t>> stated_filtered_rows;
  bool filtered_statistics = true;  // false: filtered_rows without its statistics
  // What statistics claims; by default, the truth.
  std::optional<std::vector<int64_t>> stated_table_rows;
  std::optional<int64_t> stated_total_rows;
  // Extra members added to the top-level object and to every section.
  std::vector<std::pair<std::string, std::string>> extra_top;
  std::vector<std::pair<std::string, std::string>> extra_section;
};

// The shop example of docs/format.md, tenant 2.
Document shop() {
  Document d;
  d.master_data = {
      {"public",
       "countries",
       "master",
       {"code", "name", "currency"},
       {{"\"JP\"", "\"Japan\"", "\"JPY\""}, {"\"US\"", "\"United States\"", "\"USD\""}}},
      {"public",
       "customers",
       "reference",
       {"id", "tenant_id", "name", "country_code"},
       {{"10", "1", "\"Ann\"", "\"DE\""}, {"11", "1", "\"Bob\"", "\"DE\""}}},
  };
  d.data = {
      {"public", "tenants", "tenant", {"id", "name"}, {{"2", "\"Globex\""}}},
      {"public",
       "customers",
       "tenant",
       {"id", "tenant_id", "name", "country_code"},
       {{"20", "2", "\"Carl\"", "\"US\""},
        {"21", "2", "\"Dora\"", "null"},
        {"22", "2", "\"Emil\\u0000\"", "\"JP\""}}},
      {"public",
       "Order Lines",
       "child",
       {"id", "doc"},
       {{"200", "{\"$jsonb\": null}"},
        {"201", "[[1, {\"a\": [true, false]}], \"x\"]"},
        {"202", "{\"z\": 1, \"a\": {\"rows\": [1], \"columns\": []}}"}}},
      {"public", "empty", "child", {"id"}, {}},
  };
  return d;
}

enum class KeyOrder { Writer, Jsonb, Shuffled };

class DocumentWriter {
 public:
  DocumentWriter(KeyOrder order, unsigned seed = 0) : order_(order), random_(seed) {}

  std::string write(const Document& d) {
    StringSink sink;
    JsonWriter w(sink, 64);
    document(w, d);
    w.flush();
    return sink.data();
  }

 private:
  using Member = std::pair<std::string, std::function<void(JsonWriter&)>>;

  // Writes an object's members in the chosen order: jsonb's is shorter
  // keys first, then bytewise.
  void object(JsonWriter& w, std::vector<Member> members) {
    if (order_ == KeyOrder::Jsonb)
      std::stable_sort(members.begin(), members.end(), [](const Member& a, const Member& b) {
        if (a.first.size() != b.first.size()) return a.first.size() < b.first.size();
        return a.first < b.first;
      });
    else if (order_ == KeyOrder::Shuffled)
      std::shuffle(members.begin(), members.end(), random_);
    w.begin_object();
    for (auto& [key, write_value] : members) {
      w.key(key);
      write_value(w);
    }
    w.end_object();
  }

  static std::function<void(JsonWriter&)> text(std::string value) {
    return [value](JsonWriter& w) { w.string(value); };
  }
  static std::function<void(JsonWriter&)> raw(std::string json) {
    return [json](JsonWriter& w) { w.raw(json); };
  }
  static std::function<void(JsonWriter&)> optional_text(const std::optional<std::string>& v) {
    return [v](JsonWriter& w) { v ? w.string(*v) : w.null(); };
  }

  void section(JsonWriter& w, const Section& s, const Document& d) {
    std::vector<Member> members = {
        {"schema", text(s.schema)},
        {"name", text(s.name)},
        {"role", text(s.role)},
        {"columns",
         [&s](JsonWriter& w) {
           w.begin_array();
           for (const auto& c : s.columns) w.string(c);
           w.end_array();
         }},
        {"rows",
         [&s](JsonWriter& w) {
           w.begin_array();
           for (const auto& row : s.rows) {
             w.begin_array();
             for (const auto& value : row) w.raw(value);
             w.end_array();
           }
           w.end_array();
         }},
    };
    for (const auto& [key, value] : d.extra_section) members.push_back({key, raw(value)});
    object(w, std::move(members));
  }

  void counts(JsonWriter& w, const std::vector<Section>& sections,
              const std::optional<std::vector<int64_t>>& stated) {
    w.begin_array();
    for (size_t i = 0; i < sections.size(); ++i) {
      const Section& s = sections[i];
      int64_t rows = stated ? (*stated)[i] : static_cast<int64_t>(s.rows.size());
      object(w, {{"table", text(s.schema + "." + s.name)},
                 {"role", text(s.role)},
                 {"rows", [rows](JsonWriter& w) { w.integer(rows); }}});
    }
    w.end_array();
  }

  void document(JsonWriter& w, const Document& d) {
    int64_t total = 0;
    for (const auto& s : d.data) total += static_cast<int64_t>(s.rows.size());
    if (d.stated_total_rows) total = *d.stated_total_rows;
    std::vector<Member> members = {
        {"format", text(d.format)},
        {"format_version", [&d](JsonWriter& w) { w.integer(d.format_version); }},
        {"metadata",
         [&](JsonWriter& w) {
           object(w, {{"exported_at", text("2025-06-01T09:30:00.123456Z")},
                      {"tenant",
                       [&](JsonWriter& w) {
                         object(w, {{"id", optional_text(d.tenant_id)},
                                    {"name", optional_text(d.tenant_name)}});
                       }},
                      {"tenancy", text("column")},
                      {"database", text("shop")},
                      {"database_oid", [](JsonWriter& w) { w.integer(16384); }},
                      {"system_identifier", text("7321549201234567890")},
                      {"server_version_num", [](JsonWriter& w) { w.integer(150020); }},
                      {"options", raw(R"({"tenancy": "column", "schemas": ["public"]})")},
                      {"coverage",
                       // ("schema" : with a blank: tests find the top-level "schema": key)
                       raw(R"({"left_out": [{"schema" : "public", "name": "app_settings",)"
                           R"( "role": "global", "reason": "no tenant column"}],)"
                           R"( "left_out_count": 1, "large_object_columns": []})")}});
         }},
        {"schema",
         [&](JsonWriter& w) {
           object(w, {{"tables", raw(R"([{"schema": "public", "name": "tenants", "columns": []}])")},
                      {"enums", raw("[]")},
                      {"domains", raw("[]")}});
         }},
        {"master_data",
         [&](JsonWriter& w) {
           w.begin_array();
           for (const auto& s : d.master_data) section(w, s, d);
           w.end_array();
         }},
        {"data",
         [&](JsonWriter& w) {
           w.begin_array();
           for (const auto& s : d.data) section(w, s, d);
           w.end_array();
         }},
        {"statistics",
         [&, total](JsonWriter& w) {
           std::vector<Member> statistics = {
               {"tables", [&](JsonWriter& w) { counts(w, d.data, d.stated_table_rows); }},
               {"master_tables", [&](JsonWriter& w) { counts(w, d.master_data, std::nullopt); }},
               {"table_count", [&](JsonWriter& w) { w.integer(static_cast<int64_t>(d.data.size())); }},
               {"total_rows", [total](JsonWriter& w) { w.integer(total); }}};
           if (d.filtered && d.filtered_statistics)
             statistics.push_back(
                 {"filtered_tables", [&](JsonWriter& w) { counts(w, *d.filtered, d.stated_filtered_rows); }});
           object(w, std::move(statistics));
         }},
    };
    if (d.filtered)
      members.push_back({"filtered_rows", [&](JsonWriter& w) {
                           w.begin_array();
                           for (const auto& s : *d.filtered) section(w, s, d);
                           w.end_array();
                         }});
    for (const auto& [key, value] : d.extra_top) members.push_back({key, raw(value)});
    object(w, std::move(members));
  }

  KeyOrder order_;
  std::mt19937 random_;
};

std::string write(const Document& d, KeyOrder order = KeyOrder::Writer, unsigned seed = 0) {
  return DocumentWriter(order, seed).write(d);
}

SnapshotSummary read(std::string_view text) {
  StringSource source(text);
  return read_snapshot_summary(source);
}

// Reading `text` must fail with `sqlstate` and a message containing `part`.
Error expect_error(std::string_view text, const std::string& sqlstate, const std::string& part) {
  try {
    read(text);
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), sqlstate) << e.what();
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << part;
    return e;
  }
  ADD_FAILURE() << "no error, expected " << sqlstate << " " << part;
  return Error("", "");
}

void expect_error(const Document& d, const std::string& sqlstate, const std::string& part) {
  for (KeyOrder order : {KeyOrder::Writer, KeyOrder::Jsonb}) {
    SCOPED_TRACE(order == KeyOrder::Writer ? "writer key order" : "jsonb key order");
    expect_error(write(d, order), sqlstate, part);
  }
}

// text with the first `from` replaced by `to`.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "no " << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::string nested_arrays(size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

}  // namespace

// --- Reading good documents.

TEST(SnapshotReader, SummarizesADocumentFromTheWriter) {
  SnapshotSummary s = read(write(shop()));
  EXPECT_EQ(s.format, "pg_tenant_backup");
  EXPECT_EQ(s.format_version, 1);
  EXPECT_EQ(s.tenant_id, "2");
  EXPECT_EQ(s.tenant_name, "Globex");
  EXPECT_EQ(s.tenancy, "column");
  EXPECT_EQ(s.total_rows, 7);
  ASSERT_EQ(s.tables.size(), 6u);
  // master_data sections first, then data, each in document order.
  EXPECT_EQ(s.tables[0].section, "master_data");
  EXPECT_EQ(s.tables[0].name, "countries");
  EXPECT_EQ(s.tables[0].role, "master");
  EXPECT_EQ(s.tables[0].rows, 2);
  EXPECT_EQ(s.tables[0].columns, 3u);
  EXPECT_EQ(s.tables[1].role, "reference");
  EXPECT_EQ(s.tables[2].section, "data");
  EXPECT_EQ(s.tables[2].schema, "public");
  EXPECT_EQ(s.tables[2].name, "tenants");
  EXPECT_EQ(s.tables[3].rows, 3);
  EXPECT_EQ(s.tables[3].columns, 4u);
  EXPECT_EQ(s.tables[4].name, "Order Lines");
  EXPECT_EQ(s.tables[4].role, "child");
  EXPECT_EQ(s.tables[4].rows, 3);
  EXPECT_EQ(s.tables[5].rows, 0);
  EXPECT_EQ(s.metadata["database"], "shop");
  EXPECT_EQ(s.metadata["database_oid"], 16384);
  EXPECT_EQ(s.metadata["system_identifier"], "7321549201234567890");
  EXPECT_EQ(s.metadata["options"]["schemas"][0], "public");
  EXPECT_EQ(s.statistics["total_rows"], 7);
  EXPECT_EQ(s.statistics["tables"].size(), 4u);
}

TEST(SnapshotReader, KeyOrderDoesNotMatter) {
  Document d = shop();
  d.extra_section = {{"comment", R"({"rows": [[1]], "columns": "x"})"}};
  SnapshotSummary expected = read(write(d));
  auto same = [&](const SnapshotSummary& s) {
    EXPECT_EQ(s.total_rows, expected.total_rows);
    EXPECT_EQ(s.metadata, expected.metadata);
    EXPECT_EQ(s.statistics, expected.statistics);
    ASSERT_EQ(s.tables.size(), expected.tables.size());
    for (size_t i = 0; i < s.tables.size(); ++i) {
      EXPECT_EQ(s.tables[i].section, expected.tables[i].section);
      EXPECT_EQ(s.tables[i].name, expected.tables[i].name);
      EXPECT_EQ(s.tables[i].rows, expected.tables[i].rows);
      EXPECT_EQ(s.tables[i].columns, expected.tables[i].columns);
    }
  };
  std::string jsonb = write(d, KeyOrder::Jsonb);
  // jsonb's order puts "rows" before "columns" and "data" before "format".
  EXPECT_LT(jsonb.find("\"rows\""), jsonb.find("\"columns\""));
  EXPECT_LT(jsonb.find("\"data\""), jsonb.find("\"format\""));
  same(read(jsonb));
  for (unsigned seed = 0; seed < 50; ++seed) same(read(write(d, KeyOrder::Shuffled, seed)));
}

TEST(SnapshotReader, ReadsAWholeDatabaseSnapshot) {
  Document d = shop();
  d.tenant_id = std::nullopt;
  d.tenant_name = std::nullopt;
  SnapshotSummary s = read(write(d));
  EXPECT_EQ(s.tenant_id, std::nullopt);
  EXPECT_EQ(s.tenant_name, std::nullopt);
}

TEST(SnapshotReader, ReadsEmptySections) {
  Document d = shop();
  d.master_data.clear();
  d.data.clear();
  SnapshotSummary s = read(write(d, KeyOrder::Jsonb));
  EXPECT_TRUE(s.tables.empty());
  EXPECT_EQ(s.total_rows, 0);
}

TEST(SnapshotReader, IgnoresUnknownKeys) {
  Document d = shop();
  d.extra_top = {{"added_in_1_1", R"({"nested": [[[{"format": "other"}]]]})"},
                 {"another", "\"x\""}};
  d.extra_section = {{"note", "[1, 2, [3]]"}, {"rows_hint", "5"}};
  SnapshotSummary s = read(write(d, KeyOrder::Shuffled, 3));
  EXPECT_EQ(s.total_rows, 7);
  // Unknown keys in statistics entries and metadata are kept, not judged.
  std::string text = write(shop());
  text.replace(text.find("\"total_rows\""), 0, "\"bytes\":{\"x\":[1]},");
  EXPECT_EQ(read(text).statistics["bytes"]["x"][0], 1);
}

TEST(SnapshotReader, ReadsSnapshotsWithoutTheDatabaseOidAndSystemIdentifier) {
  // Written before metadata.database_oid and system_identifier existed.
  std::string text = write(shop());
  for (const char* key : {"\"database_oid\"", "\"system_identifier\""}) {
    const size_t at = text.find(key);
    ASSERT_NE(at, std::string::npos) << key;
    text.erase(at, text.find(',', at) + 1 - at);
  }
  ASSERT_EQ(text.find("database_oid"), std::string::npos);
  SnapshotSummary s = read(text);
  EXPECT_EQ(s.total_rows, 7);
  EXPECT_EQ(s.metadata["database"], "shop");
}

TEST(SnapshotReader, KeepsMetadataCoverage) {
  // Written since 0.2.0 (docs/format.md): read and kept with the metadata.
  SnapshotSummary s = read(write(shop(), KeyOrder::Shuffled, 5));
  EXPECT_EQ(s.metadata["coverage"]["left_out"][0]["name"], "app_settings");
  EXPECT_EQ(s.metadata["coverage"]["left_out_count"], 1);
}

TEST(SnapshotReader, AllowsNulAndLargeStrings) {
  Document d = shop();
  d.data[0].name = std::string("ten\0ants", 8);
  d.data[1].rows[0][2] = "\"" + std::string(5'000'000, 'x') + "\"";
  SnapshotSummary s = read(write(d));
  EXPECT_EQ(s.tables[2].name, std::string("ten\0ants", 8));
  EXPECT_EQ(s.total_rows, 7);
}

TEST(SnapshotReader, ReadsThroughDecompression) {
  StringSink packed;
  CompressingSink sink(packed, Compression::Zstd);
  sink.write(write(shop(), KeyOrder::Jsonb));
  sink.finish();
  StringSource file(packed.data());
  DecompressingSource source(file, detect_compression(packed.data()));
  EXPECT_EQ(read_snapshot_summary(source).total_rows, 7);
}

TEST(SnapshotReader, AcceptsWhitespaceAroundTheDocument) {
  EXPECT_EQ(read(" \n\t" + write(shop()) + "\r\n ").total_rows, 7);
}

// --- Not JSON.

TEST(SnapshotReaderJson, TruncatedAtEveryByteIsInvalidJson) {
  Document d = shop();
  d.data[1].rows[0][2] = "\"caf\xc3\xa9 \\u00e9 \\\" \\\\\"";
  d.data[1].rows[1][0] = "-1.5e+300";
  for (KeyOrder order : {KeyOrder::Writer, KeyOrder::Jsonb}) {
    std::string text = write(d, order);
    ASSERT_EQ(read(text).total_rows, 7);
    for (size_t length = 0; length < text.size(); ++length) {
      try {
        read(std::string_view(text).substr(0, length));
        ADD_FAILURE() << "accepted a document cut at " << length;
      } catch (const Error& e) {
        ASSERT_EQ(e.sqlstate(), "22P02") << "cut at " << length << ": " << e.what();
        ASSERT_EQ(std::string(e.what()).rfind("snapshot is not valid JSON: ", 0), 0u) << e.what();
      }
    }
  }
}

TEST(SnapshotReaderJson, RefusesTrailingBytes) {
  std::string text = write(shop());
  expect_error(text + "x", "22P02", "snapshot is not valid JSON: ");
  expect_error(text + "{}", "22P02", "not valid JSON");
  // nlohmann's lexer takes a NUL byte for the end of input.
  expect_error(text + std::string(1, '\0'), "22P02", "not valid JSON");
  expect_error(text + std::string("\0{\"x\": 1}", 10), "22P02", "not valid JSON");
  expect_error(text + " \n" + std::string(1, '\0'), "22P02", "not valid JSON");
  expect_error(std::string(1, '\0') + text, "22P02", "not valid JSON");
}

TEST(SnapshotReaderJson, RefusesMalformedText) {
  expect_error("", "22P02", "snapshot is not valid JSON: ");
  expect_error("   ", "22P02", "unexpected end of input");
  expect_error("nope", "22P02", "not valid JSON");
  expect_error("{\"format\": 'x'}", "22P02", "not valid JSON");
  expect_error("{\"format\": \"pg_tenant_backup\",}", "22P02", "not valid JSON");
  expect_error("{\"a\": [1, 2,]}", "22P02", "not valid JSON");
  expect_error("{\"a\": 01}", "22P02", "not valid JSON");
  // The message does not carry nlohmann's exception tag.
  Error e = expect_error("{", "22P02", "parse error");
  EXPECT_EQ(std::string(e.what()).find("[json.exception"), std::string::npos) << e.what();
}

TEST(SnapshotReaderJson, InvalidUtf8IsRefusedWithAPrintableMessage) {
  std::string text = write(shop());
  text.replace(text.find("Globex"), 6, "Glob\xff\xfe");
  Error e = expect_error(text, "22P02", "not valid JSON");
  std::string message = e.what();
  EXPECT_EQ(message.find('\xff'), std::string::npos);
  EXPECT_EQ(message.find('\xfe'), std::string::npos);
}

TEST(SnapshotReaderJson, LongBadTokensGiveShortMessages) {
  std::string text = write(shop());
  text.replace(text.find("\"Carl\""), 6, "\"" + std::string(1'000'000, 'c') + "\xff\"");
  Error e = expect_error(text, "22P02", "not valid JSON");
  EXPECT_LT(std::string(e.what()).size(), 1000u);
}

TEST(SnapshotReaderJson, RandomDamageAlwaysGivesACleanError) {
  const std::string text = write(shop(), KeyOrder::Jsonb);
  std::mt19937 random(99);
  const std::string noise = "{}[],:\"\\ 0-1eE.tfn\x80\xff";
  int accepted = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string damaged = text;
    for (int k = 0, n = 1 + static_cast<int>(random() % 3); k < n; ++k) {
      size_t at = random() % damaged.size();
      switch (random() % 3) {
        case 0: damaged[at] = noise[random() % noise.size()]; break;
        case 1: damaged.erase(at, 1 + random() % 8); break;
        default: damaged.insert(at, 1, noise[random() % noise.size()]); break;
      }
    }
    try {
      read(damaged);
      ++accepted;  // damage inside a string value, for instance
    } catch (const Error& e) {
      EXPECT_TRUE(e.sqlstate() == "22P02" || e.sqlstate() == "22023" || e.sqlstate() == "XX001" ||
                  e.sqlstate() == "0A000")
          << e.sqlstate() << " " << e.what();
    }
  }
  EXPECT_LT(accepted, 3000);
}

// --- Not a snapshot, or not this version.

TEST(SnapshotReaderFormat, RefusesOtherFormats) {
  expect_error("[]", "22023", "not a pg_tenant_backup snapshot");
  expect_error("\"pg_tenant_backup\"", "22023", "not a pg_tenant_backup snapshot");
  expect_error("null", "22023", "the document is not a JSON object");
  expect_error("{}", "22023", "not a pg_tenant_backup snapshot (no \"format\" key)");
  expect_error(R"({"format": 1, "format_version": 1})", "22023", "\"format\" is not a string");
  Document d = shop();
  d.format = "pg_dump";
  expect_error(d, "22023", "not a pg_tenant_backup snapshot (format \"pg_dump\")");
  d.format = "PG_TENANT_BACKUP";
  expect_error(d, "22023", "(format \"PG_TENANT_BACKUP\")");
  // A hostile format name is quoted, escaped and cut.
  d.format = "x\"\n" + std::string(10'000, 'y');
  Error e = expect_error(write(d), "22023", "(format \"x\\\"\\n");
  EXPECT_LT(std::string(e.what()).size(), 400u);
}

TEST(SnapshotReaderFormat, RefusesOtherVersions) {
  for (int64_t version : {2, 0, -1, 100}) {
    Document d = shop();
    d.format_version = version;
    expect_error(d, "0A000",
                 "snapshot format version " + std::to_string(version) +
                     " is not supported by this version of pg_tenant_backup (supports 1)");
  }
  Document d = shop();
  d.format_version = 2;
  try {
    read(write(d));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.hint().find("Upgrade"), std::string::npos);
  }
  std::string text = write(shop());
  auto with_version = [&](const std::string& v) {
    return replaced(text, "\"format_version\":1", "\"format_version\":" + v);
  };
  expect_error(with_version("18446744073709551615"), "0A000",
               "format version 18446744073709551615");
  expect_error(with_version("1.0"), "22023", "\"format_version\" is not an integer (1.0)");
  expect_error(with_version("\"1\""), "22023", "\"format_version\" is not an integer");
  expect_error(with_version("null"), "22023", "\"format_version\" is not an integer");
  std::string without = replaced(text, "\"format_version\":1,", "");
  expect_error(without, "22023", "snapshot has no \"format_version\" key");
}

TEST(SnapshotReaderFormat, AVersionItCannotReadIsRefusedForItsVersionNotItsShape) {
  // A later version through jsonb: "data" (of a shape this reader does not
  // know) comes before "format_version".
  std::string text = write(shop(), KeyOrder::Jsonb);
  std::string later = replaced(text, "\"data\":[", "\"data\":[7,");
  later = replaced(later, "\"format_version\":1", "\"format_version\":2");
  ASSERT_LT(later.find("[7,"), later.find("\"format_version\""));
  expect_error(later, "0A000", "format version 2");
  // And another format is refused for its format, whatever comes before.
  std::string other = replaced(text, "\"format\":\"pg_tenant_backup\"", "\"format\":\"other\"");
  other = replaced(other, "\"data\":[", "\"data\":[7,");
  expect_error(other, "22023", "(format \"other\")");
}

// --- Sections of the wrong shape.

TEST(SnapshotReaderShape, RequiresEveryTopLevelKey) {
  for (std::string key : {"metadata", "schema", "master_data", "data", "statistics"}) {
    std::string text = replaced(write(shop()), "\"" + key + "\":", "\"x_" + key + "\":");
    expect_error(text, "22023", "snapshot has no \"" + key + "\" key");
  }
  std::string text = write(shop());
  text.replace(text.find("\"tables\":[{\"schema\""), 9, "\"tablez\":");
  expect_error(text, "22023", "snapshot has no schema.tables");
}

TEST(SnapshotReaderShape, RefusesRepeatedKeys) {
  std::string text = write(shop());
  text.replace(text.find("\"metadata\":"), 0, "\"data\":[],");
  expect_error(text, "22023", "snapshot has the key \"data\" twice");
  text = write(shop());
  text.replace(text.find("\"name\":\"tenants\""), 0, "\"rows\":[],");
  expect_error(text, "22023",
               "snapshot data[0] (\"public\".\"tenants\"): the key \"rows\" appears twice");
}

TEST(SnapshotReaderShape, RefusesTopLevelValuesOfTheWrongType) {
  std::string text = write(shop());
  expect_error(replaced(text, "\"data\":[", "\"data\":\"none\",\"x\":["), "22023",
               "snapshot \"data\" is not an array");
  expect_error(replaced(text, "\"master_data\":[", "\"master_data\":7,\"x\":["), "22023",
               "snapshot \"master_data\" is not an array");
  expect_error(replaced(text, "\"data\":[", "\"data\":[\"tenants\","), "22023",
               "snapshot data[0] is not an object");
  expect_error(replaced(text, "\"metadata\":{", "\"metadata\":[],\"x\":{"), "22023",
               "snapshot \"metadata\" is not an object");
  expect_error(replaced(text, "\"statistics\":{", "\"statistics\":null,\"x\":{"), "22023",
               "snapshot \"statistics\" is not an object");
  expect_error(replaced(text, "\"schema\":{", "\"schema\":\"public\",\"x\":{"), "22023",
               "snapshot \"schema\" is not an object");
  const std::string tables = "\"tables\":[{\"schema\": \"public\", \"name\": \"tenants\", \"columns\": []}]";
  expect_error(replaced(text, tables, "\"tables\":{}"), "22023", "snapshot schema.tables is not an array");
  // schema.tables is the importer's to read, but its shape is checked here.
  expect_error(replaced(text, tables, "\"tables\":[\"tenants\"]"), "22023",
               "snapshot schema.tables[0] is not an object");
  expect_error(replaced(text, tables, "\"tables\":[{\"schema\":\"public\",\"name\":\"t\",\"columns\":\"id\"}]"),
               "22023", "snapshot schema.tables[0].columns is not an array");
  expect_error(replaced(text, tables, "\"tables\":[{\"schema\":\"public\",\"name\":7,\"columns\":[]}]"),
               "22023", "snapshot schema.tables[0].name is not a string");
  expect_error(replaced(text, tables, "\"tables\":[{\"name\":\"t\",\"columns\":[]}]"), "22023",
               "snapshot schema.tables[0] has no \"schema\"");
  expect_error(replaced(text, tables,
                        "\"tables\":[{\"schema\":\"public\",\"name\":\"t\",\"columns\":[{\"name\":\"a\"},3]}]"),
               "22023", "snapshot schema.tables[0].columns[1] is not an object");
  expect_error(replaced(text, tables,
                        "\"tables\":[{\"schema\":\"public\",\"name\":\"t\",\"columns\":[{\"type\":\"int\"}]}]"),
               "22023", "snapshot schema.tables[0].columns[0] has no \"name\"");
  expect_error(replaced(text, tables,
                        "\"tables\":[{\"schema\":\"public\",\"name\":\"t\",\"columns\":[{\"name\":null}]}]"),
               "22023", "snapshot schema.tables[0].columns[0].name is not a string");
  expect_error(replaced(text, tables, tables + ",\"enums\":3"), "22023", "snapshot schema.enums is not an array");
  expect_error(replaced(text, tables, tables + ",\"domains\":{}"), "22023",
               "snapshot schema.domains is not an array");
}

TEST(SnapshotReaderShape, NamesTheTableAndWhatIsWrong) {
  const std::string where = "snapshot data[1] (\"public\".\"customers\"): ";
  {
    Document d = shop();
    d.data[1].columns.pop_back();
    expect_error(d, "22023", where + "row 1 has 4 values, but \"columns\" names 3");
  }
  {
    Document d = shop();
    d.data[1].rows[2].pop_back();
    expect_error(d, "22023", where + "row 3 has 3 values, but \"columns\" names 4");
  }
  {
    Document d = shop();
    d.data[1].rows[1].push_back("null");
    expect_error(d, "22023", where + "row 2 has 5 values, but \"columns\" names 4");
  }
  {
    Document d = shop();
    d.data[1].rows[1] = {};
    expect_error(d, "22023", where + "row 2 has 0 values");
  }
  {
    // No stored columns (all generated or dropped): rows must be empty too.
    Document d = shop();
    d.data[1].columns.clear();
    expect_error(d, "22023", where + "row 1 has 4 values, but \"columns\" names 0");
  }
  {
    Document d = shop();
    d.data[1].role = "master";
    expect_error(d, "22023", where + "role \"master\" is not valid in data (tenant or child)");
  }
  {
    Document d = shop();
    d.master_data[0].role = "tenant";
    expect_error(d, "22023",
                 "snapshot master_data[0] (\"public\".\"countries\"): role \"tenant\" is not valid "
                 "in master_data (master or reference)");
  }
  {
    Document d = shop();
    d.data[2].name = "Order\"Lines";
    d.data[2].rows[1].pop_back();
    expect_error(d, "22023",
                 "snapshot data[2] (\"public\".\"Order\"\"Lines\"): row 2 has 1 values");
  }
}

TEST(SnapshotReaderShape, RefusesSectionMembersOfTheWrongType) {
  std::string text = write(shop());
  const std::string where = "snapshot data[0] (\"public\".\"tenants\"): ";
  expect_error(replaced(text, "\"columns\":[\"id\",\"name\"]", "\"columns\":\"id,name\""), "22023",
               where + "\"columns\" is not an array");
  expect_error(replaced(text, "\"columns\":[\"id\",\"name\"]", "\"columns\":[\"id\",2]"), "22023",
               where + "columns[1] is not a string");
  expect_error(replaced(text, "\"rows\":[[2,\"Globex\"]]", "\"rows\":{\"0\":[2,\"Globex\"]}"),
               "22023", where + "\"rows\" is not an array");
  expect_error(replaced(text, "\"rows\":[[2,\"Globex\"]]", "\"rows\":[[2,\"Globex\"],{\"id\":3}]"),
               "22023", where + "row 2 is not an array");
  expect_error(replaced(text, "\"rows\":[[2,\"Globex\"]]", "\"rows\":[null]"), "22023",
               where + "row 1 is not an array");
  expect_error(replaced(text, "\"role\":\"tenant\",\"columns\":[\"id\",\"name\"]",
                        "\"role\":[\"tenant\"],\"columns\":[\"id\",\"name\"]"),
               "22023", where + "\"role\" is not a string");
  expect_error(replaced(text, "\"name\":\"tenants\"", "\"name\":7"), "22023",
               "snapshot data[0]: \"name\" is not a string");
  expect_error(replaced(text, "\"schema\":\"public\",\"name\":\"tenants\"",
                        "\"schema\":null,\"name\":\"tenants\""),
               "22023", "snapshot data[0]: \"schema\" is not a string");
  for (std::string key : {"schema", "name", "role", "columns", "rows"}) {
    std::string t = text;
    size_t section = t.find("\"data\":[") + 8;
    size_t at = t.find("\"" + key + "\":", section);
    t.replace(at, key.size() + 3, "\"x" + key + "\":");
    expect_error(t, "22023", "\"" + key + "\" is missing");
  }
}

TEST(SnapshotReaderShape, RefusesBadMetadata) {
  std::string text = write(shop());
  expect_error(replaced(text, "\"tenancy\":\"column\"", "\"tenancy\":1"), "22023",
               "snapshot metadata.tenancy is missing or not a string");
  expect_error(replaced(text, "\"tenancy\":\"column\"", "\"tenancy\":\"bogus\""), "22023",
               "snapshot metadata.tenancy is \"bogus\", not \"column\" or \"schema\"");
  expect_error(replaced(text, "\"options\":{", "\"options\":[],\"x\":{"), "22023",
               "snapshot metadata.options is not an object");
  expect_error(replaced(text, "\"tenant\":{", "\"tenant\":7,\"x\":{"), "22023",
               "snapshot metadata.tenant is missing or not an object");
  expect_error(replaced(text, "\"id\":\"2\"", "\"id\":2"), "22023",
               "snapshot metadata.tenant.id is missing or neither a string nor null");
  expect_error(replaced(text, "\"name\":\"Globex\"", "\"nom\":\"Globex\""), "22023",
               "metadata.tenant.name is missing");
}

// --- Statistics that do not match the rows.

TEST(SnapshotReaderStatistics, RefusesCountsThatDoNotMatch) {
  {
    Document d = shop();
    d.stated_table_rows = std::vector<int64_t>{1, 4, 3, 0};
    d.stated_total_rows = 8;
    expect_error(d, "XX001",
                 "snapshot statistics do not match its rows: statistics.tables[1] says 4 rows, "
                 "but data[1] (\"public\".\"customers\") has 3");
  }
  {
    Document d = shop();
    d.stated_total_rows = 6;
    expect_error(d, "XX001", "statistics.total_rows says 6, but data has 7 rows");
  }
  {
    // A row lost from a section whose count was not updated.
    Document d = shop();
    d.stated_table_rows = std::vector<int64_t>{1, 3, 3, 0};
    d.data[2].rows.pop_back();
    d.stated_total_rows = 7;
    expect_error(d, "XX001", "statistics.tables[2] says 3 rows, but data[2]");
  }
  {
    Document d = shop();
    d.stated_table_rows = std::vector<int64_t>{1, 3, 3, 0};
    d.stated_total_rows = -1;
    expect_error(d, "XX001", "statistics.total_rows says -1");
  }
}

TEST(SnapshotReaderStatistics, RefusesListsThatDoNotMatchTheSections) {
  std::string text = write(shop());
  expect_error(
      replaced(text, "\"tables\":[{\"table\":\"public.tenants\",\"role\":\"tenant\",\"rows\":1},",
               "\"tables\":["),
      "XX001", "statistics.tables lists 3 tables, but data has 4 sections");
  expect_error(replaced(text, "{\"table\":\"public.countries\",\"role\":\"master\",\"rows\":2}",
                        "{\"table\":\"public.countries\",\"role\":\"master\",\"rows\":3}"),
               "XX001", "statistics.master_tables[0] says 3 rows, but master_data[0]");
  expect_error(replaced(text, "\"table_count\":4", "\"table_count\":5"), "XX001",
               "statistics.table_count says 5, but data has 4 sections");
  expect_error(replaced(text, "\"rows\":1}", "\"rows\":\"1\"}"), "22023",
               "snapshot statistics.tables[0].rows is missing or not an integer");
  expect_error(replaced(text, "\"total_rows\":7", "\"total_rows\":7.0"), "22023",
               "snapshot statistics.total_rows is missing or not an integer");
  expect_error(replaced(text, "\"tables\":[{\"table\"", "\"tablez\":[{\"table\""), "22023",
               "snapshot statistics.tables is missing");
  expect_error(replaced(text, "\"rows\":1}", "\"rows\":18446744073709551615}"), "XX001",
               "statistics.tables[0] says 18446744073709551615 rows");
  // master_tables and table_count are checked when present.
  std::string lean = replaced(text, "\"table_count\":4,", "");
  size_t from = lean.find("\"master_tables\":");
  lean.erase(from, lean.find(']', from) + 2 - from);
  EXPECT_EQ(read(lean).total_rows, 7);
}

// --- Limits.

TEST(SnapshotReaderLimits, DeepNestingFailsCleanlyAndFast) {
  auto started = std::chrono::steady_clock::now();
  const std::string deep = nested_arrays(100'000);
  std::string text = write(shop());
  // In a row value, under an unknown key, in metadata and in statistics.
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"[2,\"Globex\"]", "[2," + deep + "]"},
           {"\"metadata\":", "\"deep\":" + deep + ",\"metadata\":"},
           {"\"database\":", "\"deep\":" + deep + ",\"database\":"},
           {"\"total_rows\":", "\"deep\":" + deep + ",\"total_rows\":"}}) {
    std::string t = text;
    t.replace(t.find(from), from.size(), to);
    expect_error(t, "54000", "snapshot nests deeper than 1000 levels");
  }
  // Unterminated.
  expect_error("{\"x\":" + std::string(100'000, '['), "54000", "nests deeper than 1000 levels");
  expect_error("{\"x\":" + std::string(100'000, '{'), "22P02", "not valid JSON");
  expect_error("{\"x\":" + std::string(100'000, '[') + "{", "54000", "nests deeper");
  // An array at the top is refused before its depth matters.
  expect_error(std::string(100'000, '['), "22023", "not a pg_tenant_backup snapshot");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

TEST(SnapshotReaderLimits, ExactlyTheMaximumDepthIsAccepted) {
  // The top-level object is level 1; data, the section, rows, the row: 5.
  std::string text = write(shop());
  auto with_value_depth = [&](size_t levels) {
    std::string t = text;
    t.replace(t.find("[2,\"Globex\"]"), 12, "[2," + nested_arrays(levels) + "]");
    return t;
  };
  EXPECT_EQ(read(with_value_depth(995)).total_rows, 7);
  expect_error(with_value_depth(996), "54000", "nests deeper than 1000 levels");
}

TEST(SnapshotReaderLimits, RefusesHugeMetadataAndStatistics) {
  std::string text = write(shop());
  std::string big = "\"" + std::string(1'100'000, 'm') + "\"";
  std::string t = text;
  t.replace(t.find("\"database\":"), 0, "\"big\":" + big + ",");
  expect_error(t, "54000", "snapshot \"metadata\" is larger than 1 MB");
  // Many small values count too.
  std::string many = "[";
  for (int i = 0; i < 300'000; ++i) many += "0,";
  many += "0]";
  t = text;
  t.replace(t.find("\"total_rows\":"), 0, "\"many\":" + many + ",");
  expect_error(t, "54000", "snapshot \"statistics\" is larger than 1 MB");
  // Below the limit is fine.
  t = text;
  t.replace(t.find("\"database\":"), 0, "\"big\":\"" + std::string(900'000, 'm') + "\",");
  EXPECT_EQ(read(t).metadata["big"].get<std::string>().size(), 900'000u);
}

TEST(SnapshotReaderLimits, PassesOnErrorsOfTheSource) {
  // A source that fails half way, as a damaged compressed file does.
  class FailingSource : public Source {
   public:
    explicit FailingSource(std::string text) : text_(std::move(text)) {}
    size_t read(char* buf, size_t capacity) override {
      if (offset_ >= text_.size() / 2) throw Error("XX001", "snapshot file is corrupted: test");
      size_t n = std::min({capacity, size_t{16}, text_.size() - offset_});
      std::copy_n(text_.data() + offset_, n, buf);
      offset_ += n;
      return n;
    }

   private:
    std::string text_;
    size_t offset_ = 0;
  } source(write(shop()));
  try {
    read_snapshot_summary(source);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "XX001");
    EXPECT_STREQ(e.what(), "snapshot file is corrupted: test");
  }
}

namespace {

// A big snapshot made up on the fly, never held whole; samples the heap
// in use at each read, so the test sees the reader's peak.
class GeneratedSnapshot : public Source {
 public:
  explicit GeneratedSnapshot(int64_t rows) : rows_(rows) {
    pending_ = R"({"format":"pg_tenant_backup","format_version":1,)"
               R"("metadata":{"tenant":{"id":"7","name":"Big"},"tenancy":"column"},)"
               R"("schema":{"tables":[]},"master_data":[],)"
               R"("data":[{"schema":"public","name":"events","role":"tenant",)"
               R"("columns":["id","tenant_id","payload","note","at"],"rows":[)";
  }

  size_t read(char* buf, size_t capacity) override {
    sample();
    while (pending_.size() - offset_ < capacity && next_ <= rows_) produce();
    size_t n = std::min(capacity, pending_.size() - offset_);
    std::copy_n(pending_.data() + offset_, n, buf);
    offset_ += n;
    bytes_ += n;
    if (offset_ > (1 << 16)) {
      pending_.erase(0, offset_);
      offset_ = 0;
    }
    return n;
  }

  static size_t heap_in_use() {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
  }
  void sample() { peak_ = std::max(peak_, heap_in_use()); }

  size_t peak_ = 0;
  uint64_t bytes_ = 0;

 private:
  void produce() {
    if (next_ == rows_) {
      pending_ +=
          "]}],\"statistics\":{\"tables\":[{\"table\":\"public.events\",\"role\":\"tenant\","
          "\"rows\":" +
          std::to_string(rows_) +
          "}],\"master_tables\":[],\"table_count\":1,"
          "\"total_rows\":" +
          std::to_string(rows_) + "}}";
      ++next_;
      return;
    }
    if (next_ > 0) pending_ += ',';
    pending_ += "[" + std::to_string(next_) + ",7,{\"k\":[1,2,{\"n\":null}],\"s\":\"" +
                std::string(next_ % 50, 'p') + "\"},null,\"2025-01-02 01:04:05.123456+00\"]";
    ++next_;
  }

  int64_t rows_;
  int64_t next_ = 0;
  std::string pending_;
  size_t offset_ = 0;
};

}  // namespace

TEST(SnapshotReaderLimits, MemoryStaysFlatForABigDocument) {
  const int64_t rows = 200'000;
  GeneratedSnapshot source(rows);
  size_t before = GeneratedSnapshot::heap_in_use();
  SnapshotSummary s = read_snapshot_summary(source);
  EXPECT_EQ(s.total_rows, rows);
  ASSERT_EQ(s.tables.size(), 1u);
  EXPECT_EQ(s.tables[0].rows, rows);
  EXPECT_EQ(s.tables[0].columns, 5u);
  EXPECT_GT(source.bytes_, 20'000'000u);
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "the sanitizer's allocator is not seen by mallinfo2";
#else
  // The reader's own buffers (64 KiB) and the source's, nothing per row.
  EXPECT_LT(source.peak_ - std::min(before, source.peak_), size_t{1} << 20)
      << "heap grew while reading " << source.bytes_ << " bytes";
#endif
}

TEST(SnapshotReaderShape, TableWithoutStoredColumnsHasEmptyRows) {
  std::string doc = R"({"format":"pg_tenant_backup","format_version":1,
    "metadata":{"tenant":{"id":null,"name":null},"tenancy":"column"},
    "schema":{"tables":[]},"master_data":[],
    "data":[{"schema":"public","name":"only_generated","role":"tenant","columns":[],"rows":[[],[]]}],
    "statistics":{"tables":[{"table":"public.only_generated","role":"tenant","rows":2}],"total_rows":2}})";
  StringSource source(doc);
  SnapshotSummary summary = read_snapshot_summary(source);
  ASSERT_EQ(summary.tables.size(), 1u);
  EXPECT_EQ(summary.tables[0].rows, 2);
  EXPECT_EQ(summary.tables[0].columns, 0u);
}

// --- Reading rows as a stream (read_snapshot with a RowVisitor).

namespace {

// Records what a RowVisitor is handed: per section, each row's cells as
// "kind:text" (and "|unwrapped kind:text" for a {"$jsonb": v} cell).
struct RecordingVisitor : RowVisitor {
  std::map<std::pair<bool, int64_t>, std::vector<std::vector<std::string>>> sections;
  std::map<int64_t, std::vector<std::vector<std::string>>> filtered;  // filtered_rows sections
  std::pair<bool, int64_t> current;
  bool in_filtered = false;

  static std::string show(const CopyCell& c) {
    const char* kinds[] = {"null", "string", "literal", "json"};
    return std::string(kinds[static_cast<int>(c.kind)]) + ":" + std::string(c.text());
  }
  void begin_rows(const std::string& section, int64_t position) override {
    in_filtered = section == "filtered_rows";
    current = {section == "master_data", position};
    if (in_filtered)
      filtered[position];
    else
      sections[current];
  }
  void row(const std::vector<RowCell>& cells) override {
    std::vector<std::string> out;
    for (const auto& c : cells)
      out.push_back(show(c.value) + (c.jsonb_unwrapped ? "|" + show(*c.jsonb_unwrapped) : ""));
    (in_filtered ? filtered[current.second] : sections[current]).push_back(out);
  }
};

}  // namespace

TEST(SnapshotReaderRows, HandsEveryRowOverWithItsValuesAsTheDocumentHoldsThem) {
  for (KeyOrder order : {KeyOrder::Writer, KeyOrder::Jsonb, KeyOrder::Shuffled}) {
    RecordingVisitor v;
    std::string text = write(shop(), order, 7);
    StringSource source(text);
    SnapshotSummary s = read_snapshot(source, v);
    EXPECT_EQ(s.total_rows, 7);
    ASSERT_EQ(s.tables.size(), 6u);
    EXPECT_EQ(s.tables[3].column_names, (std::vector<std::string>{"id", "tenant_id", "name", "country_code"}));
    ASSERT_TRUE(s.schema_tables.is_array());
    EXPECT_EQ(s.schema_tables[0]["name"], "tenants");
    ASSERT_EQ(v.sections.size(), 6u);
    const auto& countries = v.sections[std::make_pair(true, int64_t{0})];
    ASSERT_EQ(countries.size(), 2u);
    EXPECT_EQ(countries[1], (std::vector<std::string>{"string:US", "string:United States", "string:USD"}));
    const auto& customers = v.sections[std::make_pair(false, int64_t{1})];
    ASSERT_EQ(customers.size(), 3u);
    EXPECT_EQ(customers[1], (std::vector<std::string>{"literal:21", "literal:2", "string:Dora", "null:"}));
    EXPECT_EQ(customers[2][2], std::string("string:Emil") + '\0');
    const auto& lines = v.sections[std::make_pair(false, int64_t{2})];
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0][1], "json:{\"$jsonb\":null}|json:null");
    EXPECT_EQ(lines[1][1], "json:[[1,{\"a\":[true,false]}],\"x\"]");
    EXPECT_EQ(lines[2][1], "json:{\"z\":1,\"a\":{\"rows\":[1],\"columns\":[]}}");
    EXPECT_TRUE(v.sections[std::make_pair(false, int64_t{3})].empty());
  }
}

TEST(SnapshotReaderRows, KeepsNumberTextAndUnwrapsEveryKindOfJsonbValue) {
  Document d = shop();
  d.data = {{"public",
             "t",
             "tenant",
             {"a", "b"},
             {{"12345678901234567890123.4500", "{\"$jsonb\": \"s\\t\\\"q\"}"},
              {"-0.0", "{\"$jsonb\": 1.50}"},
              {"1e400", "{\"$jsonb\": {\"$jsonb\": [1, \"x\"]}}"},
              {"18446744073709551615", "{\"$jsonb\": true, \"other\": 1}"},
              {"-9223372036854775808", "{\"k\": \"v\\u00e9\\n\"}"},
              {"1" + std::string(400, '0'), "{\"big\": -1e-400}"}}}};
  RecordingVisitor v;
  std::string text = write(d);
  StringSource source(text);
  read_snapshot(source, v);
  const auto& rows = v.sections[std::make_pair(false, int64_t{0})];
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[0][0], "literal:12345678901234567890123.4500");
  EXPECT_EQ(rows[0][1], "json:{\"$jsonb\":\"s\\t\\\"q\"}|string:s\t\"q");
  EXPECT_EQ(rows[1][0], "literal:-0.0");
  EXPECT_EQ(rows[1][1], "json:{\"$jsonb\":1.50}|literal:1.50");
  EXPECT_EQ(rows[2][0], "literal:1e400");  // beyond a double: kept as text
  EXPECT_EQ(rows[2][1], "json:{\"$jsonb\":{\"$jsonb\":[1,\"x\"]}}|json:{\"$jsonb\":[1,\"x\"]}");
  EXPECT_EQ(rows[3][0], "literal:18446744073709551615");
  EXPECT_EQ(rows[3][1], "json:{\"$jsonb\":true,\"other\":1}");  // two keys: not the wrapper
  EXPECT_EQ(rows[4][0], "literal:-9223372036854775808");
  EXPECT_EQ(rows[4][1], "json:{\"k\":\"v\xc3\xa9\\n\"}");
  // jsonb writes 1e400 as its 401 digits: the summary reader takes it too.
  EXPECT_EQ(rows[5][0], "literal:1" + std::string(400, '0'));
  EXPECT_EQ(rows[5][1], "json:{\"big\":-1e-400}");
  EXPECT_EQ(read(text).total_rows, 6);
}

TEST(SnapshotReaderRows, RefusesWhatTheSummaryRefuses) {
  Document d = shop();
  d.data[1].rows[1].pop_back();  // a row one value short
  RecordingVisitor v;
  std::string text = write(d);
  StringSource source(text);
  try {
    read_snapshot(source, v);
    ADD_FAILURE() << "a short row was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "22023");
    EXPECT_NE(std::string(e.what()).find("row 2 has 3 values"), std::string::npos) << e.what();
  }
  // Deep nesting inside a row value is refused by the same limit.
  Document deep = shop();
  deep.data[2].rows[0][1] = nested_arrays(kMaxSnapshotDepth + 5);
  std::string deep_text = write(deep);
  StringSource deep_source(deep_text);
  try {
    read_snapshot(deep_source, v);
    ADD_FAILURE() << "deep nesting was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "54000");
  }
}

// --- filtered_rows: the keys of the rows the soft-delete filter left out
// (docs/format.md, since 0.2.0).

namespace {

// shop() as written since 0.2.0 with include_deleted false: customer 24 was
// soft-deleted, and order 240 is left out with it.
Document shop_with_filtered_rows() {
  Document d = shop();
  d.filtered = std::vector<Section>{
      {"public", "customers", "filtered", {"id"}, {{"24"}, {"25"}}},
      {"public", "Order Lines", "filtered", {"id"}, {{"240"}}},
      {"public", "empty", "filtered", {"id"}, {}},
  };
  return d;
}

}  // namespace

TEST(SnapshotReaderFilteredRows, ReadsThemInEveryKeyOrderAfterTheOtherSections) {
  for (KeyOrder order : {KeyOrder::Writer, KeyOrder::Jsonb, KeyOrder::Shuffled}) {
    SnapshotSummary s = read(write(shop_with_filtered_rows(), order, 5));
    EXPECT_TRUE(s.records_filtered_rows);
    ASSERT_EQ(s.tables.size(), 9u);
    EXPECT_EQ(s.tables[6].section, "filtered_rows");
    EXPECT_EQ(s.tables[6].name, "customers");
    EXPECT_EQ(s.tables[6].role, "filtered");
    EXPECT_EQ(s.tables[6].rows, 2);
    EXPECT_EQ(s.tables[6].column_names, std::vector<std::string>{"id"});
    EXPECT_EQ(s.tables[7].rows, 1);
    EXPECT_EQ(s.tables[8].rows, 0);
    EXPECT_EQ(s.total_rows, 7);  // rows of data only
  }
  // Older snapshots have no filtered_rows, and say so.
  EXPECT_FALSE(read(write(shop())).records_filtered_rows);
  // An empty filtered_rows is a record too: nothing was left out.
  Document none = shop();
  none.filtered = std::vector<Section>{};
  SnapshotSummary s = read(write(none, KeyOrder::Jsonb));
  EXPECT_TRUE(s.records_filtered_rows);
  EXPECT_EQ(s.tables.size(), 6u);
}

TEST(SnapshotReaderFilteredRows, HandsTheirKeysToTheVisitorUnderTheirOwnSection) {
  RecordingVisitor v;
  std::string text = write(shop_with_filtered_rows(), KeyOrder::Jsonb);
  StringSource source(text);
  read_snapshot(source, v);
  ASSERT_EQ(v.filtered.size(), 3u);
  EXPECT_EQ(v.filtered[0], (std::vector<std::vector<std::string>>{{"literal:24"}, {"literal:25"}}));
  EXPECT_EQ(v.filtered[1], (std::vector<std::vector<std::string>>{{"literal:240"}}));
  EXPECT_TRUE(v.filtered[2].empty());
  // data and master_data are handed over as before, not mixed with them.
  EXPECT_EQ(v.sections.size(), 6u);
  EXPECT_EQ(v.sections[std::make_pair(false, int64_t{1})].size(), 3u);
}

TEST(SnapshotReaderFilteredRows, RefusesThemMalformed) {
  {
    Document d = shop_with_filtered_rows();
    d.filtered->at(0).role = "tenant";
    expect_error(d, "22023",
                 "snapshot filtered_rows[0] (\"public\".\"customers\"): role \"tenant\" is not valid in "
                 "filtered_rows (filtered)");
  }
  {
    Document d = shop_with_filtered_rows();
    d.filtered->at(1).rows[0].push_back("7");
    expect_error(d, "22023", "snapshot filtered_rows[1] (\"public\".\"Order Lines\"): row 1 has 2 values");
  }
  {
    Document d = shop();
    d.extra_top = {{"filtered_rows", R"({"schema": "public"})"}};
    expect_error(d, "22023", "snapshot \"filtered_rows\" is not an array");
  }
  {
    Document d = shop();
    d.extra_top = {{"filtered_rows", "[7]"}};
    expect_error(d, "22023", "snapshot filtered_rows[0] is not an object");
  }
  {
    std::string text = write(shop_with_filtered_rows());
    expect_error(replaced(text, "\"role\":\"filtered\",\"columns\"", "\"columns\""), "22023",
                 "snapshot filtered_rows[0] (\"public\".\"customers\"): \"role\" is missing");
    expect_error(replaced(text, "\"filtered_rows\":[", "\"filtered_rows\":[],\"filtered_rows\":["), "22023",
                 "snapshot has the key \"filtered_rows\" twice");
  }
}

TEST(SnapshotReaderFilteredRows, TheirCountsMustMatchTheirStatistics) {
  {
    Document d = shop_with_filtered_rows();
    d.stated_filtered_rows = std::vector<int64_t>{3, 1, 0};
    expect_error(d, "XX001",
                 "statistics.filtered_tables[0] says 3 rows, but filtered_rows[0] (\"public\".\"customers\") has 2");
  }
  {
    // A document cut down to filtered_rows without its statistics.
    Document d = shop_with_filtered_rows();
    d.filtered_statistics = false;
    expect_error(d, "22023", "snapshot statistics.filtered_tables is missing");
  }
  {
    // filtered_rows taken out, its statistics left.
    // (The writer order puts it last: cut from its comma to the final "}".)
    std::string text = write(shop_with_filtered_rows());
    size_t from = text.find(",\"filtered_rows\":");
    ASSERT_NE(from, std::string::npos);
    text.erase(from, text.size() - 1 - from);
    ASSERT_EQ(text.back(), '}');
    expect_error(text, "XX001", "statistics.filtered_tables lists 3 tables, but filtered_rows has 0 sections");
  }
}

// The importer compares each column's recorded type and nullability with
// the table's (core/schema_drift.hpp); values of the wrong type are ignored.
TEST(SnapshotReaderRows, KeepsTheTypeAndNullabilityOfEachColumn) {
  const std::string tables = "\"tables\":[{\"schema\": \"public\", \"name\": \"tenants\", \"columns\": []}]";
  const std::string text = replaced(
      write(shop()), tables,
      "\"tables\":[{\"schema\":\"public\",\"name\":\"tenants\",\"columns\":["
      "{\"name\":\"id\",\"type\":\"numeric(12,2)\",\"not_null\":true,\"encoding\":\"numeric\"},"
      "{\"name\":\"x\",\"type\":7,\"not_null\":\"yes\"}]}]");
  RecordingVisitor v;
  StringSource source(text);
  const SnapshotSummary s = read_snapshot(source, v);
  ASSERT_EQ(s.schema_tables[0]["columns"].size(), 2u);
  EXPECT_EQ(s.schema_tables[0]["columns"][0],
            nlohmann::json::parse(R"j({"name": "id", "type": "numeric(12,2)", "not_null": true, "encoding": "numeric"})j"));
  EXPECT_EQ(s.schema_tables[0]["columns"][1], nlohmann::json::parse(R"({"name": "x"})"));
}

TEST(SnapshotReaderReadAlong, ChecksACompressedSnapshotWhileItIsWritten) {
  const std::string text = write(shop());
  const int64_t expected_rows = read(text).total_rows;
  StringSink file;
  SnapshotSummary summary;
  ReadAlongSink checked(file, [&](Source& written) {
    DecompressingSource plain(written, Compression::Zstd);
    summary = read_snapshot_summary(plain);
  });
  CompressingSink compressed(checked, Compression::Zstd, 1);
  for (size_t pos = 0; pos < text.size(); pos += 13) compressed.write(std::string_view(text).substr(pos, 13));
  compressed.finish();
  checked.finish();
  EXPECT_EQ(summary.total_rows, expected_rows);
  EXPECT_GT(expected_rows, 0);
}

TEST(SnapshotReaderReadAlong, RefusesADocumentTheWriterCutShort) {
  const std::string text = write(shop());
  StringSink file;
  ReadAlongSink checked(file, [&](Source& written) {
    DecompressingSource plain(written, Compression::Zstd);
    (void)read_snapshot_summary(plain);
  });
  CompressingSink compressed(checked, Compression::Zstd, 1);
  compressed.write(std::string_view(text).substr(0, text.size() - 3));
  compressed.finish();
  EXPECT_THROW(checked.finish(), Error);
}
