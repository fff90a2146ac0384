#include "pg/storage.hpp"

#include "core/storage_names.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/settings.hpp"

extern "C" {
#include "common/file_perm.h"
#include "common/sha2.h"
#include "storage/fd.h"
#include "storage/procarray.h"
}

namespace ptb::pg {

namespace {

// "<final name>.<pid>.tmp": the PID says whose write it is.
bool stale_temporary(const char* name) {
  size_t len = strlen(name);
  if (len < 5 || strcmp(name + len - 4, ".tmp") != 0) return false;
  const char* end = name + len - 4;
  const char* dot = end;
  while (dot > name && dot[-1] != '.') --dot;
  if (dot == name || dot == end) return false;
  int pid = 0;
  for (const char* p = dot; p < end; ++p) {
    if (*p < '0' || *p > '9') return false;
    pid = pid * 10 + (*p - '0');
  }
  return BackendPidGetProc(pid) == nullptr;
}

}  // namespace

std::string prepare_storage_directory() {
  std::string dir = storage_settings().storage_path;
  guarded([&] {
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) {
      if (pg_mkdir_p(const_cast<char*>(dir.c_str()), pg_dir_create_mode) != 0 && errno != EEXIST)
        ereport(ERROR, (errcode_for_file_access(),
                        errmsg("could not create snapshot storage directory \"%s\": %m", dir.c_str()),
                        errhint("Check pg_tenant_backup.storage_path and the server's rights.")));
      (void)chmod(dir.c_str(), S_IRWXU);
    } else if (!S_ISDIR(st.st_mode)) {
      ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                      errmsg("pg_tenant_backup.storage_path \"%s\" is not a directory", dir.c_str())));
    }
    DIR* d = AllocateDir(dir.c_str());
    struct dirent* entry;
    while ((entry = ReadDir(d, dir.c_str())) != nullptr) {
      if (stale_temporary(entry->d_name)) {
        char path[MAXPGPATH];
        snprintf(path, sizeof path, "%s/%s", dir.c_str(), entry->d_name);
        if (unlink(path) == 0)
          ereport(LOG, (errmsg("pg_tenant_backup: removed temporary file \"%s\" of an interrupted backup", path)));
      }
    }
    FreeDir(d);
  });
  return dir;
}

void remove_snapshot_files_of(const std::set<int64_t>& ids) {
  if (ids.empty()) return;
  const std::string dir = storage_settings().storage_path;
  std::vector<std::string> doomed;
  guarded([&] {
    struct stat st;
    if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return;
    DIR* d = AllocateDir(dir.c_str());
    struct dirent* entry;
    while ((entry = ReadDir(d, dir.c_str())) != nullptr) {
      const auto id = core::snapshot_id_of_file_name(entry->d_name);
      if (id && ids.count(*id)) doomed.push_back(dir + "/" + entry->d_name);
    }
    FreeDir(d);
  });
  for (const auto& path : doomed)
    if (remove_file_quietly(path))
      guarded([&] {
        ereport(LOG, (errmsg("pg_tenant_backup: removed snapshot file \"%s\" of an interrupted backup",
                             path.c_str())));
      });
}

Sha256::Sha256() {
  guarded([&] {
    context_ = pg_cryptohash_create(PG_SHA256);
    if (context_ == nullptr || pg_cryptohash_init(context_) < 0)
      ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("could not start a SHA-256 hash")));
  });
}

void Sha256::update(std::string_view bytes) {
  if (pg_cryptohash_update(context_, reinterpret_cast<const uint8*>(bytes.data()), bytes.size()) < 0)
    throw core::Error("XX000", "could not update a SHA-256 hash");
}

std::string Sha256::hex_digest() {
  uint8 digest[PG_SHA256_DIGEST_LENGTH];
  if (pg_cryptohash_final(context_, digest, sizeof digest) < 0)
    throw core::Error("XX000", "could not finish a SHA-256 hash");
  guarded([&] { pg_cryptohash_free(context_); });
  context_ = nullptr;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8 b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

FileSink::FileSink(std::string path) : path_(std::move(path)) {
  guarded([&] {
    fd_ = OpenTransientFilePerm(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | PG_BINARY,
                                S_IRUSR | S_IWUSR);
    if (fd_ < 0)
      ereport(ERROR, (errcode_for_file_access(),
                      errmsg("could not create snapshot file \"%s\": %m", path_.c_str())));
  });
}

void FileSink::write(std::string_view bytes) {
  hash_.update(bytes);
  guarded([&] {
    const char* p = bytes.data();
    size_t left = bytes.size();
    while (left > 0) {
      errno = 0;
      ssize_t n = ::write(fd_, p, left);
      if (n <= 0) {
        // A short write without errno means the disk is full.
        if (errno == 0) errno = ENOSPC;
        ereport(ERROR, (errcode_for_file_access(),
                        errmsg("could not write snapshot file \"%s\": %m", path_.c_str()),
                        errhint("Free space in pg_tenant_backup.storage_path, or prune old "
                                "snapshots with backup_prune.")));
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
  });
  size_ += bytes.size();
}

void FileSink::finish() {
  guarded([&] {
    if (pg_fsync(fd_) != 0)
      ereport(ERROR, (errcode_for_file_access(),
                      errmsg("could not fsync snapshot file \"%s\": %m", path_.c_str())));
    if (CloseTransientFile(fd_) != 0)
      ereport(ERROR, (errcode_for_file_access(),
                      errmsg("could not close snapshot file \"%s\": %m", path_.c_str())));
  });
  fd_ = -1;
}

FileSource::FileSource(std::string path, bool hashed) : path_(std::move(path)) {
  if (hashed) hash_.emplace();
  guarded([&] {
    fd_ = OpenTransientFile(path_.c_str(), O_RDONLY | PG_BINARY);
    if (fd_ < 0) {
      const bool missing = errno == ENOENT;
      ereport(ERROR, (errcode(missing ? ERRCODE_UNDEFINED_FILE : ERRCODE_IO_ERROR),
                      errmsg("could not open snapshot file \"%s\": %m", path_.c_str()),
                      missing ? errhint("The file was removed from pg_tenant_backup.storage_path "
                                        "outside of backup_delete and backup_prune.")
                              : 0));
    }
  });
}

size_t FileSource::read(char* buffer, size_t capacity) {
  ssize_t n = 0;
  guarded([&] {
    n = ::read(fd_, buffer, capacity);
    if (n < 0)
      ereport(ERROR, (errcode_for_file_access(),
                      errmsg("could not read snapshot file \"%s\": %m", path_.c_str())));
  });
  if (hash_) hash_->update(std::string_view(buffer, static_cast<size_t>(n)));
  size_ += static_cast<uint64_t>(n);
  return static_cast<size_t>(n);
}

void FileSource::close() {
  guarded([&] { CloseTransientFile(fd_); });
  fd_ = -1;
}

void durable_rename_file(const std::string& from, const std::string& to) {
  guarded([&] { (void)durable_rename(from.c_str(), to.c_str(), ERROR); });
}

bool remove_file_quietly(const std::string& path) noexcept {
  return unlink(path.c_str()) == 0 || errno == ENOENT;
}

bool file_exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace ptb::pg
