// A merge's rows the table has as they are (core/unchanged_rows.hpp): the
// COPY field a table's value gives must be the one the snapshot's cell of
// the same value gives, or a row is never found unchanged (slower), and a
// key repeated or a row the table lacks must never be left out (wrong).
#include <gtest/gtest.h>

#include "core/import_plan.hpp"
#include "core/unchanged_rows.hpp"

using namespace ptb::core;

namespace {

std::string snapshot_field(CellKind kind, std::string_view text, ValueEncoding encoding) {
  std::string line;
  append_copy_field(line, CopyCell{kind, text.data(), text.size()}, encoding);
  return line;
}

std::optional<std::string> table_field(std::string_view output, ValueEncoding encoding, bool own_type = true) {
  std::string line;
  if (!append_copy_field_of_output(line, output, encoding, own_type)) return std::nullopt;
  return line;
}

RowFingerprint fp(uint64_t high, uint32_t low = 0) {
  RowFingerprint f;
  f.high = high;
  f.low = low;
  return f;
}

}  // namespace

TEST(UnchangedRows, TableValuesGiveTheSnapshotsField) {
  // Each pair: the cell the export writes, and the server's output text of
  // the same value (fix_output_settings).
  EXPECT_EQ(table_field("42", ValueEncoding::Integer), snapshot_field(CellKind::Literal, "42", ValueEncoding::Integer));
  EXPECT_EQ(table_field("-7", ValueEncoding::Integer), snapshot_field(CellKind::Literal, "-7", ValueEncoding::Integer));
  EXPECT_EQ(table_field("t", ValueEncoding::Boolean), snapshot_field(CellKind::Literal, "true", ValueEncoding::Boolean));
  EXPECT_EQ(table_field("f", ValueEncoding::Boolean),
            snapshot_field(CellKind::Literal, "false", ValueEncoding::Boolean));
  EXPECT_EQ(table_field("1.5e+20", ValueEncoding::Float),
            snapshot_field(CellKind::Literal, "1.5e+20", ValueEncoding::Float));
  EXPECT_EQ(table_field("NaN", ValueEncoding::Float), snapshot_field(CellKind::String, "NaN", ValueEncoding::Float));
  EXPECT_EQ(table_field("-0", ValueEncoding::Float), snapshot_field(CellKind::String, "-0", ValueEncoding::Float));
  EXPECT_EQ(table_field("10.50", ValueEncoding::Numeric),
            snapshot_field(CellKind::String, "10.50", ValueEncoding::Numeric));
  EXPECT_EQ(table_field("a\tb\\c\nd\re", ValueEncoding::Text),
            snapshot_field(CellKind::String, "a\tb\\c\nd\re", ValueEncoding::Text));
  EXPECT_EQ(table_field("{\"a\" : 1}", ValueEncoding::Json),
            snapshot_field(CellKind::String, "{\"a\" : 1}", ValueEncoding::Json));
  // bytea: the snapshot's base64 of 0x00 0xff 0x10; byteaout's hex.
  EXPECT_EQ(table_field("\\x00ff10", ValueEncoding::Bytea),
            snapshot_field(CellKind::String, "AP8Q", ValueEncoding::Bytea));
  // jsonb_out's spaces; the reader's compact text of the nested value.
  EXPECT_EQ(table_field("{\"a\": [1, \"x\\ty: \\\", z\"], \"b\": {}}", ValueEncoding::Jsonb),
            snapshot_field(CellKind::Json, "{\"a\":[1,\"x\\ty: \\\", z\"],\"b\":{}}", ValueEncoding::Jsonb));
  EXPECT_EQ(table_field("12.5", ValueEncoding::Jsonb), snapshot_field(CellKind::Literal, "12.5", ValueEncoding::Jsonb));
}

TEST(UnchangedRows, ValuesWhoseTextHidesTheCellAreNotCompared) {
  // jsonb written wrapped by the export, or a string the reader unescapes:
  // such a row counts as changed and is staged.
  EXPECT_FALSE(table_field("null", ValueEncoding::Jsonb));
  EXPECT_FALSE(table_field("{\"$jsonb\": 1}", ValueEncoding::Jsonb));
  EXPECT_FALSE(table_field("\"text\"", ValueEncoding::Jsonb));
  // A boolean column's text is t or f; anything else is not a boolean.
  EXPECT_FALSE(table_field("true", ValueEncoding::Boolean));
  // Different values, different fields.
  EXPECT_NE(table_field("10.5", ValueEncoding::Numeric),
            snapshot_field(CellKind::String, "10.50", ValueEncoding::Numeric));
}

