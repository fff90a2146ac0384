// Encryption at rest of stored snapshots (docs/security.md): the keys the
// settings name, and the one source every reader of a stored file goes
// through (decrypt when encrypted, then decompress).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/compression.hpp"
#include "core/encryption.hpp"
#include "core/error.hpp"
#include "pg/file_io.hpp"

namespace ptb::pg {

// A snapshot needs a key that cannot be had (not configured, or its file
// cannot be read): a problem of the configuration, not of the file.
class KeyUnavailable : public core::Error {
 public:
  using core::Error::Error;
};

// The key new snapshots are encrypted with: nullopt when
// pg_tenant_backup.encryption is off. When it is on and the key cannot be
// loaded, throws KeyUnavailable: F0000 (encryption_key_file not set,
// unreadable, readable by group or others, not a regular file), 58P01 (the
// file does not exist) or 22023 (not 64 hexadecimal digits).
std::optional<core::EncryptionKey> key_for_writing();

// Finds a key by id among encryption_key_file and encryption_old_key_files.
// A key that is not there throws KeyUnavailable (F0000) naming the key id,
// the ids that are configured and any key file that could not be read.
core::DecryptingSource::KeyLookup key_lookup();

// The snapshot in a stored file as it was before compression: the file
// read from the start, decrypted and authenticated when `encrypted`, then
// decompressed. Every reader of a stored file (verify, read, restore, the
// check after a backup) goes through this. With `hashed`, sha256() is the
// SHA-256 of the stored bytes read (call it once, after close()).
class StoredSnapshotSource : public core::Source {
 public:
  StoredSnapshotSource(const std::string& path, core::Compression compression, bool encrypted,
                       bool hashed = false);
  size_t read(char* buffer, size_t capacity) override;
  void close() { file_.close(); }
  std::string sha256() { return file_.sha256(); }
  // Whether decryption (authentication) failed, as opposed to the layers
  // after it.
  bool decryption_failed() const { return decrypted_ && tap_.failed; }

 private:
  // Between decryption and decompression: notes a failure of the former.
  struct Tap : core::Source {
    core::Source* in = nullptr;
    bool failed = false;
    size_t read(char* buffer, size_t capacity) override;
  };
  FileSource file_;
  std::unique_ptr<core::DecryptingSource> decrypted_;
  Tap tap_;
  std::unique_ptr<core::DecompressingSource> plain_;
};

}  // namespace ptb::pg
