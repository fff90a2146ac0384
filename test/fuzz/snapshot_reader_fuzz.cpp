// libFuzzer target: the snapshot reader must turn any input into a summary
// or a core::Error, never a crash, a hang or a sanitizer report. The input
// is also tried as a zstd stream.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/compression.hpp"
#include "core/error.hpp"
#include "core/snapshot_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    ptb::core::StringSource source(bytes);
    (void)ptb::core::read_snapshot_summary(source);
  } catch (const ptb::core::Error&) {
  }
  try {
    ptb::core::StringSource source(bytes);
    ptb::core::DecompressingSource plain(source, ptb::core::Compression::Zstd);
    (void)ptb::core::read_snapshot_summary(plain);
  } catch (const ptb::core::Error&) {
  }
  return 0;
}