TEST(UnchangedRows, AColumnOfAnotherTypeSinceKeepsItsText) {
  // A boolean column changed to text holds 't' (an application wrote it
  // since): not the snapshot's true, which the stage would load as 'true'.
  EXPECT_NE(table_field("t", ValueEncoding::Boolean, false),
            snapshot_field(CellKind::Literal, "true", ValueEncoding::Boolean));
  EXPECT_EQ(table_field("true", ValueEncoding::Boolean, false),
            snapshot_field(CellKind::Literal, "true", ValueEncoding::Boolean));
  // A jsonb column changed to json keeps jsonb's spacing, which the
  // snapshot's compact text would replace.
  EXPECT_NE(table_field("{\"a\": 1}", ValueEncoding::Jsonb, false),
            snapshot_field(CellKind::Json, "{\"a\":1}", ValueEncoding::Jsonb));
  EXPECT_EQ(table_field("{\"a\":1}", ValueEncoding::Jsonb, false),
            snapshot_field(CellKind::Json, "{\"a\":1}", ValueEncoding::Jsonb));
  // A jsonb null in a text column is its text.
  EXPECT_EQ(table_field("null", ValueEncoding::Jsonb, false), "null");
}

TEST(UnchangedRows, OnlyARowTheTableHasIsUnchanged) {
  TableRows rows(100);
  rows.add(fp(3));
  rows.add(fp(1, 9));
  rows.seal();
  EXPECT_TRUE(rows.contains(fp(3)));
  EXPECT_TRUE(rows.contains(fp(1, 9)));
  EXPECT_FALSE(rows.contains(fp(1, 2)));  // the same first bits, not the same row
  EXPECT_FALSE(rows.contains(fp(7)));
  EXPECT_EQ(rows.size(), 2u);

  TableRows none(100);
  none.seal();
  EXPECT_FALSE(none.contains(fp(0)));
}

TEST(UnchangedRows, ManyRowsFoundThroughTheDirectory) {
  // Fingerprints spread over the whole range, as hashes are.
  TableRows rows(100000);
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  std::vector<RowFingerprint> all;
  for (int i = 0; i < 10000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    all.push_back(fp(x, static_cast<uint32_t>(i)));
    if (i % 2 == 0) rows.add(all.back());
  }
  rows.add(fp(0));                   // the first value
  rows.add(fp(~uint64_t{0}, ~0u));  // and the last
  rows.seal();
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(rows.contains(all[i]), i % 2 == 0) << i;
  EXPECT_TRUE(rows.contains(fp(0)));
  EXPECT_TRUE(rows.contains(fp(~uint64_t{0}, ~0u)));
  EXPECT_FALSE(rows.contains(fp(all[0].high, all[0].low + 1)));  // differs in its last bits only
}

TEST(UnchangedRows, ATenantWithMoreRowsThanTheBudgetIsDropped) {
  TableRows rows(2);
  rows.add(fp(1));
  rows.add(fp(2));
  EXPECT_FALSE(rows.overflowed());
  rows.add(fp(3));
  EXPECT_TRUE(rows.overflowed());
  EXPECT_EQ(rows.size(), 0u);  // its memory given back
  rows.add(fp(4));
  EXPECT_EQ(rows.size(), 0u);
}

TEST(UnchangedRows, ALargeSectionIsComparedInParts) {
  // 13 bytes a row: 2M rows are 26 MB, one part of 32 MB; 3M rows two.
  constexpr uint64_t kBudget = 32ULL << 20;
  EXPECT_EQ(fingerprint_parts(2'000'000, kBudget, 8), 1u);
  EXPECT_EQ(fingerprint_parts(3'000'000, kBudget, 8), 2u);
  EXPECT_EQ(fingerprint_parts(20'000'000, kBudget, 8), 8u);
  EXPECT_EQ(fingerprint_parts(21'000'000, kBudget, 8), 0u);  // staged whole
  EXPECT_EQ(fingerprint_parts(1, 0, 8), 0u);                 // no memory at all

  // Every key hash is in exactly one part, and the parts are even.
  uint64_t x = 88172645463325252ULL;
  std::vector<int> per_part(3);
  for (int i = 0; i < 30000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    int in = 0;
    for (uint32_t p = 0; p < 3; ++p)
      if (KeyPart{p, 3}.covers(static_cast<uint32_t>(x >> 17))) ++in, ++per_part[p];
    ASSERT_EQ(in, 1);
  }
  for (int n : per_part) EXPECT_NEAR(n, 10000, 500);
  EXPECT_TRUE(KeyPart{}.covers(12345));  // one part holds everything

  // The part a hash falls in is the one part that covers it.
  for (uint32_t hash : {0u, 1u, 0x7fffffffu, 0x80000000u, 0xffffffffu})
    EXPECT_TRUE((KeyPart{KeyPart::of(hash, 3), 3}.covers(hash)));
  EXPECT_EQ(KeyPart::of(0xffffffffu, 3), 2u);
  EXPECT_EQ(KeyPart::of(0, 3), 0u);
  EXPECT_EQ(key_of_line("7\tname\t42\t\\N", {2, 0}), "42\t7");
}

