// A streaming JSON writer: values are appended to a buffer that is handed
// to a Sink in chunks, so a snapshot never has to exist whole in memory
// (unless the sink is a string, as for backup_export's jsonb result).
#pragma once

#include <cstddef>
#include <cstdint>
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
  uint64_t bytes_written() const { return flushed_ + buffer_.size(); }

 private:
  void before_value();
  void maybe_flush() {
    if (buffer_.size() >= flush_threshold_) flush();
  }

  Sink& sink_;
  size_t flush_threshold_;
  std::string buffer_;
  uint64_t flushed_ = 0;
  // One entry per open container: does the next element need a comma?
  std::vector<bool> needs_comma_;
  bool after_key_ = false;
};

// JSON string escaping, appended to out.
void append_json_string(std::string& out, std::string_view value);

// Standard base64 (RFC 4648, with padding).
std::string base64_encode(const uint8_t* data, size_t size);
void append_base64(std::string& out, const uint8_t* data, size_t size);
// Throws Error(22P02) on anything but canonical padded base64.
std::string base64_decode(std::string_view text);

}  // namespace ptb::core
