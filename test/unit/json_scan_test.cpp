// JsonScanner against nlohmann's strict SAX parser: on every input, the
// same calls in the same order, and an error exactly where nlohmann has one.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "trickle_source.hpp"
#include "core/compression.hpp"
#include "core/json_scan.hpp"

using namespace ptb::core;
using ptb::core::test_support::TrickleSource;
using json = nlohmann::json;

namespace {

// Writes every call down as text; a parse error as "error".
struct Recorder {
  std::string calls;
  bool null() { return add("null"); }
  bool boolean(bool v) { return add(v ? "true" : "false"); }
  bool number_integer(json::number_integer_t v) { return add("i" + std::to_string(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return add("u" + std::to_string(v)); }
  // The text only: the scanner reads floats as long double, nlohmann as
  // double (the snapshot reader keeps the text of numbers, not the value).
  bool number_float(long double, const std::string& text) { return add("f" + text); }
  bool string(std::string& v) { return add("s" + json(v).dump()); }
  bool binary(json::binary_t&) { return add("binary"); }
  bool start_object(std::size_t) { return add("{"); }
  bool key(std::string& k) { return add("k" + json(k).dump()); }
  bool end_object() { return add("}"); }
  bool start_array(std::size_t) { return add("["); }
  bool end_array() { return add("]"); }
  bool parse_error(std::size_t, const std::string&, const json::exception& e) {
    add(e.id == 406 ? "overflow" : "error");  // 406: a number beyond a double's range
    return false;
  }
  bool add(const std::string& call) {
    calls += call;
    calls += ' ';
    return true;
  }
};


std::string with_nlohmann(const std::string& text) {
  Recorder r;
  bool ok = json::sax_parse(text, &r, json::input_format_t::json, true);
  // nlohmann stops at a NUL byte as at the end of input.
  if (ok && text.find('\0') != std::string::npos) r.calls += "error ";
  // The scanner does not call the handler after an error: compare the
  // calls up to the first error only.
  return r.calls;
}

std::string with_scanner(const std::string& text, size_t step) {
  Recorder r;
  TrickleSource source(text, step);
  JsonScanner<Recorder> scanner(source, r);
  scanner.run();
  return r.calls;
}

void expect_same(const std::string& text) {
  const std::string expected = with_nlohmann(text);
  // The scanner reads such numbers on purpose (ReadsNumbersBeyondADoublesRange).
  if (expected.find("overflow") != std::string::npos) return;
  for (size_t step : {size_t{1}, size_t{3}, size_t{7}, size_t{1} << 20})
    ASSERT_EQ(with_scanner(text, step), expected)
        << "input: " << json(text).dump(-1, ' ', true, json::error_handler_t::replace) << " step "
        << step;
}

}  // namespace

TEST(JsonScanner, MatchesNlohmannOnValidAndInvalidText) {
  for (const char* text : {
           "", " ", "{}", "[]", " [ ] ", "{\"a\":1}", "[1,2,3]", "[1,]", "{\"a\":1,}", "{,}",
           "[01]", "[-0]", "[-]", "[1.]", "[.5]", "[+1]", "[1e]", "[1e+]", "[1E-2]", "[0.5e10]",
           "[-9223372036854775808]", "[-9223372036854775809]", "[18446744073709551615]",
           "[18446744073709551616]", "[1e308]", "[123456789012345678901234]",
           "[true,false,null]", "[tru]", "[nul]", "[falsey]", "[True]", "\"x\"", "1", "1 2",
           "{\"a\" 1}", "{\"a\":}", "{1:2}", "[\"\\u00e9\\ud83d\\ude00\"]", "[\"\\ud83d\"]",
           "[\"\\ud83dx\"]", "[\"\\ude00\"]", "[\"\\ud83d\\u0041\"]", "[\"\\u12\"]",
           "[\"\\x\"]", "[\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"]", "[\"a\tb\"]", "[\"\x7f\"]",
           "[\"\xc3\xa9\"]", "[\"\xc3\"]", "[\"\xc0\x80\"]", "[\"\xe0\x80\x80\"]",
           "[\"\xed\xa0\x80\"]", "[\"\xf4\x90\x80\x80\"]", "[\"\xf0\x9f\x98\x80\"]", "[\"\xff\"]",
           "{\"a\":[{\"b\":[[],{}]}]}", "[[[[[]]]]", "[[[[]]]]]", "\xef\xbb\xbf[]", "[1]\n\r\t ",
           "[\"unterminated", "{\"a\":\"b\"", "{\"a\"", "[1,2"})
    expect_same(text);
  expect_same(std::string("[1]\0", 4));
  expect_same(std::string("[\"a\0b\"]", 7));
  expect_same(std::string("[\0]", 3));
}

TEST(JsonScanner, MatchesNlohmannOnRandomDamage) {
  const std::string base =
      R"({"format":"pg_tenant_backup","format_version":1,"data":[{"schema":"public",)"
      R"("name":"t","columns":["a","b","c"],"rows":[[1,"x\"y\\z",null],[-2,"caf\u00e9 é",true],)"
      R"([3.5e-3,"\ud83d\ude00",false],[18446744073709551615,{"$jsonb":{"k":[1,2]}},"\n"]]}],)"
      R"("statistics":{"total_rows":4}})";
  ASSERT_TRUE(json::accept(base));
  expect_same(base);
  std::mt19937 random(7);
  const std::string noise = "{}[],:\"\\ 0-1eE.+tfnu\x80\xc3\xa9\xff\x01";
  for (int round = 0; round < 4000; ++round) {
    std::string damaged = base;
    for (int k = 0, n = 1 + static_cast<int>(random() % 3); k < n; ++k) {
      size_t at = random() % damaged.size();
      switch (random() % 3) {
        case 0: damaged[at] = noise[random() % noise.size()]; break;
        case 1: damaged.erase(at, 1 + random() % 6); break;
        default: damaged.insert(at, 1, noise[random() % noise.size()]); break;
      }
    }
    expect_same(damaged);
  }
}

// Where the scanner differs on purpose: a number beyond a double's range
// (jsonb writes 1e400 as its 401 digits) is a float with its text, not an
// error; beyond a long double's range it is one.
TEST(JsonScanner, ReadsNumbersBeyondADoublesRange) {
  for (const std::string& text : std::vector<std::string>{"[1e309]", "[-1e999]", "[1" + std::string(400, '0') + "]"})
    EXPECT_EQ(with_scanner(text, 3), "[ f" + text.substr(1, text.size() - 2) + " ] ") << text;
  EXPECT_EQ(with_scanner("[1e5000]", 3), "[ error ");
}
