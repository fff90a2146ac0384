#include "pg/file_io.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/error.hpp"
#include "pg/guarded.hpp"
#include "pg/progress.hpp"

extern "C" {
#include "common/cryptohash.h"
#include "common/file_perm.h"
#include "common/sha2.h"
#include "storage/fd.h"
}

namespace ptb::pg {

Sha256::Sha256() {
  guarded([&] {
    context_ = pg_cryptohash_create(PG_SHA256);
    if (context_ == nullptr || pg_cryptohash_init(context_) < 0)
      ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("could not start a SHA-256 hash")));
  });
}

void Sha256::update(std::string_view bytes) {
  if (pg_cryptohash_update(context_, reinterpret_cast<const uint8*>(bytes.data()), bytes.size()) < 0)
    throw core::Error(core::sqlstate::kInternalError, "could not update a SHA-256 hash");
}

std::string Sha256::hex_digest() {
  uint8 digest[PG_SHA256_DIGEST_LENGTH];
  if (pg_cryptohash_final(context_, digest, sizeof digest) < 0)
    throw core::Error(core::sqlstate::kInternalError, "could not finish a SHA-256 hash");
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
  progress::add_bytes_written(bytes.size());
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
  progress::add_bytes_read(static_cast<uint64_t>(n));
  return static_cast<size_t>(n);
}

void FileSource::close() {
  guarded([&] { CloseTransientFile(fd_); });
  fd_ = -1;
}

void install_new_file(const std::string& from, const std::string& to) {
  guarded([&] {
    auto exists = [&] {
      ereport(ERROR, (errcode(ERRCODE_DUPLICATE_FILE),
                      errmsg("snapshot file \"%s\" already exists", to.c_str()),
                      errdetail("A stored snapshot file is never replaced."),
                      errhint("Check that no other cluster writes into pg_tenant_backup.storage_path.")));
    };
    // link() fails when the name is taken: no file is ever replaced.
    if (link(from.c_str(), to.c_str()) == 0) {
      if (unlink(from.c_str()) != 0)
        ereport(ERROR, (errcode_for_file_access(),
                        errmsg("could not remove temporary file \"%s\": %m", from.c_str())));
      fsync_fname(to.c_str(), false);
      char dir[MAXPGPATH];
      strlcpy(dir, to.c_str(), sizeof dir);
      get_parent_directory(dir);
      fsync_fname(dir, true);
      return;
    }
    if (errno == EEXIST) exists();
    // A file system without hard links: check, then rename.
    if (file_exists(to)) exists();
    (void)durable_rename(from.c_str(), to.c_str(), ERROR);
  });
}

bool remove_file_quietly(const std::string& path) noexcept {
  return unlink(path.c_str()) == 0 || errno == ENOENT;
}

bool file_exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::vector<std::string> list_files(const std::string& dir) {
  std::vector<std::string> names;
  guarded([&] {
    DIR* d = AllocateDir(dir.c_str());
    struct dirent* entry;
    while ((entry = ReadDir(d, dir.c_str())) != nullptr) {
      if (file_exists(dir + "/" + entry->d_name)) names.emplace_back(entry->d_name);
    }
    FreeDir(d);
  });
  return names;
}

std::vector<std::string> list_directory(const std::string& dir) {
  std::vector<std::string> names;
  guarded([&] {
    DIR* d = AllocateDir(dir.c_str());
    struct dirent* entry;
    while ((entry = ReadDir(d, dir.c_str())) != nullptr) names.emplace_back(entry->d_name);
    FreeDir(d);
  });
  return names;
}

void make_directory(const std::string& dir, const std::string& what) {
  guarded([&] {
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) {
      if (pg_mkdir_p(const_cast<char*>(dir.c_str()), pg_dir_create_mode) != 0 && errno != EEXIST)
        ereport(ERROR, (errcode_for_file_access(),
                        errmsg("could not create %s \"%s\": %m", what.c_str(), dir.c_str()),
                        errhint("Check pg_tenant_backup.storage_path and the server's rights.")));
      (void)chmod(dir.c_str(), S_IRWXU);
    } else if (!S_ISDIR(st.st_mode)) {
      ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                      errmsg("%s \"%s\" is not a directory", what.c_str(), dir.c_str()),
                      errhint("Check pg_tenant_backup.storage_path.")));
    }
  });
}

bool is_directory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::optional<std::string> read_small_file(const std::string& path, size_t limit) {
  std::optional<std::string> text;
  guarded([&] {
    int fd = OpenTransientFile(path.c_str(), O_RDONLY | PG_BINARY);
    if (fd < 0) {
      if (errno == ENOENT) return;
      ereport(ERROR, (errcode_for_file_access(), errmsg("could not open \"%s\": %m", path.c_str())));
    }
    std::string buffer(limit, '\0');
    ssize_t n = read(fd, buffer.data(), limit);
    CloseTransientFile(fd);
    if (n < 0) ereport(ERROR, (errcode_for_file_access(), errmsg("could not read \"%s\": %m", path.c_str())));
    buffer.resize(static_cast<size_t>(n));
    text = std::move(buffer);
  });
  return text;
}

void rename_durably(const std::string& from, const std::string& to) {
  guarded([&] { (void)durable_rename(from.c_str(), to.c_str(), ERROR); });
}

void sync_directory(const std::string& dir) {
  guarded([&] { fsync_fname(dir.c_str(), true); });
}

}  // namespace ptb::pg
