#include "trickle_source.hpp"
#include "core/encryption.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "core/compression.hpp"
#include "core/error.hpp"

using namespace ptb::core;
using ptb::core::test_support::TrickleSource;

namespace {

const char kHexA[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const char kHexB[] = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

EncryptionKey key_a() { return EncryptionKey::from_hex(kHexA); }
EncryptionKey key_b() { return EncryptionKey::from_hex(kHexB); }


std::string pseudo_random(size_t size, unsigned seed = 7) {
  std::mt19937 random(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(random());
  return out;
}

std::string encrypt(std::string_view plain, const EncryptionKey& key, uint32_t chunk = 64,
                    size_t write_step = 10) {
  StringSink out;
  EncryptingSink sink(out, key, {}, chunk);
  for (size_t pos = 0; pos < plain.size(); pos += write_step) sink.write(plain.substr(pos, write_step));
  sink.finish();
  return out.data();
}

DecryptingSource::KeyLookup keys(std::vector<EncryptionKey> known) {
  return [known](const std::string& id) -> std::optional<EncryptionKey> {
    for (const auto& k : known)
      if (k.id() == id) return k;
    return std::nullopt;
  };
}

std::string decrypt(std::string_view sealed, DecryptingSource::KeyLookup lookup,
                    size_t read_step = 1000, size_t source_step = 1 << 20) {
  TrickleSource in(sealed, source_step);
  DecryptingSource source(in, std::move(lookup));
  std::string out;
  std::string buffer(read_step, '\0');
  for (size_t n; (n = source.read(buffer.data(), buffer.size())) > 0;) out.append(buffer.data(), n);
  return out;
}

// The SQLSTATE of the error decrypting throws, "" when it does not throw.
std::string decrypt_error(std::string_view sealed, const EncryptionKey& key) {
  try {
    decrypt(sealed, keys({key}));
  } catch (const Error& e) {
    return e.sqlstate();
  }
  return "";
}

}  // namespace

TEST(EncryptionKey, ParsesHexWithSurroundingWhitespace) {
  EncryptionKey k = EncryptionKey::from_hex(std::string("  ") + kHexA + "\n");
  EXPECT_EQ(k.bytes()[0], 0x00);
  EXPECT_EQ(k.bytes()[31], 0x1f);
  EXPECT_EQ(EncryptionKey::from_hex("FFEEDDCCBBAA99887766554433221100FFEEDDCCBBAA99887766554433221100").id(),
            key_b().id());
}

TEST(EncryptionKey, IdIsTheStartOfItsSha256) {
  // sha256 of the bytes 00..1f starts 630dcd2966c4336691125448bbb25b4f
  EXPECT_EQ(key_a().id(), "630dcd2966c43366");
  EXPECT_NE(key_a().id(), key_b().id());
}

TEST(EncryptionKey, RefusesWrongLengthOrDigitsWithoutEchoingTheKey) {
  for (std::string bad : {std::string(""), std::string(kHexA).substr(0, 63), std::string(kHexA) + "0",
                          std::string(kHexA).substr(0, 32)}) {
    try {
      EncryptionKey::from_hex(bad);
      FAIL() << "accepted a key of " << bad.size() << " characters";
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22023");
      EXPECT_NE(std::string(e.what()).find(std::to_string(bad.size()) + " characters"), std::string::npos);
    }
  }
  std::string with_g = kHexA;
  with_g[10] = 'g';
  try {
    EncryptionKey::from_hex(with_g);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "22023");
    EXPECT_NE(std::string(e.what()).find("position 11"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find(kHexA + 12), std::string::npos);
  }
}

TEST(Encryption, RoundTripsEmptySmallExactAndMultiChunkInput) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{128},
                      size_t{1000}, size_t{64 * 17}}) {
    std::string plain = pseudo_random(size, static_cast<unsigned>(size));
    std::string sealed = encrypt(plain, key_a());
    // header, then ceil(size / 64) chunks (at least one) of data + tag
    size_t chunks = std::max<size_t>(1, (size + 63) / 64);
    EXPECT_EQ(sealed.size(), kEncryptionHeaderSize + size + chunks * kEncryptionTagSize) << size;
    EXPECT_TRUE(looks_encrypted(sealed));
    for (size_t read_step : {size_t{1}, size_t{7}, size_t{4096}})
      for (size_t source_step : {size_t{1}, size_t{5}, size_t{1} << 20})
        EXPECT_EQ(decrypt(sealed, keys({key_a()}), read_step, source_step), plain) << size;
  }
}

