// Compression of snapshot files: a Sink that compresses what is written to
// it, and a Source that decompresses what is read from it, both streaming
// with fixed buffers so a snapshot of any size passes through in bounded
// memory. Only zstd is supported besides no compression.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/json_writer.hpp"

// zstd's context types, so this header does not need <zstd.h>.
struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

namespace ptb::core {

enum class Compression { None, Zstd };

std::string_view to_string(Compression compression);  // "none", "zstd"
std::optional<Compression> compression_from_string(std::string_view name);

// Zstd when the bytes start with a zstd frame's magic number (28 B5 2F FD),
// else None. Four bytes are enough.
Compression detect_compression(std::string_view first_bytes);

// Compresses everything written to it into `out`. Compressed output is
// handed to `out` in chunks of about 128 KiB. finish() must be called once
// after the last write to end the frame; without it the output is
// incomplete (the destructor only frees memory, it never writes or throws).
// With Compression::None, bytes pass through unchanged.
class CompressingSink : public Sink {
 public:
  // level: zstd's, from ZSTD_minCLevel() to ZSTD_maxCLevel() (0 means its
  // default); anything else throws Error(22023).
  CompressingSink(Sink& out, Compression compression, int level = 3);
  ~CompressingSink() override;
  CompressingSink(const CompressingSink&) = delete;
  CompressingSink& operator=(const CompressingSink&) = delete;

  void write(std::string_view bytes) override;
  void finish();

  uint64_t bytes_in() const { return bytes_in_; }    // written to this sink
  uint64_t bytes_out() const { return bytes_out_; }  // handed to `out`

 private:
  void emit();

  Sink& out_;
  Compression compression_;
  ZSTD_CCtx_s* context_ = nullptr;
  std::vector<char> buffer_;  // compressed bytes not yet handed to out_
  size_t buffered_ = 0;
  bool finished_ = false;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
};

// Where bytes are read from: the mirror of Sink.
class Source {
 public:
  virtual ~Source() = default;
  // Copies up to `capacity` bytes into buf; returns how many, 0 only at the
  // end of the input (or when capacity is 0).
  virtual size_t read(char* buf, size_t capacity) = 0;
};

// Reads from a string it does not own.
class StringSource : public Source {
 public:
  explicit StringSource(std::string_view data) : data_(data) {}
  size_t read(char* buf, size_t capacity) override;

 private:
  std::string_view data_;
};

// Decompresses what it reads from `in`. Input that is not a whole, intact
// zstd stream (a frame cut short, a bad checksum, trailing bytes that are
// not a frame, a frame asking for a window above 8 MiB) throws
// Error(XX001, "snapshot file is corrupted: ..."). Memory use is fixed,
// whatever the size of the output. With Compression::None, bytes pass
// through unchanged.
class DecompressingSource : public Source {
 public:
  DecompressingSource(Source& in, Compression compression);
  ~DecompressingSource() override;
  DecompressingSource(const DecompressingSource&) = delete;
  DecompressingSource& operator=(const DecompressingSource&) = delete;

  size_t read(char* buf, size_t capacity) override;

 private:
  Source& in_;
  Compression compression_;
  ZSTD_DCtx_s* context_ = nullptr;
  std::vector<char> input_;  // compressed bytes read from in_
  size_t input_size_ = 0;
  size_t input_pos_ = 0;
  bool input_ended_ = false;
  bool any_input_ = false;
  bool frame_complete_ = false;  // the last frame decoded is whole
};

}  // namespace ptb::core
