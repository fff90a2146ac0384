#include "core/json_writer.hpp"

#include <charconv>
#include <cstring>

#include "core/error.hpp"

namespace ptb::core {

namespace {

// Bytes a JSON string cannot hold as they are: controls, '"' and '\'.
bool needs_escape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

// Whether any of the 8 bytes of w needs an escape (exact: no false
// negatives, and a false positive only costs the byte-wise check).
bool any_needs_escape(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  auto has_zero = [&](uint64_t v) { return (v - kOnes) & ~v & kHigh; };
  uint64_t below_space = (w - kOnes * 0x20) & ~w & kHigh;
  return (below_space | has_zero(w ^ (kOnes * '"')) | has_zero(w ^ (kOnes * '\\'))) != 0;
}

// The length of the run at the start of value that needs no escape.
size_t plain_run(std::string_view value) {
  const char* p = value.data();
  size_t n = value.size();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (any_needs_escape(w)) break;
  }
  while (i < n && !needs_escape(static_cast<unsigned char>(p[i]))) ++i;
  return i;
}

// The escape of a byte that needs one; returns its length.
size_t escape_of(unsigned char c, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out[0] = '\\';
  switch (c) {
    case '"': out[1] = '"'; return 2;
    case '\\': out[1] = '\\'; return 2;
    case '\n': out[1] = 'n'; return 2;
    case '\r': out[1] = 'r'; return 2;
    case '\t': out[1] = 't'; return 2;
    case '\b': out[1] = 'b'; return 2;
    case '\f': out[1] = 'f'; return 2;
    default:
      std::memcpy(out + 1, "u00", 3);
      out[4] = kHex[c >> 4];
      out[5] = kHex[c & 0xF];
      return 6;
  }
}

}  // namespace

JsonWriter::JsonWriter(Sink& sink, size_t flush_threshold)
    : sink_(sink),
      flush_threshold_(flush_threshold),
      capacity_(flush_threshold + 4096),
      buffer_(new char[flush_threshold + 4096]) {}

void JsonWriter::put(const char* bytes, size_t size) {
  if (size > capacity_ - length_) {
    flush();
    if (size > capacity_) {  // a large piece goes to the sink directly
      sink_.write(std::string_view(bytes, size));
      flushed_ += size;
      return;
    }
  }
  std::memcpy(buffer_.get() + length_, bytes, size);
  length_ += size;
}

void JsonWriter::put_escaped(std::string_view value) {
  put('"');
  while (!value.empty()) {
    size_t run = plain_run(value);
    put(value.data(), run);
    if (run == value.size()) break;
    char escape[6];
    put(escape, escape_of(static_cast<unsigned char>(value[run]), escape));
    value.remove_prefix(run + 1);
  }
  put('"');
}

void JsonWriter::open(char bracket) {
  before_value();
  put(bracket);
  outer_comma_.push_back(needs_comma_);
  needs_comma_ = false;
}

void JsonWriter::close(char bracket) {
  needs_comma_ = outer_comma_.back();
  outer_comma_.pop_back();
  put(bracket);
  maybe_flush();
}

void JsonWriter::begin_object() { open('{'); }
void JsonWriter::end_object() { close('}'); }
void JsonWriter::begin_array() { open('['); }
void JsonWriter::end_array() { close(']'); }

void JsonWriter::key(std::string_view name) {
  before_value();
  put_escaped(name);
  put(':');
  after_key_ = true;
}

void JsonWriter::null() {
  before_value();
  put("null", 4);
}

void JsonWriter::boolean(bool value) {
  before_value();
  if (value)
    put("true", 4);
  else
    put("false", 5);
}

void JsonWriter::integer(int64_t value) {
  before_value();
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  put(digits, static_cast<size_t>(end - digits));
}

void JsonWriter::string(std::string_view value) {
  before_value();
  put_escaped(value);
  maybe_flush();
}

void JsonWriter::base64(const uint8_t* data, size_t size) {
  before_value();
  put('"');
  std::string encoded;
  append_base64(encoded, data, size);
  put(encoded.data(), encoded.size());
  put('"');
  maybe_flush();
}

void JsonWriter::raw(std::string_view json) {
  before_value();
  put(json.data(), json.size());
  maybe_flush();
}

void JsonWriter::flush() {
  if (length_ == 0) return;
  sink_.write(std::string_view(buffer_.get(), length_));
  flushed_ += length_;
  length_ = 0;
}

void append_json_string(std::string& out, std::string_view value) {
  out += '"';
  while (!value.empty()) {
    size_t run = plain_run(value);
    out.append(value.data(), run);
    if (run == value.size()) break;
    char escape[6];
    out.append(escape, escape_of(static_cast<unsigned char>(value[run]), escape));
    value.remove_prefix(run + 1);
  }
  out += '"';
}

namespace {
constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

void append_base64(std::string& out, const uint8_t* data, size_t size) {
  out.reserve(out.size() + (size + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += kBase64[v >> 18];
    out += kBase64[(v >> 12) & 63];
    out += kBase64[(v >> 6) & 63];
    out += kBase64[v & 63];
  }
  if (size - i == 1) {
    uint32_t v = uint32_t{data[i]} << 16;
    out += kBase64[v >> 18];
    out += kBase64[(v >> 12) & 63];
    out += "==";
  } else if (size - i == 2) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    out += kBase64[v >> 18];
    out += kBase64[(v >> 12) & 63];
    out += kBase64[(v >> 6) & 63];
    out += '=';
  }
}

std::string base64_encode(const uint8_t* data, size_t size) {
  std::string out;
  append_base64(out, data, size);
  return out;
}

std::string base64_decode(std::string_view text) {
  auto bad = [] {
    throw Error(sqlstate::kInvalidTextRepresentation, "invalid base64 value in snapshot");
  };
  if (text.size() % 4 != 0) bad();
  auto value_of = [&](char c) -> uint32_t {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    bad();
    return 0;
  };
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const size_t pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=') : 0;
    if (pad == 1 && text[i + 2] == '=') bad();
    uint32_t v = (value_of(text[i]) << 18) | (value_of(text[i + 1]) << 12);
    if (pad < 2) v |= value_of(text[i + 2]) << 6;
    if (pad < 1) v |= value_of(text[i + 3]);
    out += static_cast<char>(v >> 16);
    if (pad < 2) out += static_cast<char>((v >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(v & 0xFF);
  }
  return out;
}

}  // namespace ptb::core
