// How a table's section loads (core/table_load.hpp): the key rows are
// matched on, the columns loaded, and what a migration changed.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "core/table_load.hpp"

using namespace ptb::core;

namespace {

Table orders_table() {
  Table t;
  t.schema = "public";
  t.name = "orders";
  t.primary_key = {"id"};
  t.columns = {{"id", "bigint", true}, {"code", "text", true}, {"total", "integer", false},
               {"note", "text", false}, {"search", "text", false, true}};
  return t;
}

UniqueKey key(std::string index, std::vector<std::string> columns, bool primary = false) {
  UniqueKey k;
  k.index = std::move(index);
  k.primary = primary;
  for (const auto& c : columns) {
    k.operators.push_back("OPERATOR(pg_catalog.=) /* " + c + " */");
    k.opclasses.push_back("\"pg_catalog\".\"" + c + "_ops\"");
    k.collations.push_back("");
  }
  k.columns = std::move(columns);
  return k;
}

// The error `call` raises; a test failure when it raises none.
template <typename Call>
Error refusal_of(Call&& call) {
  try {
    call();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error";
  return Error("", "");
}

struct Fixture {
  Table table = orders_table();
  TableHere here;
  SectionHere section;
  ImportOptions io;
  std::vector<SchemaDifference> differences;
  UsedTableOptions used;
  std::vector<std::string> checked;  // column_defaults values checked, "column:type"

  Fixture() {
    here.table = &table;
    here.display = "public.orders";
    here.columns = {{"id", {false, false, true, true}},
                    {"code", {false, false, true, false}},
                    {"total", {false, false, false, false}},
                    {"note", {false, false, false, true}},
                    {"search", {true, false, false, false}}};
    here.keys = {key("orders_pkey", {"id"}, true), key("orders_code_key", {"code"})};
    section.columns = {"id", "code", "total", "note"};
    section.row_count = 3;
  }
  TableLoad plan(ImportMode mode = ImportMode::Merge) {
    return plan_table_load(here, section, io, mode,
                           [this](const std::optional<std::string>&, const std::string& type, const std::string& c) {
                             checked.push_back(c + ":" + type);
                           },
                           differences, used);
  }
};

bool has_difference(const std::vector<SchemaDifference>& d, const std::string& column, const std::string& change,
                    const std::string& sqlstate) {
  for (const auto& x : d)
    if (x.column == column && x.change == change && x.sqlstate == sqlstate) return true;
  return false;
}

}  // namespace

TEST(TableLoad, RowsAreMatchedOnThePrimaryKeyAndEveryStoredColumnLoads) {
  Fixture f;
  f.section.columns = {"note", "id", "search", "code", "total"};  // a generated column's values too
  const TableLoad load = f.plan();
  EXPECT_EQ(load.staged.key, std::vector<std::string>{"id"});
  EXPECT_EQ(load.key_source, "primary key");
  EXPECT_EQ(load.staged.key_operators, std::vector<std::string>{"OPERATOR(pg_catalog.=) /* id */"});
  EXPECT_EQ(load.staged.target, "\"public\".\"orders\"");
  // The generated column is computed again on load: not loaded, no difference.
  EXPECT_EQ(load.staged.columns, (std::vector<std::string>{"note", "id", "code", "total"}));
  EXPECT_EQ(load.positions, (std::vector<int>{0, 1, 3, 4}));
  EXPECT_TRUE(f.differences.empty());
}

TEST(TableLoad, KeyColumnsNameAnotherUniqueKeyAndAreMarkedUsed) {
  Fixture f;
  f.io.key_columns[{"", "orders"}] = {"code"};
  const TableLoad load = f.plan();
  EXPECT_EQ(load.staged.key, std::vector<std::string>{"code"});
  EXPECT_EQ(load.key_source, "key_columns");
  EXPECT_EQ(load.staged.key_opclasses, std::vector<std::string>{"\"pg_catalog\".\"code_ops\""});
  EXPECT_EQ(f.used.key_columns.count(QualifiedName{"", "orders"}), 1u);
}

TEST(TableLoad, KeyColumnsThatAreNoUniqueKeyOrMissingFromTheSnapshotAreRefused) {
  Fixture f;
  f.io.key_columns[{"public", "orders"}] = {"total"};
  {
    const Error e = refusal_of([&] { f.plan(); });
    EXPECT_EQ(e.sqlstate(), "22023");
    EXPECT_NE(std::string(e.what()).find("are not a unique key"), std::string::npos) << e.what();
  }
  Fixture g;
  g.io.key_columns[{"public", "orders"}] = {"code"};
  g.section.columns = {"id", "total"};
  {
    const Error e = refusal_of([&] { g.plan(); });
    EXPECT_EQ(e.sqlstate(), "22023");
    EXPECT_NE(std::string(e.what()).find("no column \"code\""), std::string::npos) << e.what();
    EXPECT_EQ(e.hint(), "Name columns the snapshot has in key_columns.");
  }
}

TEST(TableLoad, WithoutAPrimaryKeyTheIdentityKeyMatchesElseOnlyReplaceCanLoad) {
  Fixture f;
  f.table.primary_key.clear();
  f.here.keys = {key("orders_code_key", {"code"}), key("orders_id_code_key", {"id", "code"})};
  TableLoad load = f.plan();
  EXPECT_EQ(load.staged.key, std::vector<std::string>{"code"});  // the fewest columns
  EXPECT_EQ(load.key_source, "unique index \"orders_code_key\"");

  // A snapshot without the identity key's columns: matched as if keyless.
  Fixture g;
  g.table.primary_key.clear();
  g.here.keys = {key("orders_code_key", {"code"})};
  g.section.columns = {"id", "total"};
  {
    const Error e = refusal_of([&] { g.plan(ImportMode::Merge); });
    EXPECT_EQ(e.sqlstate(), "22023");
    EXPECT_NE(std::string(e.what()).find("has no key: merge cannot match its rows"), std::string::npos);
  }
  load = g.plan(ImportMode::Replace);
  EXPECT_FALSE(load.staged.has_key());
  EXPECT_EQ(load.key_source, "");
}

TEST(IdentityKey, TheReplicaIdentityIndexComesFirstThenTheFewestNotNullColumns) {
  std::vector<UniqueKey> keys = {key("b_key", {"a", "b"}), key("z_key", {"z"}), key("a_key", {"y"})};
  std::string source;
  EXPECT_EQ(identity_key(keys, source)->index, "a_key");  // ties by name
  keys[0].replica_identity = true;
  EXPECT_EQ(identity_key(keys, source)->index, "b_key");
  EXPECT_EQ(source, "replica identity index \"b_key\"");
  for (auto& k : keys) k.not_null = false;  // NULLs would make two rows look different
  EXPECT_FALSE(identity_key(keys, source).has_value());
}

TEST(TableLoad, AColumnGoneHereIsRefusedUnlessIgnored) {
  Fixture f;
  f.section.columns = {"id", "code", "legacy"};
  f.plan();
  EXPECT_TRUE(has_difference(f.differences, "legacy", "column_dropped", "42703"));
  Fixture g;
  g.section.columns = {"id", "code", "legacy"};
  g.io.ignore_unknown_columns = true;
  const TableLoad load = g.plan();
  EXPECT_TRUE(has_difference(g.differences, "legacy", "column_dropped", ""));
  EXPECT_EQ(load.staged.columns, (std::vector<std::string>{"id", "code"}));
}

TEST(TableLoad, ColumnsTheSnapshotLacksGetAGivenValueTheirDefaultOrNullOrNeedOne) {
  Fixture f;
  f.section.columns = {"id"};  // code (NOT NULL, no default), total (nullable), note (default) are new
  TableLoad load = f.plan();
  EXPECT_EQ(load.needs_value, std::vector<std::string>{"code"});
  EXPECT_TRUE(has_difference(f.differences, "total", "column_added", ""));
  EXPECT_TRUE(has_difference(f.differences, "note", "column_added", ""));
  EXPECT_TRUE(load.staged.inserted_values.empty());

  Fixture g;
  g.section.columns = {"id"};
  g.io.column_defaults[{"", "orders"}] = {{"code", "n/a"}, {"total", std::nullopt}};
  load = g.plan();
  EXPECT_TRUE(load.needs_value.empty());
  EXPECT_EQ(g.checked, (std::vector<std::string>{"code:text", "total:integer"}));
  ASSERT_EQ(load.staged.inserted_values.size(), 2u);
  EXPECT_EQ(load.staged.inserted_values[0], (std::pair<std::string, std::string>{"code", "CAST(E'n/a' AS text)"}));
  EXPECT_EQ(load.staged.inserted_values[1], (std::pair<std::string, std::string>{"total", "CAST(NULL AS integer)"}));
  EXPECT_EQ(g.used.column_defaults.count(QualifiedName{"", "orders"}), 1u);
}

TEST(TableLoad, ColumnDefaultsOnlyForColumnsTheSnapshotLacksAndTheTableHas) {
  Fixture f;
  f.io.column_defaults[{"", "orders"}] = {{"code", "x"}};  // the snapshot has code
  {
    const Error e = refusal_of([&] { f.plan(); });
    EXPECT_EQ(e.sqlstate(), "22023");
    EXPECT_NE(std::string(e.what()).find("which the snapshot has values for"), std::string::npos) << e.what();
  }
  Fixture g;
  g.io.column_defaults[{"", "orders"}] = {{"missing", "x"}};
  {
    const Error e = refusal_of([&] { g.plan(); });
    EXPECT_EQ(e.sqlstate(), "42703");
  }
  // The value's check (the type's input function) decides.
  Fixture h;
  h.section.columns = {"id", "code", "note"};
  h.io.column_defaults[{"", "orders"}] = {{"total", "many"}};
  EXPECT_THROW(plan_table_load(h.here, h.section, h.io, ImportMode::Merge,
                               [](const std::optional<std::string>&, const std::string&, const std::string&) {
                                 throw Error("22P02", "not an integer");
                               },
                               h.differences, h.used),
               Error);
}

TEST(TableLoad, TypeChangesAndNewNotNullAreReportedFromWhatTheSnapshotRecorded) {
  Fixture f;
  const std::map<std::string, RecordedColumn> recorded = {
      {"id", {ValueEncoding::Integer, "integer", true}},   // integer -> bigint: every value kept
      {"total", {std::nullopt, "bigint", false}},          // bigint -> integer: could be cut
      {"note", {std::nullopt, "text", false}}};
  f.section.recorded = &recorded;
  f.here.columns["note"].not_null = true;  // made NOT NULL since
  const TableLoad load = f.plan();
  EXPECT_TRUE(has_difference(f.differences, "id", "type_changed", ""));
  EXPECT_TRUE(has_difference(f.differences, "total", "type_changed", "42804"));
  EXPECT_EQ(load.now_not_null, std::vector<std::string>{"note"});
  // How the snapshot wrote a value wins over the type here.
  EXPECT_EQ(load.encodings[0], ValueEncoding::Integer);
}

TEST(TableLoad, MasterRowsLoadOnlyTheirKey) {
  Fixture f;
  f.section.data = false;
  f.section.columns = {"id", "code", "gone"};
  const TableLoad load = f.plan(ImportMode::Merge);
  EXPECT_EQ(load.staged.columns, std::vector<std::string>{"id"});
  EXPECT_TRUE(f.differences.empty());  // their other columns are not read
  // Without their key they cannot be looked up: loaded keyless, not refused.
  Fixture g;
  g.section.data = false;
  g.section.columns = {"code"};
  EXPECT_FALSE(g.plan(ImportMode::Merge).staged.has_key());
}

TEST(TableLoad, ReferencedColumnsAreNeverUpdatedWhenNoTriggerChecksTheReferences) {
  Fixture f;
  f.here.referenced_columns = {"code", "id"};
  f.here.columns["id"].identity_always = true;
  TableLoad load = f.plan();
  EXPECT_EQ(load.staged.fixed_columns, (std::vector<std::string>{"id", "code"}));
  Fixture g;
  g.here.referenced_columns = {"code"};
  g.io.fire_triggers = true;  // the server checks the references as rows change
  EXPECT_TRUE(g.plan().staged.fixed_columns.empty());
}

TEST(FinishTableLoads, UnusedTableOptionsAndRefusedDifferencesStopTheImport) {
  ImportOptions io;
  io.key_columns[{"", "invoices"}] = {"id"};
  std::vector<SchemaDifference> differences;
  {
    const Error e = refusal_of([&] { finish_table_loads({}, io, {}, differences); });
    EXPECT_EQ(e.sqlstate(), "22023");
    EXPECT_NE(std::string(e.what()).find("\"invoices\", which is not a table of the snapshot"), std::string::npos);
  }
  // A refused difference: the columns that need a value are listed with it.
  TableLoad load;
  load.staged.display = "public.orders";
  load.needs_value = {"code"};
  differences = {{"public.orders", "legacy", "column_dropped", "no such column here", "42703"}};
  {
    const Error e = refusal_of([&] { finish_table_loads({&load}, {}, {}, differences); });
    EXPECT_EQ(e.sqlstate(), "42703");
    EXPECT_NE(e.detail().find("code"), std::string::npos) << e.detail();
  }
  // Nothing refused: it returns, and what needs a value is left to the rows.
  std::vector<SchemaDifference> fine = {{"public.orders", "note", "column_added", "rows inserted get NULL", ""}};
  finish_table_loads({&load}, {}, {}, fine);
  EXPECT_EQ(fine.size(), 1u);
}
