#include <gtest/gtest.h>

#include "core/error.hpp"
#include "core/options.hpp"

#include <nlohmann/json.hpp>

using namespace ptb::core;

namespace {
SettingStrings defaults() {
  return {"column", "tenant_id", "public", "audit_logs,backup_logs", "audit_logs", "deleted_at"};
}
}  // namespace

TEST(OptionsFromSettings, ParsesTheDefaults) {
  auto o = options_from_settings(defaults());
  EXPECT_EQ(o.tenancy, TenancyMode::Column);
  EXPECT_EQ(o.tenant_column, "tenant_id");
  EXPECT_EQ(o.schemas, std::vector<std::string>{"public"});
  ASSERT_EQ(o.exclude_tables.size(), 2u);
  EXPECT_EQ(o.exclude_tables[1], (QualifiedName{"", "backup_logs"}));
  EXPECT_EQ(o.soft_delete_column, "deleted_at");
}

TEST(OptionsFromSettings, NamesTheBadSetting) {
  auto s = defaults();
  s.tenancy = "rows";
  try {
    options_from_settings(s);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "22023");
    EXPECT_NE(std::string(e.what()).find("pg_tenant_backup.tenancy"), std::string::npos);
  }
  s = defaults();
  s.schemas = "";
  EXPECT_THROW(options_from_settings(s), Error);
  s = defaults();
  s.soft_delete_column = "";
  EXPECT_EQ(options_from_settings(s).soft_delete_column, "");
}

TEST(ApplyOptionsJson, OverridesEachSetting) {
  auto o = apply_options_json(
      R"({"tenancy":"schema","tenant_column":"Org_Id","schemas":["app","\"Sales\""],
          "exclude_tables":"a, b.c","audit_tables":[],"soft_delete_column":null,
          "include_deleted":true,"include_audit_logs":true,"tables":["orders"],
          "owning_fks":{"rentals":"rentals_customer_fk"}})",
      options_from_settings(defaults()));
  EXPECT_EQ(o.tenancy, TenancyMode::Schema);
  EXPECT_EQ(o.tenant_column, "org_id");
  EXPECT_EQ(o.schemas, (std::vector<std::string>{"app", "Sales"}));
  EXPECT_EQ(o.exclude_tables, (std::vector<QualifiedName>{{"", "a"}, {"b", "c"}}));
  EXPECT_TRUE(o.audit_tables.empty());
  EXPECT_EQ(o.soft_delete_column, "");
  EXPECT_TRUE(o.include_deleted);
  EXPECT_TRUE(o.include_audit_logs);
  ASSERT_TRUE(o.tables.has_value());
  EXPECT_EQ(o.owning_fks.at(QualifiedName{"", "rentals"}), "rentals_customer_fk");
}

TEST(ApplyOptionsJson, EmptyObjectKeepsBase) {
  auto base = options_from_settings(defaults());
  auto o = apply_options_json("{}", base);
  EXPECT_EQ(o.tenant_column, base.tenant_column);
  EXPECT_FALSE(o.tables.has_value());
}

