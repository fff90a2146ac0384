#include "core/encryption.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>

#include "core/error.hpp"

namespace ptb::core {

namespace {

constexpr char kMagic[6] = {'P', 'T', 'B', 'E', 'N', 'C'};
constexpr unsigned char kVersion = 1;
constexpr unsigned char kAlgorithmAes256Gcm = 1;
constexpr size_t kKeyIdSize = 8;
constexpr size_t kSaltSize = 32;
constexpr size_t kNonceSize = 12;
constexpr char kKdfInfo[] = "pg_tenant_backup snapshot v1";
// Offsets in the header.
constexpr size_t kKeyIdAt = 8;
constexpr size_t kSaltAt = kKeyIdAt + kKeyIdSize;
constexpr size_t kChunkAt = kSaltAt + kSaltSize;
static_assert(kChunkAt + 4 == kEncryptionHeaderSize);

Error corrupted(const std::string& what) {
  return Error(sqlstate::kDataCorrupted, "snapshot file is corrupted: " + what, {},
               "Restore from another snapshot or an intact copy of this file.");
}

[[noreturn]] void openssl_failed(const char* step) {
  throw Error(sqlstate::kInternalError, std::string("OpenSSL failed while ") + step);
}

std::string to_hex(const unsigned char* bytes, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 15];
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void put_be64(unsigned char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<unsigned char>(v & 0xff);
}

// HKDF-SHA256(key, salt, info) -> the file's own AES key.
void derive_file_key(const EncryptionKey& key, const std::string& salt,
                     std::array<unsigned char, 32>& out) {
  EVP_PKEY_CTX* kdf = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr);
  if (kdf == nullptr) openssl_failed("creating an HKDF context");
  size_t length = out.size();
  bool ok = EVP_PKEY_derive_init(kdf) > 0 && EVP_PKEY_CTX_set_hkdf_md(kdf, EVP_sha256()) > 0 &&
            EVP_PKEY_CTX_set1_hkdf_salt(kdf, reinterpret_cast<const unsigned char*>(salt.data()),
                                        static_cast<int>(salt.size())) > 0 &&
            EVP_PKEY_CTX_set1_hkdf_key(kdf, key.bytes().data(),
                                       static_cast<int>(key.bytes().size())) > 0 &&
            EVP_PKEY_CTX_add1_hkdf_info(kdf, reinterpret_cast<const unsigned char*>(kKdfInfo),
                                        static_cast<int>(sizeof kKdfInfo - 1)) > 0 &&
            EVP_PKEY_derive(kdf, out.data(), &length) > 0 && length == out.size();
  EVP_PKEY_CTX_free(kdf);
  if (!ok) openssl_failed("deriving a file key");
}

// The nonce and the additional data of chunk `index`.
void chunk_parameters(const std::string& header, uint64_t index, bool final,
                      unsigned char (&nonce)[kNonceSize], std::string& aad) {
  std::memset(nonce, 0, sizeof nonce);
  put_be64(nonce + 4, index);
  unsigned char tail[9];
  put_be64(tail, index);
  tail[8] = final ? 1 : 0;
  aad = header;
  aad.append(reinterpret_cast<const char*>(tail), sizeof tail);
}

evp_cipher_ctx_st* new_cipher_context() {
  EVP_CIPHER_CTX* context = EVP_CIPHER_CTX_new();
  if (context == nullptr) throw Error(sqlstate::kOutOfMemory, "out of memory for OpenSSL");
  return context;
}

void wipe(void* p, size_t n) {
  if (p != nullptr && n > 0) OPENSSL_cleanse(p, n);
}

}  // namespace

// --- keys

EncryptionKey EncryptionKey::from_hex(std::string_view text) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  const std::string hint =
      "Write 64 hexadecimal digits (32 random bytes), e.g. with: openssl rand -hex 32";
  if (text.size() != 64)
    throw Error(sqlstate::kInvalidParameterValue,
                "an encryption key must be 64 hexadecimal digits, found " +
                    std::to_string(text.size()) + " characters",
                {}, hint);
  std::array<unsigned char, 32> bytes{};
  for (size_t i = 0; i < 32; ++i) {
    int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      wipe(bytes.data(), bytes.size());
      throw Error(sqlstate::kInvalidParameterValue,
                  "an encryption key must be 64 hexadecimal digits, found a character that is "
                  "not one at position " + std::to_string(hi < 0 ? 2 * i + 1 : 2 * i + 2),
                  {}, hint);
    }
    bytes[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  EncryptionKey key(bytes);
  wipe(bytes.data(), bytes.size());
  return key;
}

EncryptionKey::EncryptionKey(const std::array<unsigned char, 32>& bytes) : bytes_(bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes_.data(), bytes_.size(), digest, &length, EVP_sha256(), nullptr) != 1)
    openssl_failed("hashing a key");
  id_ = to_hex(digest, kKeyIdSize);
}

