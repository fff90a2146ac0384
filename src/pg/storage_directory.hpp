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
#include <vector>

#include "core/json_writer.hpp"
#include "core/compression.hpp"
#include "pg/server.hpp"

extern "C" {
#include "common/cryptohash.h"
}

namespace ptb::pg {

// This database's folder under the storage directory
// (core::database_folder_name: "<database>-<oid>"), where its new files go.
struct StorageFolder {
  std::string root;  // pg_tenant_backup.storage_path
  std::string name;  // "<database>-<oid>"
  std::string path() const { return root + "/" + name; }
};

// The storage directory and this database's folder in it, created (mode
// 0700) when missing, the folder with its marker file (core::kFolderMarker:
// this database's OID and the cluster's system identifier). A folder of
// that name whose marker names another database or cluster is refused
// (55000). Removes temporary files left by backends that no longer exist,
// in the folder and in the storage directory itself (0.1.0 layout).
StorageFolder prepare_storage_directory();

// Removes the temporary files of writes whose backend no longer exists
// (a backup killed, or the server stopped, mid-write) from this database's
// folders (checked by their marker), creating nothing: the scheduler's
// recovery at start, so that no leftover waits for the next backup.
void remove_stale_temporary_files();

// Checks, by its marker file, that the folder `folder_name` of the storage
// directory is this database's, before a file in it is read, replaced or
// removed: 55000 when the marker names another database or cluster, or is
// missing or unreadable while the folder exists. Returns false when the
// folder does not exist.
bool check_own_folder(const std::string& folder_name);

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
// interruption left failed after their file was renamed into place): only
// files in this database's folders (checked by their marker) whose names
// carry this database's OID, never a file of another database or of the
// 0.1.0 layout. Nothing when there is no such folder.
void remove_snapshot_files_of(const std::set<int64_t>& ids);

// Gives a complete file its final name, durably (fsync of file and
// directory, as the server does for its own files), never replacing a
// file: 58P02 when `to` exists already.
void install_new_file(const std::string& from, const std::string& to);
// Removes a file; a missing file is not an error. Never throws: used on
// error paths.
bool remove_file_quietly(const std::string& path) noexcept;
bool file_exists(const std::string& path);

// Change capture's directory, "<this database's folder>/changes" (mode
// 0700), created with the folder when missing; returns the folder.
StorageFolder prepare_changes_directory();
// The names of the regular files in a directory.
std::vector<std::string> list_files(const std::string& dir);

}  // namespace ptb::pg
