// Files read and written with a SHA-256 of their bytes, given their final
// name durably, removed, listed: the stored snapshot files and the change
// segments.
//
// Descriptors come from OpenTransientFile and hash contexts from
// pg_cryptohash_create: on an ERROR the transaction abort closes and frees
// them, so these classes have no destructors that call the server.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/compression.hpp"
#include "core/json_writer.hpp"

// The server's hash state (common/cryptohash.h), seen only by file_io.cpp.
struct pg_cryptohash_ctx;

namespace ptb::pg {

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

// Gives a complete file its final name, durably (fsync of file and
// directory, as the server does for its own files), never replacing a
// file: 58P02 when `to` exists already.
void install_new_file(const std::string& from, const std::string& to);
// Removes a file; a missing file is not an error. Never throws: used on
// error paths.
bool remove_file_quietly(const std::string& path) noexcept;
bool file_exists(const std::string& path);

// The names of the regular files in a directory.
std::vector<std::string> list_files(const std::string& dir);
// Every name in a directory ("." and ".." too), whatever it names.
std::vector<std::string> list_directory(const std::string& dir);

// Creates a directory and its missing parents (mode 0700) when missing;
// 22023 for a path that is not a directory, the file access error else.
// `what` names it in the messages ("snapshot storage directory").
void make_directory(const std::string& dir, const std::string& what);
bool is_directory(const std::string& path);
// Up to `limit` bytes of a small file; nullopt when it does not exist.
std::optional<std::string> read_small_file(const std::string& path, size_t limit);
// Renames `from` to `to`, replacing it, durably (fsync of the file and its
// directory).
void rename_durably(const std::string& from, const std::string& to);
// fsync of a directory, after an entry was added to it.
void sync_directory(const std::string& dir);

}  // namespace ptb::pg
