// Files of stored snapshots: the storage directory, writing with a SHA-256
// of the stored bytes and a durable rename, reading back.
//
// Descriptors come from OpenTransientFile and hash contexts from
// pg_cryptohash_create: on an ERROR the transaction abort closes and frees
// them, so these classes have no destructors that call the server.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "core/json_writer.hpp"
#include "core/compression.hpp"
#include "pg/server.hpp"

extern "C" {
#include "common/cryptohash.h"
}

namespace ptb::pg {

// The storage directory, created (mode 0700) when missing. Removes
// temporary files left by backends that no longer exist.
std::string prepare_storage_directory();

// Lowercase hex SHA-256 of a running stream of bytes.
class Sha256 {
 public:
  Sha256();
  void update(std::string_view bytes);
  std::string hex_digest();  // ends the hash

 private:
  pg_cryptohash_ctx* context_ = nullptr;
};

// Writes a new file (it must not exist), hashing what it writes.
class FileSink : public core::Sink {
 public:
  explicit FileSink(std::string path);
  void write(std::string_view bytes) override;
  // fsync and close; the file is complete on disk.
  void finish();
  uint64_t size() const { return size_; }
  std::string sha256() { return hash_.hex_digest(); }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  Sha256 hash_;
};

// Reads a file from the start; with `hashed`, hashing what it reads (then
// sha256() must be called: the hash context is freed there).
class FileSource : public core::Source {
 public:
  explicit FileSource(std::string path, bool hashed = false);
  size_t read(char* buffer, size_t capacity) override;
  void close();
  uint64_t size() const { return size_; }
  std::string sha256() { return hash_.value().hex_digest(); }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  std::optional<Sha256> hash_;
};

// Removes the complete snapshot files of these backup_logs ids (rows an
// interruption left failed after their file was renamed into place).
// Nothing when the storage directory does not exist.
void remove_snapshot_files_of(const std::set<int64_t>& ids);

// rename() made durable (fsync of file and directory), as the server does
// for its own files.
void durable_rename_file(const std::string& from, const std::string& to);
// Removes a file; a missing file is not an error. Never throws: used on
// error paths.
bool remove_file_quietly(const std::string& path) noexcept;
bool file_exists(const std::string& path);

}  // namespace ptb::pg
