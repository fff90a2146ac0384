// Encryption of stored snapshot files (AES-256-GCM, OpenSSL's libcrypto):
// a Sink that encrypts what is written to it and a Source that decrypts
// and authenticates what is read from it, both streaming in fixed chunks
// so memory stays flat whatever the size of the snapshot. They sit between
// compression and the file: JsonWriter -> CompressingSink -> EncryptingSink
// -> file, and file -> DecryptingSource -> DecompressingSource -> reader.
//
// The container (docs/format.md):
//
//   header, 52 bytes:
//     magic     6  "PTBENC"
//     version   1  1
//     algorithm 1  1 = AES-256-GCM
//     key id    8  first 8 bytes of SHA-256(key): which key to read with
//     salt     32  random per file
//     chunk     4  plaintext bytes per chunk, big-endian (1 MiB)
//   chunks, one or more: ciphertext (chunk bytes, the last one 0..chunk
//   bytes) followed by its 16-byte GCM tag.
//
// Each file gets its own AES key, HKDF-SHA256(key, salt, "pg_tenant_backup
// snapshot v1"), so nonces never repeat under a key: chunk i is sealed with
// the nonce 00000000 || be64(i) and the additional data header || be64(i)
// || final (1 for the last chunk, else 0). Changing any byte, reordering
// chunks, cutting the file at any point (even at a chunk boundary) or
// appending to it makes a tag fail.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/compression.hpp"
#include "core/json_writer.hpp"

// OpenSSL's cipher context, so this header does not need <openssl/evp.h>.
struct evp_cipher_ctx_st;

namespace ptb::core {

inline constexpr std::string_view kEncryptionAlgorithm = "aes-256-gcm";
inline constexpr size_t kEncryptionHeaderSize = 52;
inline constexpr size_t kEncryptionTagSize = 16;
inline constexpr uint32_t kDefaultEncryptionChunk = 1 << 20;
// The largest chunk a reader accepts: bounds its memory whatever a
// (hostile) header says.
inline constexpr uint32_t kMaxEncryptionChunk = 16 << 20;

// A 256-bit key. Its bytes are wiped when it is destroyed.
class EncryptionKey {
 public:
  // From its text form: 64 hexadecimal digits, surrounding whitespace
  // (a final newline) allowed. Anything else throws Error(22023) that
  // says what was found, never the text itself.
  static EncryptionKey from_hex(std::string_view text);
  explicit EncryptionKey(const std::array<unsigned char, 32>& bytes);
  EncryptionKey(const EncryptionKey& other);
  EncryptionKey& operator=(const EncryptionKey& other);
  ~EncryptionKey();

  const std::array<unsigned char, 32>& bytes() const { return bytes_; }
  // 16 lowercase hex digits: the first 8 bytes of SHA-256 of the key. Names
  // a key without revealing it.
  const std::string& id() const { return id_; }

 private:
  std::array<unsigned char, 32> bytes_;
  std::string id_;
};

// Whether bytes start like an encrypted snapshot file (its magic).
bool looks_encrypted(std::string_view first_bytes);

// `n` bytes from OpenSSL's CSPRNG; throws Error(XX000) when it fails.
std::string random_bytes(size_t n);

// Encrypts everything written to it into `out`. finish() must be called
// once after the last write: it seals the final chunk; without it the
// output is incomplete and reads as truncated. The destructor only frees
// memory and wipes buffers.
class EncryptingSink : public Sink {
 public:
  // `salt`: 32 bytes, random per file (random_bytes(32) when empty; tests
  // pass their own). `chunk` from 1 to kMaxEncryptionChunk.
  EncryptingSink(Sink& out, const EncryptionKey& key, std::string salt = {},
                 uint32_t chunk = kDefaultEncryptionChunk);
  ~EncryptingSink() override;
  EncryptingSink(const EncryptingSink&) = delete;
  EncryptingSink& operator=(const EncryptingSink&) = delete;

  void write(std::string_view bytes) override;
  void finish();

  const std::string& key_id() const { return key_id_; }

 private:
  void seal(bool final);

  Sink& out_;
  std::string key_id_;
  std::string header_;
  std::array<unsigned char, 32> file_key_{};
  uint32_t chunk_;
  std::vector<char> plain_;  // the chunk being filled
  size_t filled_ = 0;
  std::vector<char> sealed_;
  uint64_t index_ = 0;
  bool header_written_ = false;
  bool finished_ = false;
  evp_cipher_ctx_st* context_ = nullptr;
};

// Decrypts and authenticates what it reads from `in`. The header is read
// on the first read(); `find_key` is then asked for the key whose id it
// names and may throw its own error; when it returns nullopt,
// Error(F0000, "... encrypted with key <id>, which is not configured")
// is thrown. A chunk is handed out only after its tag checked, so no
// unauthenticated byte ever reaches the caller; any damage throws
// Error(XX001, "snapshot file is corrupted: ..."). Memory is two chunks.
class DecryptingSource : public Source {
 public:
  using KeyLookup = std::function<std::optional<EncryptionKey>(const std::string& key_id)>;
  DecryptingSource(Source& in, KeyLookup find_key);
  ~DecryptingSource() override;
  DecryptingSource(const DecryptingSource&) = delete;
  DecryptingSource& operator=(const DecryptingSource&) = delete;

  size_t read(char* buf, size_t capacity) override;
  // The key id in the header (reads it when not read yet).
  const std::string& key_id();

 private:
  void read_header();
  bool open_next_chunk();  // false at the end
  size_t read_fully(char* buf, size_t n);

  Source& in_;
  KeyLookup find_key_;
  std::string header_;
  std::string key_id_;
  std::array<unsigned char, 32> file_key_{};
  uint32_t chunk_ = 0;
  std::vector<char> sealed_;  // one sealed chunk and one byte of lookahead
  std::vector<char> plain_;   // the open chunk's plaintext
  size_t plain_size_ = 0;
  size_t plain_pos_ = 0;
  bool have_lookahead_ = false;
  char lookahead_ = 0;
  uint64_t index_ = 0;
  bool header_read_ = false;
  bool ended_ = false;
  evp_cipher_ctx_st* context_ = nullptr;
};

}  // namespace ptb::core
