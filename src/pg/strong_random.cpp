#include "pg/strong_random.hpp"

#include "core/error.hpp"
#include "pg/server.hpp"

namespace ptb::pg {

std::string strong_random_bytes(size_t n, const std::string& what) {
  std::string bytes(n, '\0');
  if (!pg_strong_random(bytes.data(), bytes.size()))
    throw core::Error(core::sqlstate::kInternalError, "could not generate random bytes for " + what);
  return bytes;
}

}  // namespace ptb::pg
