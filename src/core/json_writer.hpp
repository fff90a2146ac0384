// A streaming JSON writer: values are appended to a buffer that is handed
// to a Sink in chunks, so a snapshot never has to exist whole in memory
// (unless the sink is a string, as for backup_export's jsonb result).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ptb::core {

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void write(std::string_view bytes) = 0;
};

// Collects everything in one string.
class StringSink : public Sink {
 public:
  void write(std::string_view bytes) override { data_.append(bytes); }
  std::string& data() { return data_; }

 private:
  std::string data_;
};

class JsonWriter {
 public:
  explicit JsonWriter(Sink& sink, size_t flush_threshold = 256 * 1024);

  void begin_object();
  void end_object();
  void begin_array();
  void end_array();
  void key(std::string_view name);

  void null();
  void boolean(bool value);
  void integer(int64_t value);
  void string(std::string_view value);  // escaped; must be valid UTF-8
  // Bytes as a base64 string.
  void base64(const uint8_t* data, size_t size);
  // A value that is already JSON text (a number, a jsonb value's output).
  // The caller vouches that it is valid JSON.
  void raw(std::string_view json);

  // Hands buffered output to the sink.
  void flush();
  // Bytes handed to the sink plus bytes buffered.
  uint64_t bytes_written() const { return flushed_ + length_; }

 private:
  void before_value() {
    if (after_key_) {
      after_key_ = false;
    } else {
      if (needs_comma_) put(',');
      needs_comma_ = depth() > 0;
    }
  }
  size_t depth() const { return outer_comma_.size(); }
  void open(char bracket);
  void close(char bracket);
  void maybe_flush() {
    if (length_ >= flush_threshold_) flush();
  }
  // Appends to the buffer; a piece larger than the room left flushes
  // first (pieces may end mid-value: the sink sees a byte stream).
  void put(char c) {
    if (length_ == capacity_) flush();
    buffer_[length_++] = c;
  }
  void put(const char* bytes, size_t size);
  void put_escaped(std::string_view value);

  Sink& sink_;
  size_t flush_threshold_;
  size_t capacity_;
  std::unique_ptr<char[]> buffer_;
  size_t length_ = 0;
  uint64_t flushed_ = 0;
  // Does the next value of the current container need a comma before it;
  // and the same for each enclosing container (one entry per open one).
  bool needs_comma_ = false;
  std::vector<bool> outer_comma_;
  bool after_key_ = false;
};

// JSON string escaping, appended to out. Runs of bytes that need no
// escape are found eight at a time and copied whole.
void append_json_string(std::string& out, std::string_view value);

// Standard base64 (RFC 4648, with padding).
std::string base64_encode(const uint8_t* data, size_t size);
void append_base64(std::string& out, const uint8_t* data, size_t size);
// Throws Error(22P02) on anything but canonical padded base64.
std::string base64_decode(std::string_view text);

}  // namespace ptb::core
