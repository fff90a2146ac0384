// libFuzzer target: the decrypting reader must turn any input into bytes
// or a core::Error (XX001 for a damaged file, F0000 for an unknown key id),
// never a crash, a hang or a sanitizer report; and any input encrypted with
// a fuzzed chunk size must decrypt back to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "core/encryption.hpp"
#include "core/error.hpp"

namespace {

const ptb::core::EncryptionKey& key() {
  static const ptb::core::EncryptionKey k = ptb::core::EncryptionKey::from_hex(
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  return k;
}

std::optional<ptb::core::EncryptionKey> lookup(const std::string& id) {
  if (id == key().id()) return key();
  return std::nullopt;
}

std::string read_all(ptb::core::Source& source) {
  std::string out;
  char buffer[777];
  for (size_t n; (n = source.read(buffer, sizeof buffer)) > 0;) out.append(buffer, n);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    ptb::core::StringSource in(bytes);
    ptb::core::DecryptingSource source(in, lookup);
    (void)read_all(source);
  } catch (const ptb::core::Error&) {
  }
  // Round trip: the first byte picks a chunk size of 1 to 256 bytes.
  if (!bytes.empty()) {
    const uint32_t chunk = static_cast<uint8_t>(bytes[0]) + 1u;
    ptb::core::StringSink sealed;
    ptb::core::EncryptingSink sink(sealed, key(), std::string(32, 's'), chunk);
    sink.write(bytes.substr(1));
    sink.finish();
    ptb::core::StringSource in(sealed.data());
    ptb::core::DecryptingSource source(in, lookup);
    if (read_all(source) != bytes.substr(1)) abort();
  }
  return 0;
}