EncryptionKey::EncryptionKey(const EncryptionKey& other) : bytes_(other.bytes_), id_(other.id_) {}

EncryptionKey& EncryptionKey::operator=(const EncryptionKey& other) {
  bytes_ = other.bytes_;
  id_ = other.id_;
  return *this;
}

EncryptionKey::~EncryptionKey() { wipe(bytes_.data(), bytes_.size()); }

bool looks_encrypted(std::string_view first_bytes) {
  return first_bytes.size() >= sizeof kMagic &&
         std::memcmp(first_bytes.data(), kMagic, sizeof kMagic) == 0;
}

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    throw Error(sqlstate::kInternalError, "could not get random bytes from OpenSSL");
  return out;
}

// --- EncryptingSink

EncryptingSink::EncryptingSink(Sink& out, const EncryptionKey& key, std::string salt,
                               uint32_t chunk)
    : out_(out), key_id_(key.id()), chunk_(chunk) {
  if (chunk_ == 0 || chunk_ > kMaxEncryptionChunk)
    throw Error(sqlstate::kInvalidParameterValue, "encryption chunk size out of range");
  if (salt.empty()) salt = random_bytes(kSaltSize);
  if (salt.size() != kSaltSize)
    throw Error(sqlstate::kInvalidParameterValue, "an encryption salt must be 32 bytes");
  header_.assign(kMagic, sizeof kMagic);
  header_ += static_cast<char>(kVersion);
  header_ += static_cast<char>(kAlgorithmAes256Gcm);
  for (size_t i = 0; i < kKeyIdSize; ++i)
    header_ += static_cast<char>(hex_value(key_id_[2 * i]) << 4 | hex_value(key_id_[2 * i + 1]));
  header_ += salt;
  for (int shift = 24; shift >= 0; shift -= 8) header_ += static_cast<char>((chunk_ >> shift) & 0xff);
  derive_file_key(key, salt, file_key_);
  plain_.resize(chunk_);
  sealed_.resize(chunk_ + kEncryptionTagSize);
  context_ = new_cipher_context();
}

EncryptingSink::~EncryptingSink() {
  EVP_CIPHER_CTX_free(context_);
  wipe(file_key_.data(), file_key_.size());
  wipe(plain_.data(), plain_.size());
}

void EncryptingSink::seal(bool final) {
  if (!header_written_) {
    out_.write(header_);
    header_written_ = true;
  }
  unsigned char nonce[kNonceSize];
  std::string aad;
  chunk_parameters(header_, index_, final, nonce, aad);
  int n = 0, tail = 0;
  auto* sealed = reinterpret_cast<unsigned char*>(sealed_.data());
  bool ok =
      EVP_EncryptInit_ex(context_, EVP_aes_256_gcm(), nullptr, file_key_.data(), nonce) == 1 &&
      EVP_EncryptUpdate(context_, nullptr, &n, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) == 1 &&
      EVP_EncryptUpdate(context_, sealed, &n, reinterpret_cast<const unsigned char*>(plain_.data()),
                        static_cast<int>(filled_)) == 1 &&
      EVP_EncryptFinal_ex(context_, sealed + n, &tail) == 1 &&
      static_cast<size_t>(n + tail) == filled_ &&
      EVP_CIPHER_CTX_ctrl(context_, EVP_CTRL_GCM_GET_TAG, kEncryptionTagSize, sealed + filled_) == 1;
  if (!ok) openssl_failed("encrypting a chunk");
  out_.write(std::string_view(sealed_.data(), filled_ + kEncryptionTagSize));
  wipe(plain_.data(), filled_);
  filled_ = 0;
  ++index_;
}

void EncryptingSink::write(std::string_view bytes) {
  if (finished_)
    throw Error(sqlstate::kInternalError, "write to an encrypted snapshot after its end");
  while (!bytes.empty()) {
    // A full chunk is sealed only when more bytes come: the last chunk,
    // full or not, must be sealed as final by finish().
    if (filled_ == chunk_) seal(false);
    size_t n = std::min(bytes.size(), static_cast<size_t>(chunk_) - filled_);
    std::memcpy(plain_.data() + filled_, bytes.data(), n);
    filled_ += n;
    bytes.remove_prefix(n);
  }
}

void EncryptingSink::finish() {
  if (finished_) return;
  finished_ = true;
  seal(true);
}

// --- DecryptingSource

DecryptingSource::DecryptingSource(Source& in, KeyLookup find_key)
    : in_(in), find_key_(std::move(find_key)) {
  context_ = new_cipher_context();
}

DecryptingSource::~DecryptingSource() {
  EVP_CIPHER_CTX_free(context_);
  wipe(file_key_.data(), file_key_.size());
  wipe(plain_.data(), plain_.size());
}

size_t DecryptingSource::read_fully(char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    size_t r = in_.read(buf + got, n - got);
    if (r == 0) break;
    got += r;
  }
  return got;
}

