// The rows of a snapshot document, spilled to a temporary file as it is
// read, and read back one section at a time when the section is loaded.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/snapshot_reader.hpp"
#include "pg/guarded.hpp"
#include "pg/import_common.hpp"
#include "pg/snapshot_sections.hpp"
#include "pg/progress.hpp"
#include "pg/server.hpp"

extern "C" {
#include "storage/buffile.h"
}

namespace ptb::pg {

// The document (a stored file, or the text of a jsonb argument) is read
// once, as a stream; its rows go to a temporary
// file (deleted at the end of the transaction at the latest) in the order
// the document holds them, and each section is read back from its start
// when it is staged. Memory stays flat whatever the snapshot's size.
//
// A row's record: u32 bytes that follow, u32 cells, then per cell u8 kind
// (+0x80 when it has a jsonb unwrapped value), u32 size, its bytes, and for
// the unwrapped value u8 kind, u32 size, bytes.

constexpr size_t kSpillChunk = 1 << 20;

class SpilledRows : public core::RowVisitor {
 public:
  SpilledRows() { guarded([&] { file_ = BufFileCreateTemp(false); }); }

  void begin_rows(const std::string& section, int64_t position) override {
    flush();
    SpillPosition at;
    guarded([&] { BufFileTell(file_, &at.fileno, &at.offset); });
    starts_[{section, position}] = at;
  }

  void row(const std::vector<core::RowCell>& cells) override {
    const size_t start = buffer_.size();
    put_u32(0);  // its size, set below
    put_u32(static_cast<uint32_t>(cells.size()));
    for (const auto& c : cells) {
      put_cell(c.value, c.jsonb_unwrapped.has_value());
      if (c.jsonb_unwrapped) put_cell(*c.jsonb_unwrapped, false);
    }
    const auto size = static_cast<uint32_t>(buffer_.size() - start - 4);
    memcpy(buffer_.data() + start, &size, 4);
    if (buffer_.size() >= kSpillChunk) flush();
    progress::add_rows(1);
  }

  // After the document is read: everything is in the file.
  void finish() { flush(); }
  std::optional<SpillPosition> start_of(const std::string& section, int64_t position) const {
    auto it = starts_.find({section, position});
    if (it == starts_.end()) return std::nullopt;
    return it->second;
  }
  BufFile* file() const { return file_; }
  // Deletes the file now rather than at the end of the transaction.
  void close() {
    if (file_ != nullptr) guarded([&] { BufFileClose(file_); });
    file_ = nullptr;
  }

 private:
  void put_u32(uint32_t v) { buffer_.append(reinterpret_cast<const char*>(&v), 4); }
  void put_cell(const core::CopyCell& c, bool unwrapped_follows) {
    buffer_ += static_cast<char>(static_cast<int>(c.kind) | (unwrapped_follows ? 0x80 : 0));
    if (c.size > UINT32_MAX - 64)
      throw core::Error(core::sqlstate::kProgramLimitExceeded, "a value of the snapshot is larger than 4 GB");
    put_u32(static_cast<uint32_t>(c.size));
    buffer_.append(c.data == nullptr ? "" : c.data, c.size);
  }
  void flush() {
    if (buffer_.empty()) return;
    guarded([&] { BufFileWrite(file_, buffer_.data(), buffer_.size()); });
    buffer_.clear();
  }

  BufFile* file_ = nullptr;
  std::string buffer_;
  std::map<std::pair<std::string, int64_t>, SpillPosition> starts_;
};

// Reads the rows of one section back.
class SpillReader {
 public:
  SpillReader(BufFile* file, SpillPosition start) : file_(file) {
    guarded([&] {
      if (BufFileSeek(file_, start.fileno, start.offset, SEEK_SET) != 0)
        ereport(ERROR, (errcode_for_file_access(), errmsg("could not seek in the snapshot's spill file")));
    });
  }

  // The next row's cells; they point into this reader's buffer until the
  // next call.
  const std::vector<core::RowCell>& next_row() {
    uint32_t size = 0;
    read(&size, 4);
    row_.resize(size);
    read(row_.data(), size);
    const char* at = row_.data();
    const char* end = at + size;
    auto take_u32 = [&] {
      uint32_t v;
      if (end - at < 4) corrupt();
      memcpy(&v, at, 4);
      at += 4;
      return v;
    };
    auto take_cell = [&](bool* unwrapped_follows) {
      if (at >= end) corrupt();
      const int kind = static_cast<unsigned char>(*at++);
      if (unwrapped_follows) *unwrapped_follows = (kind & 0x80) != 0;
      const uint32_t n = take_u32();
      if (static_cast<size_t>(end - at) < n) corrupt();
      core::CopyCell c{static_cast<core::CellKind>(kind & 0x7f), at, n};
      at += n;
      return c;
    };
    cells_.resize(take_u32());
    for (auto& cell : cells_) {
      bool unwrapped = false;
      cell.value = take_cell(&unwrapped);
      cell.jsonb_unwrapped.reset();
      if (unwrapped) cell.jsonb_unwrapped = take_cell(nullptr);
    }
    return cells_;
  }

 private:
  [[noreturn]] static void corrupt() {
    throw core::Error(core::sqlstate::kDataCorrupted, "pg_tenant_backup: the snapshot's spill file is damaged");
  }
  void read(void* out, size_t n) {
    char* to = static_cast<char*>(out);
    while (n > 0) {
      if (pos_ == chunk_.size()) {
        chunk_.resize(kSpillChunk);
        size_t got = 0;
        guarded([&] { got = BufFileRead(file_, chunk_.data(), chunk_.size()); });
        chunk_.resize(got);
        pos_ = 0;
        if (got == 0) corrupt();
      }
      const size_t k = std::min(n, chunk_.size() - pos_);
      memcpy(to, chunk_.data() + pos_, k);
      pos_ += k;
      to += k;
      n -= k;
    }
  }

  BufFile* file_;
  std::string chunk_;
  size_t pos_ = 0;
  std::string row_;
  std::vector<core::RowCell> cells_;
};

}  // namespace ptb::pg
