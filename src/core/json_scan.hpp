// A strict JSON scanner (RFC 8259) that reads a Source and calls a handler
// with nlohmann::json's SAX interface, for documents too large to parse
// slowly: strings are scanned eight bytes at a time and handed over from
// one reused buffer, numbers are converted only as far as the handler needs.
//
// It accepts exactly what nlohmann's strict sax_parse accepts (JSON text
// with UTF-8 strings, after an optional byte order mark; surrogate escapes in pairs; one value and then only
// whitespace; a number that does not fit a double is an error), so a
// handler sees the same calls in the same order. Only the wording of a
// syntax error differs: it is passed to handler.parse_error() as a
// nlohmann parse_error naming the byte offset.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/compression.hpp"

namespace ptb::core {

template <typename Handler>
class JsonScanner {
 public:
  JsonScanner(Source& source, Handler& handler)
      : source_(source), handler_(handler), buffer_(64 * 1024) {}

  // False after a syntax error (reported to handler.parse_error) or when
  // the handler returned false.
  bool run() {
    // Containers open: 1 for an object, 0 for an array.
    std::string open;
    // A UTF-8 byte order mark may come first (as nlohmann allows).
    if (peek() == 0xEF) {
      ++pos_;
      if (next() != 0xBB || next() != 0xBF) return fail("invalid byte order mark");
    }
    skip_space();
    for (;;) {
      // A value.
      int c = peek();
      if (c == '{' || c == '[') {
        ++pos_;
        const bool object = c == '{';
        if (!(object ? handler_.start_object(std::size_t(-1))
                     : handler_.start_array(std::size_t(-1))))
          return false;
        open.push_back(object);
        skip_space();
        if (peek() == (object ? '}' : ']')) {
          ++pos_;
          open.pop_back();
          if (!(object ? handler_.end_object() : handler_.end_array())) return false;
        } else if (object) {
          if (!key()) return false;
          continue;
        } else {
          continue;
        }
      } else if (!scalar()) {
        return false;
      }
      // After a value: a comma, the end of containers, or the end.
      for (;;) {
        skip_space();
        if (open.empty()) {
          if (peek() != kEnd) return fail("unexpected text after the document");
          return true;
        }
        c = peek();
        const bool object = open.back();
        if (c == ',') {
          ++pos_;
          skip_space();
          if (object && !key()) return false;
          break;
        }
        if (c == kEnd) return fail("unexpected end of input (the document is incomplete)");
        if (c != (object ? '}' : ']'))
          return fail(object ? "expected ',' or '}' after an object member"
                             : "expected ',' or ']' after an array element");
        ++pos_;
        open.pop_back();
        if (!(object ? handler_.end_object() : handler_.end_array())) return false;
      }
    }
  }

 private:
  static constexpr int kEnd = -1;

  // The byte at the read position (kEnd at the end), refilling as needed.
  int peek() {
    if (pos_ == size_ && !refill()) return kEnd;
    return static_cast<unsigned char>(buffer_[pos_]);
  }
  int next() {
    int c = peek();
    if (c != kEnd) ++pos_;
    return c;
  }
  bool refill() {
    if (ended_) return false;
    offset_ += size_;
    size_ = source_.read(buffer_.data(), buffer_.size());
    pos_ = 0;
    ended_ = size_ == 0;
    return !ended_;
  }
  void skip_space() {
    for (;;) {
      int c = peek();
      if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return;
      ++pos_;
    }
  }

  bool fail(const std::string& what) {
    const std::size_t at = offset_ + pos_;
    auto error = nlohmann::json::parse_error::create(
        101, at, "parse error at byte " + std::to_string(at) + ": " + what, nullptr);
    handler_.parse_error(at, std::string(), error);
    return false;
  }

  bool key() {
    if (peek() != '"')
      return fail(peek() == kEnd ? "unexpected end of input (expected an object key)"
                                 : "expected a string as an object key");
    if (!string()) return false;
    if (!handler_.key(text_)) return false;
    skip_space();
    int c = next();
    if (c != ':')
      return fail(c == kEnd ? "unexpected end of input (expected ':')"
                            : "expected ':' after an object key");
    skip_space();
    return true;
  }

  bool scalar() {
    int c = peek();
    switch (c) {
      case '"':
        if (!string()) return false;
        return handler_.string(text_);
      case 't': return literal("true") && handler_.boolean(true);
      case 'f': return literal("false") && handler_.boolean(false);
      case 'n': return literal("null") && handler_.null();
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return number();
        return fail(c == kEnd ? "unexpected end of input" : "expected a JSON value");
    }
  }

  bool literal(const char* word) {
    for (const char* p = word; *p; ++p)
      if (int c = next(); c != *p)
        return fail(c == kEnd ? std::string("unexpected end of input in a literal")
                              : std::string("invalid literal (expected ") + word + ")");
    return true;
  }

