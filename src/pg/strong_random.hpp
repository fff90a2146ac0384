// Random bytes for an encrypted file's salt (its own AES key is derived
// from it), from the server's strong random source, which is reseeded in
// each backend after fork.
#pragma once

#include <cstddef>
#include <string>

namespace ptb::pg {

// `n` bytes; throws core::Error (XX000) naming `what` when the source fails.
std::string strong_random_bytes(size_t n, const std::string& what);

}  // namespace ptb::pg