TEST(UnchangedRows, AKeyTwiceStagesTheSectionWhole) {
  std::vector<uint64_t> keys{4, 9, 4};
  EXPECT_TRUE(has_repeats(keys));
  std::vector<uint64_t> distinct{4, 9, 5};
  EXPECT_FALSE(has_repeats(distinct));
}

TEST(UnchangedRows, KeysAreComparedAsTextOnlyInTheirOneForm) {
  EXPECT_EQ(key_text_of("pg_catalog.int8_ops"), KeyText::Integer);
  EXPECT_EQ(key_text_of("pg_catalog.int4_ops"), KeyText::Integer);
  EXPECT_EQ(key_text_of("pg_catalog.uuid_ops"), KeyText::Uuid);
  // text keys may be equal in a collation and differ in text; numeric 1.0
  // and 1.00 are equal: their sections are staged whole.
  EXPECT_FALSE(key_text_of("pg_catalog.text_ops"));
  EXPECT_FALSE(key_text_of("pg_catalog.numeric_ops"));
  EXPECT_FALSE(key_text_of("public.int8_ops"));  // a class of a user's own

  EXPECT_TRUE(canonical_key_field("0", KeyText::Integer));
  EXPECT_TRUE(canonical_key_field("-12", KeyText::Integer));
  EXPECT_TRUE(canonical_key_field("9223372036854775807", KeyText::Integer));
  for (const char* other : {"-0", "007", "+5", " 5", "5 ", "", "-", "1.0", "1e3", "\\N"})
    EXPECT_FALSE(canonical_key_field(other, KeyText::Integer)) << other;

  EXPECT_TRUE(canonical_key_field("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", KeyText::Uuid));
  for (const char* other : {"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
                            "a0eebc999c0b4ef8bb6d6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g"})
    EXPECT_FALSE(canonical_key_field(other, KeyText::Uuid)) << other;
}

TEST(UnchangedRows, CopyFieldsSplitAtTabs) {
  EXPECT_EQ(copy_field("1\tab\\tc\t\\N", 0), "1");
  EXPECT_EQ(copy_field("1\tab\\tc\t\\N", 1), "ab\\tc");  // an escaped tab is no separator
  EXPECT_EQ(copy_field("1\tab\\tc\t\\N", 2), "\\N");
  EXPECT_FALSE(copy_field("1\tab", 2));
  EXPECT_EQ(copy_field("", 0), "");
}

TEST(UnchangedRows, OnlyAMergeWhoseChecksReadWrittenRowsLeavesRowsOut) {
  UnchangedRowsFacts f;
  f.merge_without_triggers = true;
  f.staged = true;
  f.unique_key = true;
  f.key_text_decides = true;
  f.checks_read_written_rows = true;
  f.rows = 1000;
  f.parts = 1;
  EXPECT_TRUE(leaves_out_unchanged_rows(f));
  auto without = [&](auto change) {
    UnchangedRowsFacts g = f;
    change(g);
    return leaves_out_unchanged_rows(g);
  };
  EXPECT_FALSE(without([](auto& g) { g.merge_without_triggers = false; }));  // replace, triggers
  EXPECT_FALSE(without([](auto& g) { g.restoring_to_moment = true; }));
  EXPECT_FALSE(without([](auto& g) { g.staged = false; }));
  EXPECT_FALSE(without([](auto& g) { g.unique_key = false; }));  // key_columns without a unique index
  EXPECT_FALSE(without([](auto& g) { g.key_text_decides = false; }));
  EXPECT_FALSE(without([](auto& g) { g.migrates = true; }));
  EXPECT_FALSE(without([](auto& g) { g.citus = true; }));
  EXPECT_FALSE(without([](auto& g) { g.checks_read_written_rows = false; }));
  EXPECT_FALSE(without([](auto& g) { g.rows = 0; }));
  EXPECT_FALSE(without([](auto& g) { g.parts = 0; }));  // too many parts
}
