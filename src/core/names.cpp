#include "core/names.hpp"

#include "core/error.hpp"

namespace ptb::core {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

[[noreturn]] void malformed(std::string_view text, const std::string& why) {
  throw Error(sqlstate::kInvalidParameterValue,
              "invalid name \"" + std::string(text) + "\": " + why,
              {}, "Write a name as table, schema.table or \"Quoted\".\"Name\".");
}

// Reads one identifier part starting at pos; leaves pos after it.
std::string read_part(std::string_view text, size_t& pos) {
  std::string out;
  if (pos < text.size() && text[pos] == '"') {
    ++pos;
    for (;;) {
      if (pos >= text.size()) malformed(text, "unterminated quoted identifier");
      if (text[pos] == '"') {
        if (pos + 1 < text.size() && text[pos + 1] == '"') {
          out += '"';
          pos += 2;
          continue;
        }
        ++pos;
        break;
      }
      out += text[pos++];
    }
    if (out.empty()) malformed(text, "zero-length quoted identifier");
    return out;
  }
  while (pos < text.size() && text[pos] != '.' && !is_blank(text[pos])) {
    char c = text[pos++];
    if (c == '"') malformed(text, "quote in the middle of an unquoted identifier");
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    out += c;
  }
  if (out.empty()) malformed(text, "empty identifier");
  return out;
}

void skip_blanks(std::string_view text, size_t& pos) {
  while (pos < text.size() && is_blank(text[pos])) ++pos;
}

}  // namespace

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

std::string quote_ident(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out += '"';
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string quote_qualified(std::string_view schema, std::string_view name) {
  return quote_ident(schema) + "." + quote_ident(name);
}

std::string display_identifier(std::string_view name) {
  bool plain = !name.empty() && !(name[0] >= '0' && name[0] <= '9') && name[0] != '$';
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '$')) plain = false;
  return plain ? std::string(name) : quote_ident(name);
}

std::string display_qualified(std::string_view schema, std::string_view name) {
  return display_identifier(schema) + "." + display_identifier(name);
}

bool QualifiedName::matches(std::string_view table_schema,
                            std::string_view table_name) const {
  return name == table_name && (schema.empty() || schema == table_schema);
}

std::string QualifiedName::to_string() const {
  return schema.empty() ? name : schema + "." + name;
}

std::string parse_identifier(std::string_view text) {
  size_t pos = 0;
  skip_blanks(text, pos);
  std::string part = read_part(text, pos);
  skip_blanks(text, pos);
  if (pos != text.size()) malformed(text, "unexpected text after the identifier");
  return part;
}

QualifiedName parse_qualified_name(std::string_view text) {
  size_t pos = 0;
  skip_blanks(text, pos);
  std::string first = read_part(text, pos);
  skip_blanks(text, pos);
  if (pos == text.size()) return {"", first};
  if (text[pos] != '.') malformed(text, "unexpected text after the identifier");
  ++pos;
  skip_blanks(text, pos);
  std::string second = read_part(text, pos);
  skip_blanks(text, pos);
  if (pos != text.size()) malformed(text, "too many dotted parts (at most schema.table)");
  return {first, second};
}

std::vector<std::string> split_name_list(std::string_view text) {
  std::vector<std::string> items;
  std::string current;
  bool in_quotes = false;
  bool any = false;
  auto flush = [&] {
    size_t b = 0, e = current.size();
    while (b < e && is_blank(current[b])) ++b;
    while (e > b && is_blank(current[e - 1])) --e;
    std::string item = current.substr(b, e - b);
    if (item.empty()) malformed(text, "empty item in the list");
    items.push_back(std::move(item));
    current.clear();
  };
  for (char c : text) {
    if (c == '"') in_quotes = !in_quotes;
    if (c == ',' && !in_quotes) {
      flush();
      continue;
    }
    if (!is_blank(c)) any = true;
    current += c;
  }
  if (in_quotes) malformed(text, "unterminated quoted identifier");
  if (!any && items.empty()) return {};
  flush();
  return items;
}

}  // namespace ptb::core