  bool number() {
    text_.clear();
    // The magnitude of an integer, while it fits 64 bits.
    uint64_t magnitude = 0;
    bool fits = true;
    auto digits = [&](bool accumulate) {
      size_t n = 0;
      for (int c = peek(); c >= '0' && c <= '9'; c = peek(), ++n) {
        ++pos_;
        text_ += static_cast<char>(c);
        if (accumulate && fits)
          fits = !__builtin_mul_overflow(magnitude, 10u, &magnitude) &&
                 !__builtin_add_overflow(magnitude, static_cast<unsigned>(c - '0'), &magnitude);
      }
      return n;
    };
    const bool negative = peek() == '-';
    if (negative) text_ += static_cast<char>(next());
    if (peek() == '0') {
      text_ += static_cast<char>(next());
    } else if (digits(true) == 0) {
      return fail(peek() == kEnd ? "unexpected end of input in a number" : "invalid number");
    }
    bool integer = true;
    if (peek() == '.') {
      integer = false;
      text_ += static_cast<char>(next());
      if (digits(false) == 0) return fail("invalid number (no digit after '.')");
    }
    if (peek() == 'e' || peek() == 'E') {
      integer = false;
      text_ += static_cast<char>(next());
      if (peek() == '+' || peek() == '-') text_ += static_cast<char>(next());
      if (digits(false) == 0) return fail("invalid number (no digit in the exponent)");
    }
    // As nlohmann: a negative integer that fits int64 and a non-negative one
    // that fits uint64 are integers; anything else is a double.
    if (integer && fits) {
      if (!negative) return handler_.number_unsigned(magnitude);
      if (magnitude <= uint64_t{1} << 63)
        return handler_.number_integer(static_cast<int64_t>(0 - magnitude));
    }
    // long double: jsonb keeps numbers beyond a double's range (1e400 is
    // written as its 401 digits); the handler keeps the text anyway.
    long double v = std::strtold(text_.c_str(), nullptr);
    if (!std::isfinite(v)) return fail("number overflow parsing '" + text_ + "'");
    return handler_.number_float(v, text_);
  }

  // The string at the read position ('"' first) into text_, unescaped.
  bool string() {
    ++pos_;
    text_.clear();
    for (;;) {
      // A run of plain ASCII in the buffer, eight bytes at a time.
      const char* p = buffer_.data() + pos_;
      size_t n = size_ - pos_;
      size_t i = 0;
      for (; i + 8 <= n; i += 8) {
        uint64_t w;
        std::memcpy(&w, p + i, 8);
        if (special(w)) break;
      }
      while (i < n && plain(static_cast<unsigned char>(p[i]))) ++i;
      text_.append(p, i);
      pos_ += i;
      int c = peek();
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c == kEnd) return fail("unexpected end of input in a string");
      if (c == '\\') {
        ++pos_;
        if (!escape()) return false;
      } else if (c < 0x20) {
        return fail("control character in a string (it must be escaped)");
      } else if (c >= 0x80) {
        if (!utf8()) return false;
      }
    }
  }

  static bool plain(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }
  // Whether any byte of w is not plain (exact for "none").
  static bool special(uint64_t w) {
    constexpr uint64_t kOnes = 0x0101010101010101ULL;
    constexpr uint64_t kHigh = 0x8080808080808080ULL;
    auto has_zero = [&](uint64_t v) { return (v - kOnes) & ~v & kHigh; };
    return ((w & kHigh) | ((w - kOnes * 0x20) & ~w & kHigh) | has_zero(w ^ (kOnes * '"')) |
            has_zero(w ^ (kOnes * '\\'))) != 0;
  }

  bool utf8() {
    const int lead = next();
    size_t length;
    int low = 0x80, high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;
      if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;
      if (lead == 0xF4) high = 0x8F;
    } else {
      return fail("invalid UTF-8 byte in a string");
    }
    text_ += static_cast<char>(lead);
    for (size_t k = 1; k < length; ++k) {
      int c = next();
      if (c == kEnd || c < (k == 1 ? low : 0x80) || c > (k == 1 ? high : 0xBF))
        return fail("invalid UTF-8 sequence in a string");
      text_ += static_cast<char>(c);
    }
    return true;
  }

  bool hex4(uint32_t& out) {
    out = 0;
    for (int k = 0; k < 4; ++k) {
      int c = next();
      uint32_t d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else return fail("invalid \\u escape (four hex digits expected)");
      out = out << 4 | d;
    }
    return true;
  }

  bool escape() {
    int c = next();
    switch (c) {
      case '"': text_ += '"'; return true;
      case '\\': text_ += '\\'; return true;
      case '/': text_ += '/'; return true;
      case 'b': text_ += '\b'; return true;
      case 'f': text_ += '\f'; return true;
      case 'n': text_ += '\n'; return true;
      case 'r': text_ += '\r'; return true;
      case 't': text_ += '\t'; return true;
      case 'u': break;
      default: return fail("invalid escape in a string");
    }
    uint32_t code;
    if (!hex4(code)) return false;
    if (code >= 0xDC00 && code <= 0xDFFF) return fail("lone low surrogate escape in a string");
    if (code >= 0xD800 && code <= 0xDBFF) {
      uint32_t low;
      if (next() != '\\' || next() != 'u') return fail("high surrogate escape without its pair");
      if (!hex4(low)) return false;
      if (low < 0xDC00 || low > 0xDFFF) return fail("high surrogate escape without its pair");
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    if (code < 0x80) {
      text_ += static_cast<char>(code);
    } else if (code < 0x800) {
      text_ += static_cast<char>(0xC0 | code >> 6);
      text_ += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      text_ += static_cast<char>(0xE0 | code >> 12);
      text_ += static_cast<char>(0x80 | (code >> 6 & 0x3F));
      text_ += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      text_ += static_cast<char>(0xF0 | code >> 18);
      text_ += static_cast<char>(0x80 | (code >> 12 & 0x3F));
      text_ += static_cast<char>(0x80 | (code >> 6 & 0x3F));
      text_ += static_cast<char>(0x80 | (code & 0x3F));
    }
    return true;
  }

  Source& source_;
  Handler& handler_;
  std::vector<char> buffer_;
  size_t size_ = 0;     // bytes in buffer_
  size_t pos_ = 0;      // read position in buffer_
  size_t offset_ = 0;   // of buffer_[0] in the input
  bool ended_ = false;
  std::string text_;    // the current string or number, reused
};

}  // namespace ptb::core