void DecryptingSource::read_header() {
  if (header_read_) return;
  header_.resize(kEncryptionHeaderSize);
  size_t got = read_fully(header_.data(), header_.size());
  if (!looks_encrypted(std::string_view(header_.data(), got)))
    throw corrupted("it does not start with the header of an encrypted snapshot");
  if (got < kEncryptionHeaderSize) throw corrupted("the encryption header is cut short");
  const auto* h = reinterpret_cast<const unsigned char*>(header_.data());
  if (h[6] != kVersion)
    throw corrupted("unknown encryption format version " + std::to_string(h[6]) +
                    " (this version of pg_tenant_backup reads version 1)");
  if (h[7] != kAlgorithmAes256Gcm)
    throw corrupted("unknown encryption algorithm " + std::to_string(h[7]));
  chunk_ = static_cast<uint32_t>(h[kChunkAt]) << 24 | static_cast<uint32_t>(h[kChunkAt + 1]) << 16 |
           static_cast<uint32_t>(h[kChunkAt + 2]) << 8 | h[kChunkAt + 3];
  if (chunk_ == 0 || chunk_ > kMaxEncryptionChunk)
    throw corrupted("the encryption header has a chunk size of " + std::to_string(chunk_) + " bytes");
  key_id_ = to_hex(h + kKeyIdAt, kKeyIdSize);
  header_read_ = true;
  std::optional<EncryptionKey> key = find_key_ ? find_key_(key_id_) : std::nullopt;
  if (!key)
    throw Error(sqlstate::kConfigFileError,
                "snapshot file is encrypted with key " + key_id_ + ", which is not configured",
                {}, "Add the key file that holds key " + key_id_ +
                        " to pg_tenant_backup.encryption_old_key_files (see docs/security.md).");
  // A lookup could return another key; its tags would all fail, but the
  // message would blame the file.
  if (key->id() != key_id_)
    throw Error(sqlstate::kInternalError, "key lookup returned key " + key->id() + " for " + key_id_);
  derive_file_key(*key, header_.substr(kSaltAt, kSaltSize), file_key_);
  sealed_.resize(static_cast<size_t>(chunk_) + kEncryptionTagSize);
  plain_.resize(chunk_);
}

const std::string& DecryptingSource::key_id() {
  read_header();
  return key_id_;
}

bool DecryptingSource::open_next_chunk() {
  if (ended_) return false;
  const size_t want = sealed_.size();
  size_t got = 0;
  if (have_lookahead_) {
    sealed_[0] = lookahead_;
    got = 1;
    have_lookahead_ = false;
  }
  got += read_fully(sealed_.data() + got, want - got);
  bool final = got < want;
  if (!final) final = read_fully(&lookahead_, 1) == 0;
  have_lookahead_ = !final;
  if (got < kEncryptionTagSize)
    throw corrupted(index_ == 0 ? "the encrypted data ends before its first chunk"
                                : "the encrypted data ends in the middle of chunk " +
                                      std::to_string(index_));
  const size_t length = got - kEncryptionTagSize;
  unsigned char nonce[kNonceSize];
  std::string aad;
  chunk_parameters(header_, index_, final, nonce, aad);
  auto* sealed = reinterpret_cast<unsigned char*>(sealed_.data());
  auto* plain = reinterpret_cast<unsigned char*>(plain_.data());
  int n = 0, tail = 0;
  bool ok =
      EVP_DecryptInit_ex(context_, EVP_aes_256_gcm(), nullptr, file_key_.data(), nonce) == 1 &&
      EVP_DecryptUpdate(context_, nullptr, &n, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) == 1 &&
      EVP_DecryptUpdate(context_, plain, &n, sealed, static_cast<int>(length)) == 1 &&
      EVP_CIPHER_CTX_ctrl(context_, EVP_CTRL_GCM_SET_TAG, kEncryptionTagSize, sealed + length) == 1;
  // Final fails when the tag does not match: the plaintext is dropped.
  if (ok) ok = EVP_DecryptFinal_ex(context_, plain + n, &tail) == 1;
  if (!ok) {
    wipe(plain_.data(), plain_.size());
    throw corrupted("chunk " + std::to_string(index_) +
                    " does not authenticate: the file was altered, cut short or extended");
  }
  plain_size_ = length;
  plain_pos_ = 0;
  ++index_;
  ended_ = final;
  return true;
}

size_t DecryptingSource::read(char* buf, size_t capacity) {
  read_header();
  size_t copied = 0;
  while (copied < capacity) {
    if (plain_pos_ == plain_size_ && !open_next_chunk()) break;
    size_t n = std::min(capacity - copied, plain_size_ - plain_pos_);
    std::memcpy(buf + copied, plain_.data() + plain_pos_, n);
    plain_pos_ += n;
    copied += n;
  }
  return copied;
}

}  // namespace ptb::core