TEST(ApplyOptionsJson, UnknownOptionListsValidOnes) {
  try {
    apply_options_json(R"({"include_delted":true})", {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "22023");
    EXPECT_NE(std::string(e.what()).find("include_delted"), std::string::npos);
    EXPECT_NE(e.detail().find("include_deleted"), std::string::npos);
    EXPECT_NE(e.detail().find("tenant_column"), std::string::npos);
  }
}

TEST(ApplyOptionsJson, RejectsWrongShapes) {
  for (const char* bad : {"[]", "1", R"({"include_deleted":"yes"})", R"({"schemas":[1]})",
                          R"({"schemas":[]})", R"({"tenancy":"row"})", R"({"tenant_column":""})",
                          R"({"owning_fks":["x"]})", R"({"owning_fks":{"t":""}})",
                          R"({"tables":"a..b"})", "{not json"}) {
    try {
      apply_options_json(bad, {});
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22023") << bad;
    }
  }
}

TEST(ValidateSetting, AcceptsGoodAndRejectsBadValues) {
  EXPECT_NO_THROW(validate_setting("schemas", "public, \"Sales\""));
  EXPECT_NO_THROW(validate_setting("soft_delete_column", ""));
  EXPECT_THROW(validate_setting("schemas", "a,,b"), Error);
  EXPECT_THROW(validate_setting("tenancy", "tenant"), Error);
  EXPECT_THROW(validate_setting("exclude_tables", "a.b.c"), Error);
  EXPECT_THROW(validate_setting("tenant_column", ""), Error);
}

TEST(ApplyOptionsJson, ExtraKeysOfTheCallerAreAcceptedAndListed) {
  auto o = apply_options_json(R"({"compression":"zstd","include_deleted":true})", {},
                              {"compression", "verify_after_backup"});
  EXPECT_TRUE(o.include_deleted);
  try {
    apply_options_json(R"({"bogus":1})", {}, {"compression", "verify_after_backup"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.detail().find("compression"), std::string::npos);
    EXPECT_NE(e.detail().find("verify_after_backup"), std::string::npos);
    EXPECT_LT(e.detail().find("audit_tables"), e.detail().find("compression"));  // sorted
  }
  EXPECT_THROW(apply_options_json(R"({"compression":"zstd"})", {}), Error);
}

TEST(StoredSnapshotOptions, ReadsCompressionAndVerify) {
  auto o = apply_stored_snapshot_options(nlohmann::json::parse(R"({"compression":"none","verify_after_backup":false,"tables":["x"]})"), {});
  EXPECT_EQ(o.compression, "none");
  EXPECT_FALSE(o.verify_after_backup);
  auto d = apply_stored_snapshot_options(nlohmann::json::object(), {"zstd", true});
  EXPECT_EQ(d.compression, "zstd");
  EXPECT_TRUE(d.verify_after_backup);
  EXPECT_THROW(apply_stored_snapshot_options(nlohmann::json::parse(R"({"compression":"gzip"})"), {}), Error);
  EXPECT_THROW(apply_stored_snapshot_options(nlohmann::json::parse(R"({"verify_after_backup":1})"), {}), Error);
}

TEST(ApplyOptionsJson, RecordedOptionsApplyAgain) {
  SnapshotOptions original;
  original.include_deleted = true;
  original.owning_fks[{"", "returns"}] = "returns_fk";
  auto again = apply_options_json(options_to_json(original), {});
  EXPECT_TRUE(again.include_deleted);
  EXPECT_FALSE(again.tables.has_value());
  EXPECT_EQ(again.owning_fks.at(QualifiedName{"", "returns"}), "returns_fk");
  EXPECT_EQ(options_to_json(again), options_to_json(original));
}

TEST(PolymorphicOption, ParsesEveryKeyAndRecordsItAgain) {
  auto o = apply_options_json(R"({"polymorphic": {"active_storage_attachments": {"type": "record_type",
      "id": "Record_ID", "types": {"Billing::Invoice": "billing.invoices"}, "follow": ["active_storage_blobs"]},
      "versions": {"type": "item_type", "id": "\"ItemId\""}}})", {});
  ASSERT_EQ(o.polymorphic.size(), 2u);
  const auto& a = o.polymorphic.at(QualifiedName{"", "active_storage_attachments"});
  EXPECT_EQ(a.type_column, "record_type");
  EXPECT_EQ(a.id_column, "record_id");  // folded like any unquoted name
  EXPECT_EQ(a.types.at("Billing::Invoice"), (QualifiedName{"billing", "invoices"}));
  ASSERT_TRUE(a.follow.has_value());
  EXPECT_EQ(a.follow->at(0), (QualifiedName{"", "active_storage_blobs"}));
  const auto& v = o.polymorphic.at(QualifiedName{"", "versions"});
  EXPECT_EQ(v.id_column, "ItemId");
  EXPECT_FALSE(v.follow.has_value());
  auto again = apply_options_json(options_to_json(o), {});
  EXPECT_EQ(again.polymorphic, o.polymorphic);
  EXPECT_EQ(options_to_json(again), options_to_json(o));
  auto recorded = nlohmann::json::parse(options_to_json(o))["polymorphic"]["versions"];
  EXPECT_EQ(recorded["id"], "\"ItemId\"");
  EXPECT_TRUE(recorded["follow"].is_null());
  EXPECT_EQ(nlohmann::json::parse(options_to_json(SnapshotOptions{}))["polymorphic"], nlohmann::json::object());
}

