#include "core/json_writer.hpp"

#include <charconv>

#include "core/error.hpp"

namespace ptb::core {

JsonWriter::JsonWriter(Sink& sink, size_t flush_threshold)
    : sink_(sink), flush_threshold_(flush_threshold) {
  buffer_.reserve(flush_threshold + 4096);
}

void JsonWriter::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!needs_comma_.empty()) {
    if (needs_comma_.back()) buffer_ += ',';
    needs_comma_.back() = true;
  }
}

void JsonWriter::begin_object() {
  before_value();
  buffer_ += '{';
  needs_comma_.push_back(false);
}

void JsonWriter::end_object() {
  needs_comma_.pop_back();
  buffer_ += '}';
  maybe_flush();
}

void JsonWriter::begin_array() {
  before_value();
  buffer_ += '[';
  needs_comma_.push_back(false);
}

void JsonWriter::end_array() {
  needs_comma_.pop_back();
  buffer_ += ']';
  maybe_flush();
}

void JsonWriter::key(std::string_view name) {
  before_value();
  append_json_string(buffer_, name);
  buffer_ += ':';
  after_key_ = true;
}

void JsonWriter::null() {
  before_value();
  buffer_ += "null";
}

void JsonWriter::boolean(bool value) {
  before_value();
  buffer_ += value ? "true" : "false";
}

void JsonWriter::integer(int64_t value) {
  before_value();
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  buffer_.append(digits, end);
}

void JsonWriter::string(std::string_view value) {
  before_value();
  append_json_string(buffer_, value);
  maybe_flush();
}

void JsonWriter::base64(const uint8_t* data, size_t size) {
  before_value();
  buffer_ += '"';
  append_base64(buffer_, data, size);
  buffer_ += '"';
  maybe_flush();
}

void JsonWriter::raw(std::string_view json) {
  before_value();
  buffer_.append(json);
  maybe_flush();
}

void JsonWriter::flush() {
  if (buffer_.empty()) return;
  sink_.write(buffer_);
  flushed_ += buffer_.size();
  buffer_.clear();
}

void append_json_string(std::string& out, std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  size_t run_start = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(value.data() + run_start, i - run_start);
    run_start = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
    }
  }
  out.append(value.data() + run_start, value.size() - run_start);
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