TEST(Encryption, DefaultChunkOfOneMebibyteRoundTrips) {
  std::string plain = pseudo_random((1 << 20) * 2 + 12345);
  StringSink out;
  EncryptingSink sink(out, key_a());
  sink.write(plain);
  sink.finish();
  EXPECT_EQ(out.data().size(), kEncryptionHeaderSize + plain.size() + 3 * kEncryptionTagSize);
  EXPECT_EQ(decrypt(out.data(), keys({key_a()})), plain);
}

TEST(Encryption, HidesThePlaintextAndUsesAFreshSaltPerFile) {
  std::string plain(1000, 'x');
  plain.replace(100, 12, "Secret Value");
  std::string one = encrypt(plain, key_a());
  std::string two = encrypt(plain, key_a());
  EXPECT_EQ(one.find("Secret Value"), std::string::npos);
  EXPECT_EQ(one.find("xxxx"), std::string::npos);
  EXPECT_NE(one.substr(kEncryptionHeaderSize), two.substr(kEncryptionHeaderSize));
  EXPECT_NE(one.substr(16, 32), two.substr(16, 32));  // salts
}

TEST(Encryption, HeaderNamesTheKeyAndTheSourceReportsIt) {
  std::string sealed = encrypt("hello", key_b());
  TrickleSource in(sealed, 100);
  DecryptingSource source(in, keys({key_a(), key_b()}));
  EXPECT_EQ(source.key_id(), key_b().id());
  char buf[16];
  EXPECT_EQ(source.read(buf, sizeof buf), 5u);
  EXPECT_EQ(std::string(buf, 5), "hello");
  EXPECT_EQ(source.read(buf, sizeof buf), 0u);
}

TEST(Encryption, WrongOrMissingKeyIsNamedNotBlamedOnTheFile) {
  std::string sealed = encrypt("hello", key_a());
  try {
    decrypt(sealed, keys({key_b()}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "F0000");
    EXPECT_NE(std::string(e.what()).find("encrypted with key " + key_a().id()), std::string::npos);
    EXPECT_NE(e.hint().find("encryption_old_key_files"), std::string::npos);
  }
  EXPECT_THROW(decrypt(sealed, nullptr), Error);
  // A lookup may raise its own error.
  try {
    decrypt(sealed, [](const std::string&) -> std::optional<EncryptionKey> {
      throw Error("58P01", "key file missing");
    });
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "58P01");
  }
}

TEST(Encryption, EveryAlteredByteIsDetected) {
  // Three chunks of 64 and one of 8: header, every chunk and every tag.
  std::string plain = pseudo_random(64 * 3 + 8);
  std::string sealed = encrypt(plain, key_a());
  const std::string key_id_bytes = sealed.substr(8, 8);
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    std::string state = decrypt_error(bad, key_a());
    if (i >= 8 && i < 16)
      // A changed key id names a key nobody has.
      EXPECT_EQ(state, "F0000") << "byte " << i;
    else
      EXPECT_EQ(state, "XX001") << "byte " << i;
  }
}

