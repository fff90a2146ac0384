#include <gtest/gtest.h>

#include "core/error.hpp"
#include "core/names.hpp"

using namespace ptb::core;

TEST(QuoteIdent, AlwaysQuotesAndDoublesEmbeddedQuotes) {
  EXPECT_EQ(quote_ident("orders"), "\"orders\"");
  EXPECT_EQ(quote_ident("we\"ird; DROP"), "\"we\"\"ird; DROP\"");
  EXPECT_EQ(quote_qualified("Sales", "x.y"), "\"Sales\".\"x.y\"");
}

TEST(ParseQualifiedName, FoldsUnquotedAndKeepsQuoted) {
  EXPECT_EQ(parse_qualified_name("Orders"), (QualifiedName{"", "orders"}));
  EXPECT_EQ(parse_qualified_name(" public . Orders "), (QualifiedName{"public", "orders"}));
  EXPECT_EQ(parse_qualified_name("\"My Schema\".\"Or\"\"ders\""),
            (QualifiedName{"My Schema", "Or\"ders"}));
  EXPECT_EQ(parse_qualified_name("\"a.b\""), (QualifiedName{"", "a.b"}));
}

TEST(ParseQualifiedName, RejectsMalformedNames) {
  for (const char* bad : {"", "a.b.c", "\"open", "a.", "\"\"", "a\"b", "a b"}) {
    try {
      parse_qualified_name(bad);
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22023") << bad;
    }
  }
}

TEST(SplitNameList, HonoursQuotesAndBlanks) {
  EXPECT_TRUE(split_name_list("").empty());
  EXPECT_TRUE(split_name_list("  ").empty());
  auto items = split_name_list(" a, \"b,c\" ,public.d");
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0], "a");
  EXPECT_EQ(items[1], "\"b,c\"");
  EXPECT_EQ(items[2], "public.d");
  EXPECT_THROW(split_name_list("a,,b"), Error);
  EXPECT_THROW(split_name_list("\"a"), Error);
}

TEST(QualifiedNameMatch, UnqualifiedMatchesAnySchema) {
  QualifiedName any{"", "orders"};
  QualifiedName exact{"sales", "orders"};
  EXPECT_TRUE(any.matches("public", "orders"));
  EXPECT_TRUE(any.matches("sales", "orders"));
  EXPECT_TRUE(exact.matches("sales", "orders"));
  EXPECT_FALSE(exact.matches("public", "orders"));
  EXPECT_FALSE(any.matches("public", "Orders"));
}

TEST(DisplayIdentifier, QuotesOnlyWhatWouldNotReadBack) {
  EXPECT_EQ(display_identifier("orders"), "orders");
  EXPECT_EQ(display_identifier("order_lines_2"), "order_lines_2");
  EXPECT_EQ(display_identifier("Orders"), "\"Orders\"");
  EXPECT_EQ(display_identifier("order lines"), "\"order lines\"");
  EXPECT_EQ(display_identifier("2025"), "\"2025\"");
  EXPECT_EQ(display_identifier("a\"b"), "\"a\"\"b\"");
  EXPECT_EQ(display_identifier(""), "\"\"");
  EXPECT_EQ(display_qualified("Sales", "orders"), "\"Sales\".orders");
  // What it prints reads back as the same name.
  EXPECT_EQ(parse_qualified_name(display_qualified("Sales", "Order \"Lines\"")),
            (QualifiedName{"Sales", "Order \"Lines\""}));
}
