#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/json_writer.hpp"
#include "core/value_encoding.hpp"

using namespace ptb::core;

namespace {
// Counts the chunks a writer hands over.
class CountingSink : public Sink {
 public:
  void write(std::string_view bytes) override {
    data += bytes;
    ++chunks;
  }
  std::string data;
  int chunks = 0;
};
}  // namespace

TEST(JsonWriter, WritesNestedDocumentsWithCommas) {
  StringSink sink;
  JsonWriter w(sink);
  w.begin_object();
  w.key("a");
  w.integer(-9223372036854775807LL - 1);
  w.key("b");
  w.begin_array();
  w.null();
  w.boolean(true);
  w.string("x");
  w.begin_object();
  w.end_object();
  w.begin_array();
  w.end_array();
  w.raw("1.5e+300");
  w.end_array();
  w.key("c");
  w.string("");
  w.end_object();
  w.flush();
  EXPECT_EQ(sink.data(), R"({"a":-9223372036854775808,"b":[null,true,"x",{},[],1.5e+300],"c":""})");
  EXPECT_TRUE(nlohmann::json::accept(sink.data()));
}

TEST(JsonWriter, EscapesEverythingJsonRequires) {
  std::string out;
  append_json_string(out, std::string("q\"b\\n\nt\tc\x01\x1f/\x7f\xc3\xa9", 15));
  EXPECT_EQ(out, "\"q\\\"b\\\\n\\nt\\tc\\u0001\\u001f/\x7f\xc3\xa9\"");
  auto parsed = nlohmann::json::parse(out).get<std::string>();
  EXPECT_EQ(parsed, std::string("q\"b\\n\nt\tc\x01\x1f/\x7f\xc3\xa9", 15));
}

TEST(JsonWriter, FlushesInChunksAndCountsBytes) {
  CountingSink sink;
  JsonWriter w(sink, 64);
  w.begin_array();
  for (int i = 0; i < 100; ++i) w.string("0123456789");
  w.end_array();
  w.flush();
  EXPECT_GT(sink.chunks, 10);
  EXPECT_EQ(w.bytes_written(), sink.data.size());
  EXPECT_EQ(nlohmann::json::parse(sink.data).size(), 100u);
}

TEST(Base64, RoundTripsEveryLength) {
  std::string bytes;
  for (int n = 0; n < 300; ++n) {
    auto encoded = base64_encode(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    EXPECT_EQ(encoded.size() % 4, 0u);
    EXPECT_EQ(base64_decode(encoded), bytes);
    bytes += static_cast<char>(n * 37);
  }
  EXPECT_EQ(base64_encode(reinterpret_cast<const uint8_t*>("foobar"), 6), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(reinterpret_cast<const uint8_t*>("fo"), 2), "Zm8=");
}

TEST(Base64, RejectsMalformedText) {
  for (const char* bad : {"Zm9", "Zm9v!mFy", "Z===", "Zm=v", "Zm8=Zm8="}) {
    try {
      base64_decode(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22P02");
    }
  }
}

TEST(ValueEncoding, FloatsKeepSpecialValuesAsStrings) {
  StringSink sink;
  JsonWriter w(sink);
  w.begin_array();
  for (const char* t : {"1.5", "NaN", "Infinity", "-Infinity", "-0", "1e-310", "0"}) write_float(w, t);
  w.end_array();
  w.flush();
  EXPECT_EQ(sink.data(), R"([1.5,"NaN","Infinity","-Infinity","-0",1e-310,0])");
}

TEST(ValueEncoding, NamesRoundTrip) {
  for (auto e : {ValueEncoding::Integer, ValueEncoding::Float, ValueEncoding::Numeric,
                 ValueEncoding::Boolean, ValueEncoding::Jsonb, ValueEncoding::Json,
                 ValueEncoding::Bytea, ValueEncoding::Text})
    EXPECT_EQ(encoding_from_string(to_string(e)), e);
  EXPECT_FALSE(encoding_from_string("blob").has_value());
}

TEST(ValueEncoding, WrappedJsonbUsesTheEscapeKey) {
  StringSink sink;
  JsonWriter w(sink);
  w.begin_array();
  write_wrapped_jsonb(w, "null");
  write_wrapped_jsonb(w, R"({"$jsonb": 1})");
  w.end_array();
  w.flush();
  EXPECT_EQ(sink.data(), R"([{"$jsonb":null},{"$jsonb":{"$jsonb": 1}}])");
}

// The escape scan works eight bytes at a time: a byte that needs an escape
// must be found at every position, in strings of every length around 8.
TEST(JsonWriter, EscapesAtEveryPositionOfTheWordScan) {
  for (size_t length = 1; length <= 40; ++length) {
    for (size_t at = 0; at < length; ++at) {
      for (char special : {'"', '\\', '\n', '\x01', '\x1f'}) {
        std::string value(length, 'a');
        value[at] = special;
        std::string out;
        append_json_string(out, value);
        ASSERT_EQ(nlohmann::json::parse(out).get<std::string>(), value) << length << " " << at;
        StringSink sink;
        JsonWriter w(sink, 16);
        w.string(value);
        w.flush();
        ASSERT_EQ(sink.data(), out);
      }
    }
  }
  // Bytes just above the escaped ones, and high bytes, stay as they are.
  std::string kept = "\x20!#[]^\x7f\xc3\xa9\xf0\x9f\x98\x80 0123456789";
  std::string out;
  append_json_string(out, kept);
  EXPECT_EQ(out, "\"" + kept + "\"");
}

// Values larger than the writer's buffer pass through whole and in order.
TEST(JsonWriter, WritesValuesLargerThanItsBuffer) {
  CountingSink sink;
  JsonWriter w(sink, 64);
  std::string big(10000, 'x');
  big[5000] = '"';
  w.begin_array();
  w.string(big);
  w.raw("\"" + std::string(500, 'r') + "\"");
  w.integer(7);
  w.begin_object();
  w.key(std::string(300, 'k'));
  w.begin_array();
  w.end_array();
  w.end_object();
  w.end_array();
  w.flush();
  auto parsed = nlohmann::json::parse(sink.data);
  ASSERT_EQ(parsed.size(), 4u);
  EXPECT_EQ(parsed[0].get<std::string>(), big);
  EXPECT_EQ(parsed[1].get<std::string>(), std::string(500, 'r'));
  EXPECT_EQ(parsed[2], 7);
  EXPECT_EQ(parsed[3][std::string(300, 'k')], nlohmann::json::array());
  EXPECT_EQ(w.bytes_written(), sink.data.size());
}