TEST(PolymorphicOption, RejectsWrongShapes) {
  for (const char* bad : {R"({"polymorphic": []})", R"({"polymorphic": {"t": "record_type"}})",
                          R"({"polymorphic": {"t": {"type": "a"}}})", R"({"polymorphic": {"t": {"id": "a"}}})",
                          R"({"polymorphic": {"t": {"type": "a", "id": "a"}}})",
                          R"({"polymorphic": {"t": {"type": "", "id": "b"}}})",
                          R"({"polymorphic": {"t": {"type": 1, "id": "b"}}})",
                          R"({"polymorphic": {"t": {"type": "a", "id": "b", "types": ["x"]}}})",
                          R"({"polymorphic": {"t": {"type": "a", "id": "b", "types": {"X": 1}}}})",
                          R"({"polymorphic": {"t": {"type": "a", "id": "b", "types": {"X": "a..b"}}}})",
                          R"({"polymorphic": {"t": {"type": "a", "id": "b", "follow": 3}}})",
                          R"({"polymorphic": {"t": {"type": "a", "id": "b", "kind": "x"}}})",
                          R"({"polymorphic": {"a..b": {"type": "a", "id": "b"}}})"}) {
    try {
      apply_options_json(bad, {});
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22023") << bad;
      EXPECT_NE(std::string(e.what()).find("polymorphic"), std::string::npos) << e.what();
    }
  }
}

TEST(PolymorphicOption, TypeValuesNameTablesByTheDocumentedRule) {
  EXPECT_TRUE(type_value_matches("Invoice", "public", "invoices"));
  EXPECT_TRUE(type_value_matches("invoice", "public", "invoices"));
  EXPECT_TRUE(type_value_matches("invoices", "public", "invoices"));
  EXPECT_TRUE(type_value_matches("public.invoices", "public", "invoices"));
  EXPECT_TRUE(type_value_matches("Billing::Invoice", "public", "billing_invoices"));
  EXPECT_TRUE(type_value_matches("BillingInvoice", "public", "billing_invoices"));
  EXPECT_TRUE(type_value_matches("Category", "public", "categories"));
  EXPECT_TRUE(type_value_matches("Address", "public", "addresses"));
  EXPECT_TRUE(type_value_matches("Box", "public", "boxes"));
  EXPECT_TRUE(type_value_matches("Response", "public", "responses"));
  EXPECT_TRUE(type_value_matches("Staff", "public", "staff"));  // no plural ending: the name itself
  EXPECT_TRUE(type_value_matches("ActiveStorage::Blob", "public", "active_storage_blobs"));
  EXPECT_FALSE(type_value_matches("Invoices", "public", "invoices"));
  EXPECT_FALSE(type_value_matches("INVOICE", "public", "invoices"));
  EXPECT_FALSE(type_value_matches("other.invoices", "public", "invoices"));
  EXPECT_FALSE(type_value_matches("Invoice", "public", "invoice_lines"));
  EXPECT_FALSE(type_value_matches("App\\Models\\Invoice", "public", "invoices"));  // Laravel: use types
  EXPECT_TRUE(type_value_matches("Address", "public", "address"));  // "ss" is not a plural ending
  EXPECT_FALSE(type_value_matches("Addres", "public", "addresses"));
  EXPECT_EQ(type_values_for_table("s", "billing_invoices"),
            (std::vector<std::string>{"Billing::Invoice", "BillingInvoice", "billing_invoice", "billing_invoices",
                                      "s.billing_invoices"}));
  // Long names: 64 spellings at most per singular.
  EXPECT_LE(type_values_for_table("s", "a_b_c_d_e_f_g_h_i_js").size(), 2u * 64u + 2u);
}