TEST(Encryption, SwappedKeyIdOfAnotherConfiguredKeyFailsAuthentication) {
  std::string sealed = encrypt(pseudo_random(100), key_a());
  std::string other = encrypt("", key_b());
  sealed.replace(8, 8, other.substr(8, 8));
  try {
    decrypt(sealed, keys({key_a(), key_b()}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "XX001");
    EXPECT_NE(std::string(e.what()).find("chunk 0 does not authenticate"), std::string::npos);
  }
}

TEST(Encryption, TruncationAtAnyPointIsDetected) {
  std::string plain = pseudo_random(64 * 3);  // exactly three full chunks
  std::string sealed = encrypt(plain, key_a());
  for (size_t length = 0; length < sealed.size(); ++length)
    EXPECT_EQ(decrypt_error(sealed.substr(0, length), key_a()), "XX001") << "cut at " << length;
}

TEST(Encryption, AppendedBytesOrChunksAreDetected) {
  std::string sealed = encrypt(pseudo_random(100), key_a());
  EXPECT_EQ(decrypt_error(sealed + "x", key_a()), "XX001");
  EXPECT_EQ(decrypt_error(sealed + std::string(80, '\0'), key_a()), "XX001");
  // A whole valid final chunk from another file with the same key and salt
  // position still fails: its index and final flag do not fit.
  std::string longer = encrypt(pseudo_random(200), key_a());
  EXPECT_EQ(decrypt_error(sealed + longer.substr(kEncryptionHeaderSize), key_a()), "XX001");
}

TEST(Encryption, ReorderedOrRepeatedChunksAreDetected) {
  std::string plain = pseudo_random(64 * 3);
  std::string sealed = encrypt(plain, key_a());
  const size_t c = 64 + kEncryptionTagSize;
  const std::string header = sealed.substr(0, kEncryptionHeaderSize);
  std::string c0 = sealed.substr(kEncryptionHeaderSize, c), c1 = sealed.substr(kEncryptionHeaderSize + c, c),
              c2 = sealed.substr(kEncryptionHeaderSize + 2 * c, c);
  EXPECT_EQ(decrypt(header + c0 + c1 + c2, keys({key_a()})), plain);
  EXPECT_EQ(decrypt_error(header + c1 + c0 + c2, key_a()), "XX001");
  EXPECT_EQ(decrypt_error(header + c0 + c0 + c2, key_a()), "XX001");
  // Dropping the middle chunk, or the last (a cut at a chunk boundary).
  EXPECT_EQ(decrypt_error(header + c0 + c2, key_a()), "XX001");
  EXPECT_EQ(decrypt_error(header + c0 + c1, key_a()), "XX001");
}

TEST(Encryption, NotAnEncryptedFileOrAHostileHeaderIsRefused) {
  EXPECT_EQ(decrypt_error("", key_a()), "XX001");
  EXPECT_EQ(decrypt_error("{\"format\": \"pg_tenant_backup\"}", key_a()), "XX001");
  std::string sealed = encrypt("abc", key_a());
  std::string huge_chunk = sealed;
  huge_chunk[kEncryptionHeaderSize - 4] = '\x7f';  // a chunk of ~2 GiB
  EXPECT_EQ(decrypt_error(huge_chunk, key_a()), "XX001");
  std::string zero_chunk = sealed;
  zero_chunk.replace(kEncryptionHeaderSize - 4, 4, std::string(4, '\0'));
  EXPECT_EQ(decrypt_error(zero_chunk, key_a()), "XX001");
  std::string version = sealed;
  version[6] = 2;
  try {
    decrypt(version, keys({key_a()}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown encryption format version 2"), std::string::npos);
  }
}

TEST(Encryption, ComposesWithCompression) {
  std::string plain;
  for (int i = 0; i < 20000; ++i) plain += "[" + std::to_string(i) + ",\"customer\"],";
  StringSink out;
  {
    EncryptingSink encrypted(out, key_a(), {}, 4096);
    CompressingSink compressed(encrypted, Compression::Zstd);
    compressed.write(plain);
    compressed.finish();
    encrypted.finish();
  }
  EXPECT_LT(out.data().size(), plain.size() / 4);
  EXPECT_EQ(detect_compression(out.data().substr(0, 4)), Compression::None);
  StringSource in(out.data());
  DecryptingSource decrypted(in, keys({key_a()}));
  DecompressingSource plain_source(decrypted, Compression::Zstd);
  std::string back;
  std::string buffer(1000, '\0');
  for (size_t n; (n = plain_source.read(buffer.data(), buffer.size())) > 0;) back.append(buffer.data(), n);
  EXPECT_EQ(back, plain);
}

TEST(Encryption, WriteAfterFinishThrows) {
  StringSink out;
  EncryptingSink sink(out, key_a());
  sink.finish();
  EXPECT_THROW(sink.write("x"), Error);
  EXPECT_THROW(EncryptingSink(out, key_a(), "short salt"), Error);
  EXPECT_THROW(EncryptingSink(out, key_a(), {}, 0), Error);
}
