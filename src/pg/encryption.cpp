#include "pg/encryption.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <openssl/crypto.h>

#include "pg/session.hpp"
#include "pg/settings.hpp"

namespace ptb::pg {

namespace {

// A key file holds 64 hex digits and maybe a newline: anything much larger
// is not a key file.
constexpr off_t kMaxKeyFileSize = 1024;

// Closes a descriptor on every path out (plain POSIX: nothing here calls
// the server, so nothing can longjmp past it).
struct Descriptor {
  int fd;
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

std::string resolved(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  return data_directory() + "/" + path;
}

const std::string kPermissionHint =
    "The key file must belong to the server's operating system user with mode 0600 or 0400 "
    "(or to root with mode 0640 or 0440), as the server requires of ssl_key_file.";

// Reads and checks one key file. `setting` names the setting it comes from.
core::EncryptionKey load_key_file(const std::string& configured, const char* setting) {
  const std::string path = resolved(configured);
  const std::string what = "encryption key file \"" + path + "\" (" + setting + ")";
  Descriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) {
    const int error = errno;
    if (error == ENOENT)
      throw KeyUnavailable(core::sqlstate::kUndefinedFile, what + " does not exist", {},
                           "Create it (e.g. openssl rand -hex 32 > FILE; chmod 600 FILE) or "
                           "correct the setting.");
    throw KeyUnavailable(core::sqlstate::kConfigFileError, "could not open " + what + ": " + std::strerror(error), {},
                         kPermissionHint);
  }
  struct stat st;
  if (fstat(file.fd, &st) != 0)
    throw KeyUnavailable(core::sqlstate::kConfigFileError, "could not stat " + what + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    throw KeyUnavailable(core::sqlstate::kConfigFileError, what + " is not a regular file");
  // The server's rule for its TLS private key: owned by the server's
  // user and private to it, or owned by root and at most group-readable.
  const bool own = st.st_uid == geteuid();
  if (!own && st.st_uid != 0)
    throw KeyUnavailable(core::sqlstate::kConfigFileError, what + " must be owned by the database system user or root",
                         {}, kPermissionHint);
  if ((own && (st.st_mode & (S_IRWXG | S_IRWXO))) ||
      (!own && (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO))))
    throw KeyUnavailable(core::sqlstate::kConfigFileError, what + " has group or world access", {}, kPermissionHint);
  if (st.st_size > kMaxKeyFileSize)
    throw KeyUnavailable(core::sqlstate::kInvalidParameterValue,
                         what + " is " + std::to_string(st.st_size) +
                             " bytes: a key file holds 64 hexadecimal digits",
                         {}, "Write a key with: openssl rand -hex 32 > FILE");
  std::vector<char> text(kMaxKeyFileSize + 1);
  size_t size = 0;
  for (;;) {
    ssize_t n = ::read(file.fd, text.data() + size, text.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      OPENSSL_cleanse(text.data(), text.size());
      throw KeyUnavailable(core::sqlstate::kConfigFileError, "could not read " + what + ": " + std::strerror(error),
                           {}, kPermissionHint);
    }
    if (n == 0 || (size += static_cast<size_t>(n)) == text.size()) break;
  }
  try {
    core::EncryptionKey key = core::EncryptionKey::from_hex(std::string_view(text.data(), size));
    OPENSSL_cleanse(text.data(), text.size());
    return key;
  } catch (const core::Error& e) {
    OPENSSL_cleanse(text.data(), text.size());
    throw KeyUnavailable(e.sqlstate(), what + " does not hold a valid key: " + e.what(), {},
                         e.hint());
  }
}

}  // namespace

std::optional<core::EncryptionKey> key_for_writing() {
  const EncryptionSettings settings = encryption_settings();
  if (!settings.enabled) return std::nullopt;
  if (settings.key_file.empty())
    throw KeyUnavailable(core::sqlstate::kConfigFileError,
                         "pg_tenant_backup.encryption is aes-256-gcm but "
                         "pg_tenant_backup.encryption_key_file is not set",
                         "No snapshot is written unencrypted while encryption is on.",
                         "Set pg_tenant_backup.encryption_key_file to a file holding 64 "
                         "hexadecimal digits (see docs/security.md).");
  return load_key_file(settings.key_file, "pg_tenant_backup.encryption_key_file");
}

core::DecryptingSource::KeyLookup key_lookup() {
  return [](const std::string& key_id) -> std::optional<core::EncryptionKey> {
    const EncryptionSettings settings = encryption_settings();
    std::vector<std::pair<std::string, const char*>> files;
    if (!settings.key_file.empty())
      files.emplace_back(settings.key_file, "pg_tenant_backup.encryption_key_file");
    for (const auto& f : settings.old_key_files)
      files.emplace_back(f, "pg_tenant_backup.encryption_old_key_files");
    std::string found, unreadable;
    for (const auto& [path, setting] : files) {
      try {
        core::EncryptionKey key = load_key_file(path, setting);
        if (key.id() == key_id) return key;
        found += (found.empty() ? "" : ", ") + key.id();
      } catch (const KeyUnavailable& e) {
        unreadable += std::string(unreadable.empty() ? "" : "; ") + e.what();
      }
    }
    std::string detail = found.empty() ? "No key is configured."
                                       : "The keys configured are " + found + ".";
    if (!unreadable.empty()) detail += " Unreadable: " + unreadable + ".";
    throw KeyUnavailable(core::sqlstate::kConfigFileError,
                         "snapshot file is encrypted with key " + key_id +
                             ", which is not configured",
                         detail,
                         "Add the key file that holds key " + key_id +
                             " to pg_tenant_backup.encryption_old_key_files (see "
                             "docs/security.md, key rotation).");
  };
}

size_t StoredSnapshotSource::Tap::read(char* buffer, size_t capacity) {
  try {
    return in->read(buffer, capacity);
  } catch (const KeyUnavailable&) {
    throw;
  } catch (...) {
    failed = true;
    throw;
  }
}

StoredSnapshotSource::StoredSnapshotSource(const std::string& path, core::Compression compression,
                                           bool encrypted, bool hashed)
    : file_(path, hashed) {
  tap_.in = &file_;
  if (encrypted) {
    decrypted_ = std::make_unique<core::DecryptingSource>(file_, key_lookup());
    tap_.in = decrypted_.get();
  }
  plain_ = std::make_unique<core::DecompressingSource>(tap_, compression);
}

size_t StoredSnapshotSource::read(char* buffer, size_t capacity) {
  return plain_->read(buffer, capacity);
}

}  // namespace ptb::pg
