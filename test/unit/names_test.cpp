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
