// SQL identifiers: quoting for generated SQL, and parsing of the names users
// write in settings and options ("orders", "Sales"."Orders", a,b,"c,d").
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ptb::core {

// Always double-quotes, doubling embedded quotes. Generated SQL uses only
// this, so no table, column or schema name can change the statement.
std::string quote_ident(std::string_view name);

// "schema"."name" with both parts always quoted.
std::string quote_qualified(std::string_view schema, std::string_view name);

// For messages and reports: quoted only when needed to read it back as the
// same name (lower-case letters, digits, _ and $ need none), so it can be
// pasted into an option: orders, "Order Lines", public.orders.
std::string display_identifier(std::string_view name);
std::string display_qualified(std::string_view schema, std::string_view name);

// A possibly schema-qualified name as the user wrote it. An empty schema
// means "in any scanned schema".
struct QualifiedName {
  std::string schema;
  std::string name;

  bool operator==(const QualifiedName&) const = default;
  auto operator<=>(const QualifiedName&) const = default;

  // Does it name the table schema.name?
  bool matches(std::string_view table_schema, std::string_view table_name) const;
  std::string to_string() const;  // for messages: schema.name as given
};

// Parses an identifier following SQL rules: unquoted parts are folded to
// lower case (ASCII), "quoted" parts keep case and may contain anything
// ("" is an embedded quote). Throws Error(22023) on malformed input.
std::string parse_identifier(std::string_view text);
QualifiedName parse_qualified_name(std::string_view text);

// Items joined with a separator (SQL lists, messages).
std::string join(const std::vector<std::string>& items, std::string_view separator);

// Splits a comma-separated list, honouring double quotes, trimming blanks;
// empty input gives an empty list. Items are returned unparsed.
std::vector<std::string> split_name_list(std::string_view text);

}  // namespace ptb::core
