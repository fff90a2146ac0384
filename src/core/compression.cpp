#include "core/compression.hpp"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "core/error.hpp"

namespace ptb::core {

namespace {

// The largest window a reader accepts (8 MiB): what zstd levels up to 19
// use, and what the writer caps higher levels at. It bounds a reader's
// memory, whatever a (hostile) frame header asks for.
constexpr int kMaxWindowLog = 23;

constexpr unsigned char kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};

Error corrupted(std::string_view what) {
  return Error(sqlstate::kDataCorrupted, "snapshot file is corrupted: " + std::string(what));
}

[[noreturn]] void zstd_failed(const char* step, size_t code) {
  throw Error(sqlstate::kInternalError,
              std::string("zstd ") + step + " failed: " + ZSTD_getErrorName(code));
}

void check(const char* step, size_t code) {
  if (ZSTD_isError(code)) zstd_failed(step, code);
}

}  // namespace

std::string_view to_string(Compression compression) {
  switch (compression) {
    case Compression::None: return "none";
    case Compression::Zstd: return "zstd";
  }
  return "none";
}

std::optional<Compression> compression_from_string(std::string_view name) {
  if (name == "none") return Compression::None;
  if (name == "zstd") return Compression::Zstd;
  return std::nullopt;
}

Compression detect_compression(std::string_view first_bytes) {
  if (first_bytes.size() >= sizeof kZstdMagic &&
      std::memcmp(first_bytes.data(), kZstdMagic, sizeof kZstdMagic) == 0)
    return Compression::Zstd;
  return Compression::None;
}

// --- CompressingSink

CompressingSink::CompressingSink(Sink& out, Compression compression, int level)
    : out_(out), compression_(compression) {
  if (compression_ == Compression::None) return;
  if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
    throw Error(sqlstate::kInvalidParameterValue,
                "zstd compression level " + std::to_string(level) + " is out of range", {},
                "Use a level from " + std::to_string(ZSTD_minCLevel()) + " to " +
                    std::to_string(ZSTD_maxCLevel()) + ".");
  context_ = ZSTD_createCCtx();
  if (context_ == nullptr) throw Error(sqlstate::kOutOfMemory, "out of memory for zstd");
  try {
    check("setting the level", ZSTD_CCtx_setParameter(context_, ZSTD_c_compressionLevel, level));
    // A checksum of the content lets a reader tell a damaged file from a
    // good one even when the damage still decodes.
    check("enabling checksums", ZSTD_CCtx_setParameter(context_, ZSTD_c_checksumFlag, 1));
    // Levels above 19 default to windows of up to 128 MiB, which readers
    // refuse (kMaxWindowLog).
    if (level > 19)
      check("setting the window",
            ZSTD_CCtx_setParameter(context_, ZSTD_c_windowLog, kMaxWindowLog));
  } catch (...) {
    ZSTD_freeCCtx(context_);
    throw;
  }
  buffer_.resize(ZSTD_CStreamOutSize());
}

CompressingSink::~CompressingSink() { ZSTD_freeCCtx(context_); }

void CompressingSink::emit() {
  if (buffered_ == 0) return;
  out_.write(std::string_view(buffer_.data(), buffered_));
  bytes_out_ += buffered_;
  buffered_ = 0;
}

void CompressingSink::write(std::string_view bytes) {
  if (finished_)
    throw Error(sqlstate::kInternalError, "write to a compressed snapshot after its end");
  bytes_in_ += bytes.size();
  if (compression_ == Compression::None) {
    if (bytes.empty()) return;
    out_.write(bytes);
    bytes_out_ += bytes.size();
    return;
  }
  ZSTD_inBuffer in{bytes.data(), bytes.size(), 0};
  while (in.pos < in.size) {
    // Output accumulates across writes and goes out only when the buffer
    // is full: `out` sees few, large chunks.
    if (buffered_ == buffer_.size()) emit();
    ZSTD_outBuffer out{buffer_.data(), buffer_.size(), buffered_};
    check("compression", ZSTD_compressStream2(context_, &out, &in, ZSTD_e_continue));
    buffered_ = out.pos;
  }
}

void CompressingSink::finish() {
  if (finished_) return;
  finished_ = true;
  if (compression_ == Compression::None) return;
  ZSTD_inBuffer in{nullptr, 0, 0};
  for (;;) {
    if (buffered_ == buffer_.size()) emit();
    ZSTD_outBuffer out{buffer_.data(), buffer_.size(), buffered_};
    size_t remaining = ZSTD_compressStream2(context_, &out, &in, ZSTD_e_end);
    check("compression", remaining);
    buffered_ = out.pos;
    if (remaining == 0) break;
  }
  emit();
}

// --- Sources

size_t StringSource::read(char* buf, size_t capacity) {
  size_t n = std::min(capacity, data_.size());
  if (n > 0) std::memcpy(buf, data_.data(), n);
  data_.remove_prefix(n);
  return n;
}

DecompressingSource::DecompressingSource(Source& in, Compression compression)
    : in_(in), compression_(compression) {
  if (compression_ == Compression::None) return;
  context_ = ZSTD_createDCtx();
  if (context_ == nullptr) throw Error(sqlstate::kOutOfMemory, "out of memory for zstd");
  size_t set = ZSTD_DCtx_setParameter(context_, ZSTD_d_windowLogMax, kMaxWindowLog);
  if (ZSTD_isError(set)) {
    ZSTD_freeDCtx(context_);
    zstd_failed("setting the window limit", set);
  }
  input_.resize(ZSTD_DStreamInSize());
}

DecompressingSource::~DecompressingSource() { ZSTD_freeDCtx(context_); }

size_t DecompressingSource::read(char* buf, size_t capacity) {
  if (compression_ == Compression::None) return in_.read(buf, capacity);
  ZSTD_outBuffer out{buf, capacity, 0};
  while (out.pos < out.size) {
    if (input_pos_ == input_size_ && !input_ended_) {
      input_size_ = in_.read(input_.data(), input_.size());
      input_pos_ = 0;
      input_ended_ = input_size_ == 0;
      any_input_ = any_input_ || !input_ended_;
    }
    bool no_more_input = input_pos_ == input_size_ && input_ended_;
    if (no_more_input && frame_complete_) break;
    size_t produced_before = out.pos;
    ZSTD_inBuffer in{input_.data(), input_size_, input_pos_};
    size_t result = ZSTD_decompressStream(context_, &out, &in);
    input_pos_ = in.pos;
    if (ZSTD_isError(result)) throw corrupted(ZSTD_getErrorName(result));
    frame_complete_ = result == 0;
    // With no input left, a call that neither ends the frame nor flushes
    // output means the rest of the frame is missing.
    if (no_more_input && !frame_complete_ && out.pos == produced_before)
      throw corrupted(any_input_ ? "the compressed data ends in the middle of a frame"
                                 : "there is no compressed data");
  }
  return out.pos;
}

}  // namespace ptb::core
